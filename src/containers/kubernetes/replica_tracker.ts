// The pods of a cluster's model replicas as one frontend sees them through its watch, and the
// replica set each model version's batching worker dials. A pod gets a small replicaId when first
// seen (stable while the pod lives); a pod of a wanted model version that becomes ready is reported
// started at its podIP:port, and one that becomes unready, starts terminating or is deleted is
// reported stopped at once, so the worker stops sending to it and re-queues what it had in flight.

import type { V1Pod } from '@kubernetes/client-node';
import type { ContainerManagerEvents, ReplicaEndpoint, ReplicaInfo } from '../container_manager.js';
import { isPodReady, isTerminating, podHealth, podImage, podIp, podModel, podName, podPort, podRestarts, podSpecHash } from './pod_view.js';

interface TrackedPod {
  pod: V1Pod;
  replicaId: number;
  /** Where it was reported started (null: not reported, or reported stopped since). */
  started: ReplicaEndpoint | null;
}

interface ModelPods {
  model: string;
  version: string;
  /** A model version this frontend was asked to run (ensure): only its pods are reported. */
  wanted: boolean;
  pods: Map<string, TrackedPod>;
}

export class ReplicaTracker {
  readonly #events: ContainerManagerEvents;
  readonly #replicaPort: number;
  readonly #models = new Map<string, ModelPods>();
  /** Pod name → model key. */
  readonly #keyOfPod = new Map<string, string>();

  constructor(events: ContainerManagerEvents, replicaPort: number) {
    this.#events = events;
    this.#replicaPort = replicaPort;
  }

  /** This frontend runs the model version: its ready pods are reported started (those already known at once). */
  want(key: string, model: string, version: string): void {
    const entry = this.#entry(key, model, version);
    if (entry.wanted) return;
    entry.wanted = true;
    for (const tracked of entry.pods.values()) this.#sync(entry, tracked);
  }

  /** The model version was removed: its replicas leave at once. */
  unwant(key: string): void {
    const entry = this.#models.get(key);
    if (entry === undefined || !entry.wanted) return;
    entry.wanted = false;
    for (const tracked of entry.pods.values()) this.#stop(tracked, `model ${key} was removed`);
  }

  /** A pod appeared or changed; returns its model key (null for a pod of no model). */
  upsert(pod: V1Pod): string | null {
    const id = podModel(pod);
    const name = podName(pod);
    if (id === null || name === '') return null;
    const previousKey = this.#keyOfPod.get(name);
    // A pod never changes model; a name reused by another model's pod is a new pod.
    if (previousKey !== undefined && previousKey !== id.key) this.delete(pod);
    const entry = this.#entry(id.key, id.model, id.version);
    let tracked = entry.pods.get(name);
    if (tracked === undefined) {
      tracked = { pod, replicaId: freeId(entry), started: null };
      entry.pods.set(name, tracked);
      this.#keyOfPod.set(name, id.key);
    }
    tracked.pod = pod;
    if (entry.wanted) this.#sync(entry, tracked);
    return id.key;
  }

  /** A pod went away; returns its model key (null when it was not known). */
  delete(pod: V1Pod): string | null {
    const name = podName(pod);
    const key = this.#keyOfPod.get(name);
    if (key === undefined) return null;
    this.#keyOfPod.delete(name);
    const entry = this.#models.get(key)!;
    const tracked = entry.pods.get(name)!;
    entry.pods.delete(name);
    this.#stop(tracked, `pod ${name} was deleted`);
    return key;
  }

  /** The pods of a model version, as last seen. */
  podsOf(key: string): V1Pod[] {
    return [...(this.#models.get(key)?.pods.values() ?? [])].map((t) => t.pod);
  }

  /** Ready pods of a model version with this spec hash (every ready pod when `specHash` is undefined). */
  readyCount(key: string, specHash?: string): number {
    let count = 0;
    for (const { pod } of this.#models.get(key)?.pods.values() ?? []) {
      if (isPodReady(pod) && (specHash === undefined || podSpecHash(pod) === specHash)) count++;
    }
    return count;
  }

  /** Every pod of the wanted model versions (ContainerManager.list). */
  list(): ReplicaInfo[] {
    const out: ReplicaInfo[] = [];
    for (const entry of this.#models.values()) {
      if (!entry.wanted) continue;
      for (const { pod, replicaId } of entry.pods.values()) out.push(this.#infoOf(entry, pod, replicaId));
    }
    return out;
  }

  /** The replica ids of a model version's pods, by pod name. */
  replicaIdsOf(key: string): Map<string, number> {
    return new Map([...(this.#models.get(key)?.pods ?? [])].map(([name, t]) => [name, t.replicaId]));
  }

  #infoOf(entry: ModelPods, pod: V1Pod, replicaId: number): ReplicaInfo {
    const ready = isPodReady(pod);
    const restartCount = podRestarts(pod);
    return {
      model: entry.model,
      version: entry.version,
      replicaId,
      host: podIp(pod),
      port: podPort(pod, this.#replicaPort),
      state: isTerminating(pod) ? 'stopped' : ready ? 'running' : restartCount > 0 ? 'restarting' : 'starting',
      pid: null,
      restartCount,
      manager: 'kubernetes',
      containerId: podName(pod),
      image: podImage(pod),
      health: podHealth(pod),
    };
  }

  #entry(key: string, model: string, version: string): ModelPods {
    let entry = this.#models.get(key);
    if (entry === undefined) {
      entry = { model, version, wanted: false, pods: new Map() };
      this.#models.set(key, entry);
    }
    return entry;
  }

  /** Reports the pod's change of state: stopped when it left readiness or moved, started when it became ready. */
  #sync(entry: ModelPods, tracked: TrackedPod): void {
    const { pod } = tracked;
    const ready = isPodReady(pod);
    const endpoint: ReplicaEndpoint = {
      model: entry.model,
      version: entry.version,
      replicaId: tracked.replicaId,
      host: podIp(pod),
      port: podPort(pod, this.#replicaPort),
    };
    const moved = tracked.started !== null && (tracked.started.host !== endpoint.host || tracked.started.port !== endpoint.port);
    if (tracked.started !== null && (!ready || moved)) {
      const name = podName(pod);
      this.#stop(tracked, isTerminating(pod) ? `pod ${name} is terminating` : moved ? `pod ${name} moved` : `pod ${name} is not ready`);
    }
    if (ready && tracked.started === null) {
      tracked.started = endpoint;
      this.#events.onReplicaStarted(endpoint);
    }
  }

  #stop(tracked: TrackedPod, reason: string): void {
    const started = tracked.started;
    if (started === null) return;
    tracked.started = null;
    this.#events.onReplicaStopped(started, reason);
  }
}

/** The smallest replica id no pod of the model version holds. */
function freeId(entry: ModelPods): number {
  const used = new Set([...entry.pods.values()].map((t) => t.replicaId));
  let id = 0;
  while (used.has(id)) id++;
  return id;
}
