// The one container-manager interface. The local-process manager is the embedded default; the
// Docker manager (containers/docker/) and, later, a Kubernetes manager implement the same contract.
// A manager starts and supervises replicas; it never talks the container protocol (the batching
// worker that owns a model dials its replicas at the endpoint the manager reports).

import { backoffDelayMs } from '../lib/backoff.js';
import type { ModelRecord } from '../state/records.js';

export type ManagerKind = 'local' | 'docker';

export interface ReplicaEndpoint {
  model: string;
  version: string;
  replicaId: number;
  host: string;
  port: number;
}

export interface ReplicaInfo extends ReplicaEndpoint {
  state: 'starting' | 'running' | 'restarting' | 'stopped';
  pid: number | null;
  restartCount: number;
  manager: ManagerKind;
  /** Docker's container id (null for a local process). */
  containerId: string | null;
  /** The image a Docker replica runs (null for a local process). */
  image: string | null;
  /** The engine's health check verdict; 'none' where the replica has no health check. */
  health: 'starting' | 'healthy' | 'unhealthy' | 'none';
}

/** The recent output (stdout and stderr, interleaved) of one replica. */
export interface ReplicaLogs {
  model: string;
  version: string;
  replicaId: number;
  containerId: string | null;
  text: string;
}

export interface ContainerManagerEvents {
  /** A replica is listening and can be dialled. */
  onReplicaStarted(endpoint: ReplicaEndpoint): void;
  /** A replica went away (it will be restarted unless the model was removed). */
  onReplicaStopped(endpoint: ReplicaEndpoint, reason: string): void;
}

export interface ContainerManager {
  /**
   * Run `model.num_replicas` replicas of this model version (start or stop the difference). Resolves
   * once at least one replica is listening (or at once when zero are wanted); rejects with the
   * container's own error when a new deployment cannot start.
   */
  ensure(model: ModelRecord): Promise<void>;
  /** Stop every replica of this model version. */
  remove(name: string, version: string): Promise<void>;
  list(): ReplicaInfo[];
  /** The last `tailLines` lines of output of each replica of this model version. */
  logs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]>;
  /**
   * Called once after start-up has asked for every model the state holds (by `modelKey`): a manager
   * whose replicas outlive the server (Docker) removes those of models not in `wanted`.
   */
  reconcile(wanted: ReadonlySet<string>): Promise<void>;
  close(): Promise<void>;
}

/** Text of a replica's output kept in memory by managers that cannot ask an engine for it. */
export class OutputTail {
  #text = '';
  constructor(private readonly bytesMax: number) {}
  push(chunk: string): void {
    this.#text += chunk;
    if (this.#text.length > 2 * this.bytesMax) this.#text = this.#text.slice(-this.bytesMax);
  }
  lines(count: number): string {
    const text = this.#text.length > this.bytesMax ? this.#text.slice(-this.bytesMax) : this.#text;
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-count).join('\n');
  }
  clear(): void {
    this.#text = '';
  }
}

/**
 * Count a replica's restart and return the delay before it: capped exponential backoff over its
 * restarts, from the shortest delay again for a replica that stayed up for ten longest delays.
 */
export function beginRestart(info: ReplicaInfo, upMs: number, delayMsMin: number, delayMsMax: number): number {
  if (upMs > 10 * delayMsMax) info.restartCount = 0;
  const delayMs = backoffDelayMs(info.restartCount, delayMsMin, delayMsMax);
  info.restartCount++;
  info.state = 'restarting';
  return delayMs;
}

/** A replica's info as it starts: no port, container or restart yet. */
export function newReplicaInfo(model: ModelRecord, replicaId: number, manager: ManagerKind): ReplicaInfo {
  return {
    model: model.model_name,
    version: model.model_version,
    replicaId,
    host: '127.0.0.1',
    port: 0,
    state: 'starting',
    pid: null,
    restartCount: 0,
    manager,
    containerId: null,
    image: null,
    health: 'none',
  };
}

/** Where a replica can be dialled. */
export function endpointOf(info: ReplicaInfo): ReplicaEndpoint {
  const { model, version, replicaId, host, port } = info;
  return { model, version, replicaId, host, port };
}

/** The replicas a manager still wants, as copies: `list()` of a manager keeping a map of models → replicas. */
export function wantedReplicas(models: Iterable<{ replicas: Map<number, { info: ReplicaInfo; wanted: boolean }> }>): ReplicaInfo[] {
  const out: ReplicaInfo[] = [];
  for (const entry of models) {
    for (const replica of entry.replicas.values()) if (replica.wanted) out.push({ ...replica.info });
  }
  return out;
}

/**
 * The port announced by a runner's ready line (`{"clipper_ready":true,"port":N}`, containers/PROTOCOL.md),
 * or null for any other line: the one reader of that line for every manager.
 */
export function readyPort(line: string): number | null {
  if (!line.startsWith('{')) return null;
  let msg: { clipper_ready?: boolean; port?: number };
  try {
    msg = JSON.parse(line) as typeof msg;
  } catch {
    return null;
  }
  return msg.clipper_ready === true && typeof msg.port === 'number' ? msg.port : null;
}

/** Whether some line of a replica's output (a log text) is its ready line. */
export function hasReadyLine(text: string): boolean {
  return text.split('\n').some((line) => readyPort(line.trim()) !== null);
}
