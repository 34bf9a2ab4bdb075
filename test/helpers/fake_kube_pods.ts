// The objects the fake kubelet writes, built from the recorded shapes in test/fixtures/kubernetes/:
// a Pod of a ReplicaSet (Pending, Running and Ready or not, waiting with a reason such as ErrImagePull,
// ImagePullBackOff, CreateContainerConfigError or CrashLoopBackOff), its Events, the ReplicaSet, and
// a Deployment's status as the Deployment controller computes it.

import { createHash, randomBytes } from 'node:crypto';
import { clone } from './fake_kube_patch.js';
import { fixture, randomSuffix, timestamp, type Json } from './fake_kube_shapes.js';

export const kNodeName = 'fake-node';
export const kHostIp = '127.0.0.1';

/** The pod-template-hash of a Deployment's template (10 characters of the API server's name alphabet). */
export function templateHash(template: Json): string {
  // Keys sorted: a template read back from the server (other key order) is the same template.
  const digest = createHash('sha256')
    .update(JSON.stringify(sortKeys(template)))
    .digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let out = '';
  for (let i = 0; i < 10; i++) out += alphabet[digest[i]! % alphabet.length];
  return out;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(obj)
      .sort()
      .map((k) => [k, sortKeys(obj[k])]),
  );
}

function ownerRef(kind: string, apiVersion: string, owner: Json): Json {
  return { apiVersion, kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true };
}

/** The ReplicaSet of a Deployment's template with this hash (owned by the Deployment). */
export function replicaSetFor(dep: Json, hash: string, replicas: number, revision: number): Json {
  const template = clone(dep.spec.template);
  template.metadata.labels = { ...template.metadata.labels, 'pod-template-hash': hash };
  return {
    metadata: {
      name: `${dep.metadata.name}-${hash}`,
      namespace: dep.metadata.namespace,
      labels: template.metadata.labels,
      annotations: {
        'deployment.kubernetes.io/desired-replicas': String(dep.spec.replicas),
        'deployment.kubernetes.io/revision': String(revision),
      },
      ownerReferences: [ownerRef('Deployment', 'apps/v1', dep)],
    },
    spec: { replicas, selector: { matchLabels: { ...dep.spec.selector.matchLabels, 'pod-template-hash': hash } }, template },
  };
}

/** A new Pod of a ReplicaSet, bound to the fake node, containers being created (from pod_pending.json). */
export function newPod(rs: Json): Json {
  const pod = fixture('pod_pending');
  const spec = clone(rs.spec.template.spec);
  pod.metadata = {
    name: `${rs.metadata.name}-${randomSuffix()}`,
    generateName: `${rs.metadata.name}-`,
    namespace: rs.metadata.namespace,
    labels: rs.spec.template.metadata.labels,
    ...(rs.spec.template.metadata.annotations ? { annotations: rs.spec.template.metadata.annotations } : {}),
    ownerReferences: [ownerRef('ReplicaSet', 'apps/v1', rs)],
  };
  pod.spec = { ...spec, nodeName: kNodeName, tolerations: pod.spec.tolerations };
  pod.status = pendingStatus(pod);
  return pod;
}

function containerNames(pod: Json): string {
  return `[${pod.spec.containers.map((c: Json) => c.name).join(' ')}]`;
}

function setConditions(status: Json, ready: boolean, started: boolean, pod: Json): void {
  const now = timestamp();
  for (const c of status.conditions) {
    c.lastTransitionTime = now;
    if (c.type === 'PodReadyToStartContainers') c.status = started ? 'True' : 'False';
    if (c.type === 'Ready' || c.type === 'ContainersReady') {
      c.status = ready ? 'True' : 'False';
      if (ready) {
        delete c.reason;
        delete c.message;
      } else {
        c.reason = 'ContainersNotReady';
        c.message = `containers with unready status: ${containerNames(pod)}`;
      }
    }
  }
}

/** Scheduled, containers being created, no IP yet. */
export function pendingStatus(pod: Json): Json {
  const status = fixture('pod_pending').status;
  setConditions(status, false, false, pod);
  status.hostIP = kHostIp;
  status.hostIPs = [{ ip: kHostIp }];
  status.startTime = timestamp();
  const template = status.containerStatuses[0];
  status.containerStatuses = pod.spec.containers.map((c: Json) => ({ ...clone(template), name: c.name, image: c.image }));
  return status;
}

export interface ContainerRun {
  ip: string;
  restarts: number;
  startedAt: string;
  /** The last exit, shown as lastState.terminated. */
  lastExit: { exitCode: number; reason: string; startedAt: string; finishedAt: string } | null;
}

function lastState(run: ContainerRun): Json {
  return run.lastExit === null ? {} : { terminated: { ...run.lastExit, containerID: `containerd://${randomBytes(32).toString('hex')}` } };
}

/** The node and pod addresses and the start time a kubelet reports for a pod it runs. */
function placeOnNode(status: Json, pod: Json, run: ContainerRun): void {
  status.hostIP = kHostIp;
  status.hostIPs = [{ ip: kHostIp }];
  status.podIP = run.ip;
  status.podIPs = [{ ip: run.ip }];
  status.startTime = pod.status?.startTime ?? timestamp();
}

/** Running (from pod_running.json); Ready when the runner listens and the readiness probe passes. */
export function runningStatus(pod: Json, run: ContainerRun, ready: boolean): Json {
  const status = fixture('pod_running').status;
  setConditions(status, ready, true, pod);
  placeOnNode(status, pod, run);
  const template = status.containerStatuses[0];
  status.containerStatuses = pod.spec.containers.map((c: Json) => ({
    ...clone(template),
    name: c.name,
    image: c.image,
    state: { running: { startedAt: run.startedAt } },
    lastState: lastState(run),
    ready,
    restartCount: run.restarts,
    imageID: `${c.image}@sha256:${createHash('sha256').update(c.image).digest('hex')}`,
  }));
  return status;
}

/** A container that cannot run (from pod_image_pull_backoff.json): Pending, or Running after a crash (CrashLoopBackOff). */
export function waitingStatus(pod: Json, run: ContainerRun, reason: string, message: string): Json {
  const status = fixture('pod_image_pull_backoff').status;
  setConditions(status, false, true, pod);
  if (run.lastExit !== null) status.phase = 'Running';
  placeOnNode(status, pod, run);
  const template = status.containerStatuses[0];
  status.containerStatuses = pod.spec.containers.map((c: Json) => ({
    ...clone(template),
    name: c.name,
    image: c.image,
    state: { waiting: { reason, message } },
    lastState: lastState(run),
    restartCount: run.restarts,
  }));
  return status;
}

/** An Event about a pod's container, from event_failed_pull.json. */
export function podEvent(pod: Json, type: 'Normal' | 'Warning', reason: string, message: string, component = 'kubelet'): Json {
  const event = fixture('event_failed_pull');
  const now = timestamp();
  event.metadata = { name: `${pod.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: pod.metadata.namespace };
  event.involvedObject = {
    kind: 'Pod',
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    apiVersion: 'v1',
    resourceVersion: pod.metadata.resourceVersion,
    ...(component === 'kubelet' ? { fieldPath: `spec.containers{${pod.spec.containers[0].name}}` } : {}),
  };
  Object.assign(event, { reason, message, type, count: 1, firstTimestamp: now, lastTimestamp: now });
  event.source = component === 'kubelet' ? { component, host: kNodeName } : { component };
  event.reportingComponent = component;
  event.reportingInstance = component === 'kubelet' ? kNodeName : '';
  return event;
}

export interface PodCounts {
  replicas: number;
  updated: number;
  ready: number;
}

/** A Deployment's status as the controller writes it (zero counts omitted, conditions from deployment.json). */
export function deploymentStatus(dep: Json, counts: PodCounts, rsName: string): Json {
  const recorded = fixture('deployment').status;
  const previous: Json[] = dep.status?.conditions ?? [];
  const desired: number = dep.spec.replicas ?? 1;
  const maxUnavailable = Math.floor(desired * 0.25);
  const available = counts.ready >= desired - maxUnavailable;
  const done = counts.updated === desired && counts.ready >= desired && counts.replicas === desired;
  const [availableTemplate, progressingTemplate] = recorded.conditions;
  const conditions = [
    available
      ? { ...availableTemplate }
      : {
          ...availableTemplate,
          status: 'False',
          reason: 'MinimumReplicasUnavailable',
          message: 'Deployment does not have minimum availability.',
        },
    done
      ? { ...progressingTemplate, message: `ReplicaSet "${rsName}" has successfully progressed.` }
      : { ...progressingTemplate, reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.` },
  ];
  for (const c of conditions) {
    const before = previous.find((p) => p.type === c.type);
    const same = before !== undefined && before.status === c.status && before.reason === c.reason && before.message === c.message;
    c.lastUpdateTime = same ? before.lastUpdateTime : timestamp();
    c.lastTransitionTime = before !== undefined && before.status === c.status ? before.lastTransitionTime : timestamp();
  }
  const status: Json = { observedGeneration: dep.metadata.generation };
  if (counts.replicas > 0) status.replicas = counts.replicas;
  if (counts.updated > 0) status.updatedReplicas = counts.updated;
  if (counts.ready > 0) status.readyReplicas = counts.ready;
  if (counts.ready > 0) status.availableReplicas = counts.ready;
  if (desired - counts.ready > 0) status.unavailableReplicas = desired - counts.ready;
  status.conditions = conditions;
  return status;
}
