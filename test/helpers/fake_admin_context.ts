// A FakeAdminContext over a real StateStore: its snapshot follows the store's change stream (the
// same path the cluster uses), deploys resolve or reject as a test decides, and replicas are derived
// from the model records. Plus ControlledStore, a store whose availability a test can switch.

import type { AdminContext, ReplicaStatus } from '../../src/admin/admin_context.js';
import type { ReplicaLogs } from '../../src/containers/container_manager.js';
import { applyChange } from '../../src/state/apply_change.js';
import { testModelDirs } from './cluster.js';
import { MemoryStateStore } from '../../src/state/memory_store.js';
import { emptySnapshot, modelKey, type AppRecord, type ModelRecord, type StateSnapshot } from '../../src/state/records.js';
import type { StateChange, StateListener, StateStore } from '../../src/state/state_store.js';

export type DeployDecision = (name: string, version: string, model: ModelRecord | undefined) => Promise<void>;

export interface DeployCall {
  name: string;
  version: string;
  numReplicas: number | undefined;
}

export class FakeAdminContext implements AdminContext {
  readonly store: StateStore;
  readonly defaults: { numReplicas: number; containers: 'local' | 'docker' };
  /** Every waitForDeploy call, in order, with the replica count the record asked for then. */
  readonly deployCalls: DeployCall[] = [];
  /** Decides the outcome of each waitForDeploy (default: replicas start). */
  deploy: DeployDecision = async () => {};
  /** Where container specs' files may lie (AdminContext.modelDirs): the defaults, the fixtures, temp dirs. */
  modelDirs: readonly string[] = testModelDirs();
  /** Replica id → `connected` override; the default is connected. */
  readonly disconnected = new Set<string>();
  #snapshot: StateSnapshot = emptySnapshot();
  #unsubscribe: () => void = () => {};

  private constructor(store: StateStore, numReplicas: number, containers: 'local' | 'docker') {
    this.store = store;
    this.defaults = { numReplicas, containers };
  }

  static async create(
    store: StateStore = new MemoryStateStore(),
    opts: { numReplicas?: number; containers?: 'local' | 'docker' } = {},
  ): Promise<FakeAdminContext> {
    const ctx = new FakeAdminContext(store, opts.numReplicas ?? 1, opts.containers ?? 'local');
    ctx.#snapshot = await store.open();
    ctx.#unsubscribe = store.subscribe((change) => ctx.#apply(change));
    return ctx;
  }

  snapshot(): StateSnapshot {
    return this.#snapshot;
  }

  waitForDeploy(name: string, version: string): Promise<void> {
    const model = this.#snapshot.models.get(modelKey(name, version));
    this.deployCalls.push({ name, version, numReplicas: model?.num_replicas });
    return this.deploy(name, version, model);
  }

  /** `num_replicas` running replicas per model record that has a container spec. */
  replicas(): ReplicaStatus[] {
    const out: ReplicaStatus[] = [];
    let port = 41000;
    for (const model of this.#snapshot.models.values()) {
      if (model.container === null) continue;
      for (let replicaId = 0; replicaId < model.num_replicas; replicaId++) {
        const id = `${model.model_name}:${model.model_version}:${replicaId}`;
        out.push({
          model: model.model_name,
          version: model.model_version,
          replicaId,
          host: '127.0.0.1',
          port: port++,
          state: 'running',
          pid: 5000 + out.length,
          restartCount: 0,
          manager: 'local',
          containerId: null,
          image: null,
          health: 'none',
          connected: !this.disconnected.has(id),
        });
      }
    }
    return out;
  }

  async replicaLogs(name: string, version: string): Promise<ReplicaLogs[]> {
    return this.replicas()
      .filter((r) => r.model === name && r.version === version)
      .map((r) => ({ model: name, version, replicaId: r.replicaId, containerId: null, text: `replica ${r.replicaId} says hello\n` }));
  }

  close(): void {
    this.#unsubscribe();
  }

  #apply(change: StateChange): void {
    this.#snapshot = applyChange(this.#snapshot, change);
  }
}

/** A MemoryStateStore whose writability and write failures a test controls. */
export class ControlledStore implements StateStore {
  readonly inner = new MemoryStateStore();
  writable = true;
  get unavailableReason(): string {
    return this.writable ? '' : 'test store set unwritable';
  }
  /** When set, every write rejects with this message. */
  failWrites: string | null = null;

  open(): Promise<StateSnapshot> {
    return this.inner.open();
  }
  putApp(app: AppRecord): Promise<void> {
    return this.#write(() => this.inner.putApp(app));
  }
  deleteApp(name: string): Promise<void> {
    return this.#write(() => this.inner.deleteApp(name));
  }
  putModel(model: ModelRecord): Promise<void> {
    return this.#write(() => this.inner.putModel(model));
  }
  deleteModel(name: string, version: string): Promise<void> {
    return this.#write(() => this.inner.deleteModel(name, version));
  }
  setCurrentVersion(name: string, version: string | null): Promise<void> {
    return this.#write(() => this.inner.setCurrentVersion(name, version));
  }
  getPolicyState(key: string): Promise<string | null> {
    return this.inner.getPolicyState(key);
  }
  putPolicyState(key: string, value: string): Promise<void> {
    return this.#write(() => this.inner.putPolicyState(key, value));
  }
  subscribe(listener: StateListener): () => void {
    return this.inner.subscribe(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  async #write(op: () => Promise<void>): Promise<void> {
    if (this.failWrites !== null) throw new Error(this.failWrites);
    await op();
  }
}

/** A promise a test settles by hand (to hold a deploy open). */
export function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
