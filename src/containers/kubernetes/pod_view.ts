// What the manager reads from a Pod of a model replica (pure): which model version it runs, whether
// a frontend may dial it (ready, with an IP, not terminating), its restarts and health, and, when a
// deploy fails, the pod's own reason in words from its status and its Warning events.

import type { CoreV1Event, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { modelKey } from '../../state/records.js';
import { kContainerName } from './deployment_spec.js';
import { kAnnotationModelName, kAnnotationModelVersion, kLabelModel, kLabelSpec, kLabelVersion } from './labels.js';

/** The model version a pod runs: the exact names from its annotations, else its labels; null for neither. */
export function podModel(pod: V1Pod): { model: string; version: string; key: string } | null {
  const annotations = pod.metadata?.annotations ?? {};
  const labels = pod.metadata?.labels ?? {};
  const model = annotations[kAnnotationModelName] ?? labels[kLabelModel];
  const version = annotations[kAnnotationModelVersion] ?? labels[kLabelVersion];
  if (model === undefined || version === undefined) return null;
  return { model, version, key: modelKey(model, version) };
}

export function podName(pod: V1Pod): string {
  return pod.metadata?.name ?? '';
}

export function isTerminating(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
}

/** A pod a frontend may dial: condition Ready=True, an IP, and not being deleted. */
export function isPodReady(pod: V1Pod): boolean {
  if (isTerminating(pod) || !pod.status?.podIP) return false;
  return (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The pod's IP ('' while it has none). */
export function podIp(pod: V1Pod): string {
  return pod.status?.podIP ?? '';
}

/** The port of the replica container (its first declared port), else `fallback`. */
export function podPort(pod: V1Pod, fallback: number): number {
  const containers = pod.spec?.containers ?? [];
  const container = containers.find((c) => c.name === kContainerName) ?? containers[0];
  return container?.ports?.[0]?.containerPort ?? fallback;
}

export function podSpecHash(pod: V1Pod): string | undefined {
  return pod.metadata?.labels?.[kLabelSpec];
}

export function podImage(pod: V1Pod): string | null {
  const containers = pod.spec?.containers ?? [];
  return (containers.find((c) => c.name === kContainerName) ?? containers[0])?.image ?? null;
}

/** Restarts of the pod's containers, together. */
export function podRestarts(pod: V1Pod): number {
  return (pod.status?.containerStatuses ?? []).reduce((sum, s) => sum + (s.restartCount ?? 0), 0);
}

/** Ready: healthy; running but failing its readiness probe: unhealthy; anything before: starting. */
export function podHealth(pod: V1Pod): 'starting' | 'healthy' | 'unhealthy' {
  if (isPodReady(pod)) return 'healthy';
  const running = (pod.status?.containerStatuses ?? []).some((s) => s.state?.running !== undefined && s.state.running !== null);
  return running || pod.status?.phase === 'Failed' ? 'unhealthy' : 'starting';
}

function containerReasons(s: V1ContainerStatus): string[] {
  const out: string[] = [];
  const waiting = s.state?.waiting;
  if (waiting?.reason !== undefined) out.push(waiting.message ? `${waiting.reason}: ${waiting.message}` : waiting.reason);
  const terminated = s.state?.terminated;
  if (terminated !== undefined && terminated !== null) {
    out.push(
      `terminated: ${terminated.reason ?? 'exited'} (exit code ${terminated.exitCode})${terminated.message ? `: ${terminated.message}` : ''}`,
    );
  }
  const last = s.lastState?.terminated;
  if (last !== undefined && last !== null) {
    out.push(`last termination: ${last.reason ?? 'exited'} (exit code ${last.exitCode})${last.message ? `: ${last.message}` : ''}`);
  }
  if (out.length === 0 && s.state?.running !== undefined && s.state.running !== null && !s.ready) {
    out.push('running but not ready (its readiness probe fails: nothing listens on the replica port)');
  }
  return out;
}

function eventTimeMs(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t === undefined ? 0 : new Date(t as unknown as string | Date).getTime();
}

const kEventsShown = 3;

/**
 * The pod's own reason for not being ready, in words: its containers' waiting/terminated states
 * (e.g. `ErrImagePull: ...`, `CrashLoopBackOff: ...` with the last termination), an Unschedulable
 * condition's message, then the newest Warning events about it that say something new.
 */
export function podFailureReason(pod: V1Pod, events: readonly CoreV1Event[]): string {
  const parts: string[] = [];
  if (isTerminating(pod)) parts.push('terminating');
  for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    parts.push(...containerReasons(s));
  }
  for (const c of pod.status?.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.status === 'False') parts.push(`${c.reason ?? 'Unschedulable'}: ${c.message ?? 'not scheduled'}`);
  }
  const name = podName(pod);
  const warnings = events
    .filter((e) => e.type === 'Warning' && (e.involvedObject?.name === undefined || e.involvedObject.name === name))
    .sort((a, b) => eventTimeMs(b) - eventTimeMs(a));
  let shown = 0;
  for (const e of warnings) {
    if (shown === kEventsShown) break;
    const message = e.message ?? '';
    if (message === '' || parts.some((p) => p.includes(message))) continue;
    parts.push(`event ${e.reason ?? 'Warning'}: ${message}`);
    shown++;
  }
  if (parts.length === 0) parts.push(`phase ${pod.status?.phase ?? 'unknown'}`);
  return parts.join('; ');
}
