// The cluster's deployments, kept in step with the state store. Every configuration change reaches
// apply() from the store (whichever frontend made it), and apply() is the only place that starts or
// stops replicas and places model actors on batching threads. It also follows which replicas the
// batching workers hold a ready connection to: a deploy is done only once a query can be served.

import assert from 'node:assert/strict';
import type { ModelActorSpec, Placement } from '../batching/protocol.js';
import type { SchedulerOptions } from '../batching/scheduler_options.js';
import type { ReplicaEndpoint, ReplicaInfo, ReplicaLogs } from '../containers/container_manager.js';
import { ClipperError } from '../errors.js';
import { applyChange } from '../state/apply_change.js';
import { emptySnapshot, modelKey, type ModelRecord, type StateSnapshot } from '../state/records.js';
import type { StateChange } from '../state/state_store.js';
import type { ReplicaStatus } from '../admin/admin_context.js';

/** Where model actors live (the batching pool). */
export interface ActorPool {
  addModel(spec: Omit<ModelActorSpec, 'modelIndex'>): Placement;
  removeModel(placement: Placement): void;
  addReplica(placement: Placement, replicaId: number, host: string, port: number): void;
  removeReplica(placement: Placement, replicaId: number): void;
  /**
   * A deployed model's batch size changed (-1 adaptive, else a fixed maximum): its scheduler takes it
   * without restarting replicas.
   */
  setBatchSize(placement: Placement, batchSize: number): void;
}

/** Where replicas run (the container managers). */
export interface ReplicaManager {
  ensure(model: ModelRecord): Promise<void>;
  remove(name: string, version: string): Promise<void>;
  list(): ReplicaInfo[];
  logs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]>;
}

/** The prediction cache's per-model switch. */
export interface ModelCache {
  setEnabled(placement: Placement, enabled: boolean): void;
  forgetModel(placement: Placement): void;
}

export interface DeploymentsOptions {
  pool: ActorPool;
  manager: ReplicaManager;
  cache: ModelCache;
  /** Scheduler options of every model actor (from the cluster's config); batchSize comes from the model. */
  scheduler: Omit<Partial<SchedulerOptions>, 'batchSize'>;
  /** The prediction cache is on (a model may still opt out). */
  cacheOn: boolean;
  /** How long a deploy waits for a batching worker's first ready connection to a replica. */
  connectTimeoutMs: number;
  /** An app was deleted: its counters and selection state go. */
  onAppDeleted(name: string): void;
  /** After every change, with the placements of the deployed model versions (routes are rebuilt). */
  onChanged(snapshot: StateSnapshot, placements: ReadonlyMap<string, Placement>): void;
}

const kDefaultConnectTimeoutMs = 10_000;

export class Deployments {
  readonly #o: DeploymentsOptions;
  #snapshot: StateSnapshot = emptySnapshot();
  /** By modelKey. */
  readonly #placements = new Map<string, Placement>();
  readonly #keyOfModelIndex = new Map<number, string>();
  /** The batch size each placed actor was given (by modelKey), to see a change. */
  readonly #batchSizes = new Map<string, number>();
  readonly #deploys = new Map<string, Promise<void>>();
  /** `<modelKey>#<replicaId>` → whether its batching worker holds a ready connection. */
  readonly #connected = new Map<string, boolean>();
  /** `<modelKey>#<replicaId>` → why its connection went down (e.g. authentication failed), while not connected. */
  readonly #downReasons = new Map<string, string>();
  /** Deploys waiting for the owning worker's first ready connection to a replica, by modelKey. */
  readonly #connectWaiters = new Map<string, Array<() => void>>();
  readonly #connectTimers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(options: Omit<DeploymentsOptions, 'connectTimeoutMs'> & { connectTimeoutMs?: number }) {
    this.#o = { ...options, connectTimeoutMs: options.connectTimeoutMs ?? kDefaultConnectTimeoutMs };
  }

  snapshot(): StateSnapshot {
    return this.#snapshot;
  }

  /** The model versions the configuration holds (modelKey). */
  wantedModels(): Set<string> {
    return new Set(this.#snapshot.models.keys());
  }

  /** Applies one change from the store: the snapshot first, then replicas and placements follow it. */
  apply(change: StateChange): void {
    if (this.#closed) return;
    const before = this.#snapshot;
    this.#snapshot = applyChange(before, change);
    switch (change.kind) {
      case 'app_deleted':
        this.#o.onAppDeleted(change.name);
        break;
      case 'model_put':
        this.#deploy(change.model);
        break;
      case 'model_deleted':
        this.#undeploy(change.name, change.version);
        break;
      case 'resync':
        for (const [key, m] of before.models) {
          if (!this.#snapshot.models.has(key)) this.#undeploy(m.model_name, m.model_version);
        }
        for (const model of this.#snapshot.models.values()) this.#deploy(model);
        break;
      default:
        break;
    }
    this.#o.onChanged(this.#snapshot, this.#placements);
  }

  /** Settles when the latest deploy of this version is done (AdminContext.waitForDeploy). */
  waitForDeploy(name: string, version: string): Promise<void> {
    const deploy = this.#deploys.get(modelKey(name, version));
    if (deploy === undefined) {
      return Promise.reject(new ClipperError('CLP_ERR_NOT_FOUND', `model ${name}:${version} is not registered`));
    }
    return deploy;
  }

  replicas(): ReplicaStatus[] {
    return this.#o.manager.list().map((r) => ({
      ...r,
      connected: this.#connected.get(`${modelKey(r.model, r.version)}#${r.replicaId}`) === true,
      ...this.#downReasonOf(`${modelKey(r.model, r.version)}#${r.replicaId}`),
    }));
  }

  #downReasonOf(id: string): { connectionError?: string } {
    const reason = this.#connected.get(id) === true ? undefined : this.#downReasons.get(id);
    return reason === undefined ? {} : { connectionError: reason };
  }

  replicaLogs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]> {
    return this.#o.manager.logs(name, version, tailLines);
  }

  /** A container manager started a replica: its model's actor connects to it. */
  onReplicaStarted(ep: ReplicaEndpoint): void {
    const placement = this.#placements.get(modelKey(ep.model, ep.version));
    if (placement !== undefined) this.#o.pool.addReplica(placement, ep.replicaId, ep.host, ep.port);
  }

  onReplicaStopped(ep: ReplicaEndpoint): void {
    const key = modelKey(ep.model, ep.version);
    this.#connected.delete(`${key}#${ep.replicaId}`);
    this.#downReasons.delete(`${key}#${ep.replicaId}`);
    const placement = this.#placements.get(key);
    if (placement !== undefined) this.#o.pool.removeReplica(placement, ep.replicaId);
  }

  /** A batching worker's connection to a replica became ready or was lost. */
  onReplicaState(placement: Placement, replicaId: number, connected: boolean, reason = ''): void {
    const key = this.#keyOfModelIndex.get(placement.modelIndex);
    if (key === undefined) return; // undeployed meanwhile
    this.#connected.set(`${key}#${replicaId}`, connected);
    const id = `${key}#${replicaId}`;
    // A new reason is logged once (a refused replica is dialled again with backoff, and refused again).
    if (!connected && reason !== '' && this.#downReasons.get(id) !== reason) {
      process.stderr.write(`clipper: replica ${key} #${replicaId} not connected: ${reason}\n`);
    }
    if (connected) this.#downReasons.delete(id);
    else if (reason !== '') this.#downReasons.set(id, reason);
    const waiters = connected ? this.#connectWaiters.get(key) : undefined;
    if (waiters === undefined) return;
    this.#connectWaiters.delete(key);
    for (const resolve of waiters) resolve();
  }

  /** Stops following the store; deploys still waiting for a connection never settle. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#connectTimers) clearTimeout(timer);
    this.#connectTimers.clear();
  }

  #deploy(model: ModelRecord): void {
    const key = modelKey(model.model_name, model.model_version);
    let placement = this.#placements.get(key);
    const batchSize = model.batch_size > 0 ? model.batch_size : -1;
    if (placement === undefined) {
      placement = this.#o.pool.addModel({
        name: model.model_name,
        version: model.model_version,
        inputType: model.input_type,
        scheduler: { ...this.#o.scheduler, batchSize },
      });
      assert(!this.#keyOfModelIndex.has(placement.modelIndex), `model index ${placement.modelIndex} placed twice`);
      this.#placements.set(key, placement);
      this.#keyOfModelIndex.set(placement.modelIndex, key);
    } else if (this.#batchSizes.get(key) !== batchSize) {
      this.#o.pool.setBatchSize(placement, batchSize);
    }
    this.#batchSizes.set(key, batchSize);
    this.#o.cache.setEnabled(placement, this.#o.cacheOn && model.cache_enabled !== false);
    // Zero replicas still goes to the manager: it stops those that run (scaled down to 0). A deploy
    // is done when a batching worker has a ready connection to a replica, so the first query after
    // a deploy is served rather than given the default.
    const manager = this.#o.manager;
    const deploy =
      model.container === null
        ? Promise.resolve()
        : model.num_replicas === 0
          ? manager.ensure(model)
          : manager.ensure(model).then(() => this.#waitConnected(key));
    deploy.catch(() => {
      /* reported to whoever awaits waitForDeploy */
    });
    this.#deploys.set(key, deploy);
  }

  #undeploy(name: string, version: string): void {
    const key = modelKey(name, version);
    const placement = this.#placements.get(key);
    this.#placements.delete(key);
    this.#batchSizes.delete(key);
    this.#deploys.delete(key);
    void this.#o.manager.remove(name, version);
    if (placement !== undefined) {
      this.#keyOfModelIndex.delete(placement.modelIndex);
      this.#o.cache.forgetModel(placement);
      this.#o.pool.removeModel(placement);
    }
  }

  #waitConnected(key: string): Promise<void> {
    for (const [k, connected] of this.#connected) {
      if (connected && k.startsWith(`${key}#`)) return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#connectTimers.delete(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#connectTimers.delete(timer);
        this.#dropWaiter(key, done);
        reject(
          new ClipperError(
            'CLP_ERR_DEPLOY_FAILED',
            `model ${key} started, but the batching worker could not ` +
              `complete a handshake with any replica within ${this.#o.connectTimeoutMs / 1000} s`,
          ),
        );
      }, this.#o.connectTimeoutMs);
      this.#connectTimers.add(timer);
      const list = this.#connectWaiters.get(key) ?? [];
      list.push(done);
      this.#connectWaiters.set(key, list);
    });
  }

  #dropWaiter(key: string, waiter: () => void): void {
    const list = this.#connectWaiters.get(key);
    if (list === undefined) return;
    const i = list.indexOf(waiter);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#connectWaiters.delete(key);
  }
}
