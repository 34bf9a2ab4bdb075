// The one container-manager interface. The local-process manager is the embedded default; the
// Docker manager (containers/docker/) and the Kubernetes manager (containers/kubernetes/) implement the same contract.
// A manager starts and supervises replicas; it never talks the container protocol (the batching
// worker that owns a model dials its replicas at the endpoint the manager reports).

import { backoffDelayMs } from '../lib/backoff.js';
import type { ModelRecord } from '../state/records.js';

export type ManagerKind = 'local' | 'docker' | 'kubernetes';

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
  /** Restarts since the replica first started. */
  restartCount: number;
  /** Restarts since it last stayed up long enough to count as healthy: the backoff's attempt (beginRestart). */
  restartStreak?: number;
  manager: ManagerKind;
  /** Docker's container id, or the Kubernetes pod's name (null for a local process). */
  containerId: string | null;
  /** The image a Docker or Kubernetes replica runs (null for a local process). */
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
 * The delay before restart number `attempt` (0-based) of a replica: the first is immediate (a replica
 * killed under load must be back within a second, docs/reliability.md), then capped exponential backoff
 * from `delayMsMin`, so a replica that keeps crashing is not restarted in a tight loop.
 */
export function restartDelayMs(attempt: number, delayMsMin: number, delayMsMax: number): number {
  return attempt === 0 ? 0 : backoffDelayMs(attempt - 1, delayMsMin, delayMsMax);
}

/**
 * Count a replica's restart and return the delay before it. The backoff starts over for a replica
 * that stayed up ten times as long as the delay before its last restart (and at least 1 s): one that
 * was killed after serving for a while is not a crash loop, and restarts at once however often it dies.
 */
export function beginRestart(info: ReplicaInfo, upMs: number, delayMsMin: number, delayMsMax: number): number {
  const streak = info.restartStreak ?? 0;
  const lastDelayMs = streak === 0 ? 0 : restartDelayMs(streak - 1, delayMsMin, delayMsMax);
  const attempt = upMs >= Math.max(10 * lastDelayMs, 10 * delayMsMin, 1000) ? 0 : streak;
  info.restartStreak = attempt + 1;
  info.restartCount++;
  info.state = 'restarting';
  return restartDelayMs(attempt, delayMsMin, delayMsMax);
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
