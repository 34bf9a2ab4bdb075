// A running cluster in one Node process: state store, container manager, batching workers, query
// frontend and management API. Every configuration change reaches `#apply()` from the state store
// (whichever frontend made it), and `#apply()` is the only place that starts or stops replicas,
// places model actors on threads and rebuilds the routing table.

import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AdminContext, ReplicaStatus } from './admin/admin_context.js';
import { resolveConfig, type ClipperConfig } from './config.js';
import type { ReplicaEndpoint, ReplicaLogs } from './containers/container_manager.js';
import type { DockerManagerOptions } from './containers/docker/docker_manager.js';
import { dockerHostOf } from './containers/docker/engine.js';
import type { LocalProcessOptions } from './containers/local_process.js';
import { ManagerRouter } from './containers/manager_router.js';
import { ClipperError } from './errors.js';
import { Dispatcher, type Placement } from './batching/pool.js';
import { QueryProcessor, type AppRoute } from './query/query_processor.js';
import { startQueryServer, type QueryServer } from './frontend/clipper_rest.js';
import { SelectionHub } from './selection/selection_hub.js';
import { kRepoRoot } from './paths.js';
import { registerStreamRoutes, type StreamLimits, type StreamServer } from './frontend/ws_stream.js';
import { outputToJson } from './batching/output_json.js';
import { inputTypeCode, type InputType } from './input_types.js';
import { Metrics } from './metrics/metrics.js';
import { emptySnapshot, modelKey, type AppRecord, type ModelRecord, type StateSnapshot } from './state/records.js';
import type { AppSelection } from './selection/app_selection.js';
import type { StateChange, StateStore } from './state/state_store.js';
import { MemoryStateStore } from './state/memory_store.js';

export interface ClusterOptions {
  config?: Partial<ClipperConfig>;
  /** A state store to use instead of the one `config.state` names. */
  store?: StateStore;
  localProcess?: Partial<LocalProcessOptions>;
  /** Docker manager timings (health poll, restart backoff, start timeout). */
  docker?: Partial<Omit<DockerManagerOptions, 'clusterName' | 'prepareImage'>>;
  /** Progress lines of image builds (default: none). */
  log?: (line: string) => void;
  /** Per-connection limits of the WebSocket stream endpoint (docs/streaming.md). */
  stream?: Partial<StreamLimits>;
  /** Starts the admin server; injected so the cluster does not depend on its implementation. */
  startAdmin?: (ctx: AdminContext, opts: { host: string; port: number; bodyBytesMax: number }) => Promise<{ port: number; close(): void }>;
}

interface RouteWithType extends AppRoute {
  readonly inputType: InputType;
}

/**
 * The main thread polls its reply rings (config.ringPollUs) only while at most this many queries are
 * open: a lightly loaded server, where a core is free to spend and each query would otherwise pay
 * for waking the main thread. Under load queries are many and the main thread never polls.
 */
const kPollPendingMax = 16;

export class Cluster implements AdminContext {
  readonly config: Readonly<ClipperConfig>;
  readonly store: StateStore;
  readonly defaults: { numReplicas: number; containers: 'local' | 'docker' };
  readonly #manager: ManagerRouter;
  readonly #dispatcher: Dispatcher;
  readonly #processor: QueryProcessor;
  readonly #metrics: Metrics;
  readonly #hub: SelectionHub;
  /** The selection worker's own thread (null when batching thread 0 hosts it). */
  #selectionWorker: Worker | null = null;
  readonly #routes = new Map<string, RouteWithType>();
  readonly #placements = new Map<string, Placement>();
  readonly #deploys = new Map<string, Promise<void>>();
  readonly #connected = new Map<string, boolean>();
  /** Deploys waiting for the owning worker's first ready connection to a replica, by model key. */
  readonly #connectWaiters = new Map<string, Array<() => void>>();
  readonly #connectTimers = new Set<NodeJS.Timeout>();
  #snapshot: StateSnapshot = emptySnapshot();
  #unsubscribe: (() => void) | null = null;
  #queryServer: QueryServer | null = null;
  #streamServer: StreamServer | null = null;
  #adminServer: { port: number; close(): void } | null = null;
  #closed = false;

  private constructor(config: Readonly<ClipperConfig>, store: StateStore, options: ClusterOptions) {
    this.config = config;
    this.store = store;
    this.defaults = { numReplicas: config.defaultReplicas, containers: config.containers };
    this.#manager = new ManagerRouter({
      onReplicaStarted: (ep) => this.#onReplicaStarted(ep),
      onReplicaStopped: (ep) => this.#onReplicaStopped(ep),
    }, {
      defaultManager: config.containers, clusterName: config.clusterName, dockerHost: dockerHostOf(config.dockerHost),
      ...(options.localProcess !== undefined ? { localProcess: options.localProcess } : {}),
      ...(options.docker !== undefined ? { docker: options.docker } : {}),
      ...(options.log !== undefined ? { log: options.log } : {}),
      wantedModels: () => new Set(this.#snapshot.models.keys()),
    });
    this.#dispatcher = new Dispatcher({
      threads: config.batchingThreads, ringBytes: config.ringBytes, spinCountWorker: config.ringSpinCount,
      spinCountMain: Math.min(config.ringSpinCount, 200),
      pollUsMain: config.ringPollUs,
      // A worker's wait is a replica round trip, a part of the main thread's whole cycle: half the window.
      pollUsWorker: Math.round(config.ringPollUs / 2),
      shouldPollMain: () => this.#processor.pendingCount <= kPollPendingMax,
      connection: { heartbeatMs: config.heartbeatMs, livenessTimeoutMs: 5 * config.heartbeatMs, handshakeTimeoutMs: 5000,
        reconnectDelayMsMin: 100, reconnectDelayMsMax: 5000 },
    }, (token, status, reason, text) => this.#processor.onReply(token, status, reason, text),
    (placement, replicaId, connected) => this.#onReplicaState(placement, replicaId, connected));
    this.#processor = new QueryProcessor(this.#dispatcher, config.cacheBytesMax);
    this.#hub = new SelectionHub(store, this.#processor, { seed: config.selectionSeed, userEntriesMax: config.selectionUserStatesMax });
    this.#metrics = new Metrics(this.#processor, () => this.#dispatcher.stats(), () => this.replicas());
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const config = resolveConfig(options.config);
    let store = options.store;
    if (store === undefined) {
      if (config.state !== 'memory:') {
        const { createStateStore } = await import('./state/open_store.js');
        store = createStateStore(config.state, config.clusterName);
      } else {
        store = new MemoryStateStore();
      }
    }
    const cluster = new Cluster(config, store, options);
    try {
      await cluster.#start(options);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  get queryPort(): number {
    return this.#queryServer?.port ?? -1;
  }

  get adminPort(): number {
    return this.#adminServer?.port ?? -1;
  }

  get processor(): QueryProcessor {
    return this.#processor;
  }

  get selection(): SelectionHub {
    return this.#hub;
  }

  /** Whether the selection worker gets a thread of its own (config.selectionThread). */
  static selectionOnOwnThread(config: Readonly<ClipperConfig>): boolean {
    if (config.selectionThread !== 'auto') return config.selectionThread === 'own';
    return os.availableParallelism() >= config.batchingThreads + 2;
  }

  async #start(options: ClusterOptions): Promise<void> {
    await this.#manager.start();
    if (Cluster.selectionOnOwnThread(this.config)) {
      this.#selectionWorker = new Worker(path.join(kRepoRoot, 'dist', 'src', 'selection', 'selection_worker.js'),
        { workerData: { port: this.#hub.workerPort }, transferList: [this.#hub.workerPort] });
      this.#selectionWorker.on('error', (err) => process.stderr.write(`clipper: selection worker failed: ${err.message}\n`));
      this.#dispatcher.start();
    } else {
      this.#dispatcher.start(this.#hub.workerPort);
    }
    this.#unsubscribe = this.store.subscribe((change) => this.#apply(change));
    const snapshot = await this.store.open();
    this.#apply({ kind: 'resync', snapshot });
    // Containers of this cluster that outlived an earlier run and belong to no model are removed.
    this.#manager.reconcile(new Set(snapshot.models.keys())).catch((err: Error) =>
      process.stderr.write(`clipper: reconciling containers failed: ${err.message}\n`));
    this.#queryServer = await startQueryServer(
      { host: this.config.host, port: this.config.queryPort, bodyBytesMax: this.config.bodyBytesMax, sloMicrosMax: this.config.sloMicrosMax },
      { processor: this.#processor, routes: this.#routes, inputTypeOf: (r) => (r as RouteWithType).inputType, hub: this.#hub,
        metricsText: (format) => this.#metrics.text(format), metricsJson: () => this.#metrics.clipperJson(),
        registerRoutes: (app) => {
          this.#streamServer = registerStreamRoutes(app, { processor: this.#processor, routes: this.#routes,
            inputTypeOf: (r) => (r as RouteWithType).inputType, sloMicrosMax: this.config.sloMicrosMax, hub: this.#hub,
            limits: { messageBytesMax: this.config.bodyBytesMax, ...options.stream } });
        } });
    if (options.startAdmin !== undefined) {
      this.#adminServer = await options.startAdmin(this, { host: this.config.host, port: this.config.adminPort, bodyBytesMax: this.config.bodyBytesMax });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Requests still arriving on open keep-alive connections now get a 404 or, if already
    // routed, the default output (the processor answers at once once closed).
    this.#routes.clear();
    for (const timer of this.#connectTimers) clearTimeout(timer);
    this.#connectTimers.clear();
    this.#queryServer?.close();
    this.#metrics.close();
    this.#streamServer?.closeAll();
    this.#adminServer?.close();
    this.#unsubscribe?.();
    this.#processor.close();
    await this.#hub.stop();
    if (this.#selectionWorker !== null) await this.#selectionWorker.terminate();
    await this.#manager.close();
    await this.#dispatcher.close();
    await this.store.close();
  }

  // AdminContext

  snapshot(): StateSnapshot {
    return this.#snapshot;
  }

  waitForDeploy(name: string, version: string): Promise<void> {
    const deploy = this.#deploys.get(modelKey(name, version));
    if (deploy === undefined) {
      return Promise.reject(new ClipperError('CLP_ERR_NOT_FOUND', `model ${name}:${version} is not registered`));
    }
    return deploy;
  }

  replicaLogs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]> {
    return this.#manager.logs(name, version, tailLines);
  }

  replicas(): ReplicaStatus[] {
    return this.#manager.list().map((r) => ({
      ...r, connected: this.#connected.get(`${modelKey(r.model, r.version)}#${r.replicaId}`) === true,
    }));
  }

  // Applying configuration changes

  #apply(change: StateChange): void {
    if (this.#closed) return;
    const s = this.#snapshot;
    switch (change.kind) {
      case 'app_put': s.apps.set(change.app.name, change.app); break;
      case 'app_deleted': s.apps.delete(change.name); this.#processor.forgetApp(change.name); this.#hub.forget(change.name); break;
      case 'model_put': {
        const key = modelKey(change.model.model_name, change.model.model_version);
        s.models.set(key, change.model);
        this.#deployModel(change.model);
        break;
      }
      case 'model_deleted': {
        const key = modelKey(change.name, change.version);
        s.models.delete(key);
        this.#undeployModel(change.name, change.version);
        break;
      }
      case 'current_version':
        if (change.version === null) s.currentVersions.delete(change.name);
        else s.currentVersions.set(change.name, change.version);
        break;
      case 'resync': {
        for (const key of [...s.models.keys()]) {
          if (!change.snapshot.models.has(key)) {
            const m = s.models.get(key)!;
            this.#undeployModel(m.model_name, m.model_version);
          }
        }
        this.#snapshot = change.snapshot;
        for (const model of change.snapshot.models.values()) this.#deployModel(model);
        break;
      }
    }
    this.#rebuildRoutes();
  }

  #deployModel(model: ModelRecord): void {
    const key = modelKey(model.model_name, model.model_version);
    if (!this.#placements.has(key)) {
      this.#placements.set(key, this.#dispatcher.addModel({
        name: model.model_name, version: model.model_version, inputType: model.input_type,
        scheduler: {
          batchSize: model.batch_size > 0 ? model.batch_size : -1,
          batchSizeCap: this.config.batchSizeMax,
          batchWaitMs: this.config.batchWaitMs,
          queueBound: this.config.queueBound,
          inFlightPerReplica: this.config.inFlightBatchesPerReplica,
          inFlightTimeoutMs: this.config.inFlightTimeoutMs,
        },
      }));
    }
    // A deploy is done when the batching worker that owns the model has a ready connection to a
    // replica, so the first query after a deploy is served rather than given the default.
    this.#processor.cache.setEnabled(this.#placements.get(key)!, this.config.cacheBytesMax > 0 && model.cache_enabled !== false);
    // Zero replicas still goes to the manager: it stops those that run (scaled down to 0).
    const deploy = model.container === null ? Promise.resolve()
      : model.num_replicas === 0 ? this.#manager.ensure(model)
      : this.#manager.ensure(model).then(() => this.#waitConnected(key));
    deploy.catch(() => { /* reported to whoever awaits waitForDeploy */ });
    this.#deploys.set(key, deploy);
  }

  #undeployModel(name: string, version: string): void {
    const key = modelKey(name, version);
    const placement = this.#placements.get(key);
    this.#placements.delete(key);
    this.#deploys.delete(key);
    void this.#manager.remove(name, version);
    if (placement !== undefined) {
      this.#processor.cache.forgetModel(placement);
      this.#dispatcher.removeModel(placement);
    }
  }

  #waitConnected(key: string): Promise<void> {
    for (const [k, connected] of this.#connected) {
      if (connected && k.startsWith(`${key}#`)) return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#connectTimers.delete(timer);
        remove();
        reject(new ClipperError('CLP_ERR_DEPLOY_FAILED',
          `model ${key} started, but the batching worker could not complete a handshake with any replica within 10 s`));
      }, 10_000);
      this.#connectTimers.add(timer);
      const done = (): void => { clearTimeout(timer); this.#connectTimers.delete(timer); resolve(); };
      const remove = (): void => {
        const list = this.#connectWaiters.get(key);
        if (list === undefined) return;
        const i = list.indexOf(done);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.#connectWaiters.delete(key);
      };
      const list = this.#connectWaiters.get(key) ?? [];
      list.push(done);
      this.#connectWaiters.set(key, list);
    });
  }

  #onReplicaStarted(ep: ReplicaEndpoint): void {
    const placement = this.#placements.get(modelKey(ep.model, ep.version));
    if (placement !== undefined) this.#dispatcher.addReplica(placement, ep.replicaId, ep.host, ep.port);
  }

  #onReplicaStopped(ep: ReplicaEndpoint): void {
    const key = modelKey(ep.model, ep.version);
    this.#connected.delete(`${key}#${ep.replicaId}`);
    const placement = this.#placements.get(key);
    if (placement !== undefined) this.#dispatcher.removeReplica(placement, ep.replicaId);
  }

  #onReplicaState(placement: Placement, replicaId: number, connected: boolean): void {
    for (const [key, p] of this.#placements) {
      if (p.modelIndex === placement.modelIndex) {
        this.#connected.set(`${key}#${replicaId}`, connected);
        const waiters = connected ? this.#connectWaiters.get(key) : undefined;
        if (waiters !== undefined) {
          this.#connectWaiters.delete(key);
          for (const resolve of waiters) resolve();
        }
        return;
      }
    }
  }

  readonly #hubApps = new Set<string>();

  /** The app's selection over its linked models (their current versions' placements). */
  #selectionOf(app: AppRecord): AppSelection | null {
    const s = this.#snapshot;
    const placements = app.linked_models.map((name) => {
      const version = s.currentVersions.get(name);
      return version === undefined ? null : this.#placements.get(modelKey(name, version)) ?? null;
    });
    const sel = this.#hub.route(app, placements);
    if (sel === null) this.#hubApps.delete(app.name);
    else this.#hubApps.add(app.name);
    return sel;
  }

  #rebuildRoutes(): void {
    const s = this.#snapshot;
    this.#routes.clear();
    for (const name of [...this.#hubApps]) {
      if (!s.apps.has(name)) {
        this.#hub.forget(name);
        this.#hubApps.delete(name);
      }
    }
    for (const app of s.apps.values()) {
      const modelName = app.linked_models[0] ?? null;
      const versions = new Map<string, Placement>();
      let placement: Placement | null = null;
      if (modelName !== null) {
        for (const [key, p] of this.#placements) {
          const m = s.models.get(key);
          if (m !== undefined && m.model_name === modelName) versions.set(m.model_version, p);
        }
        const current = s.currentVersions.get(modelName);
        if (current !== undefined) placement = versions.get(current) ?? null;
      }
      this.#routes.set(app.name, {
        name: app.name, stats: this.#processor.appStats(app.name), inputType: app.input_type, typeCode: inputTypeCode(app.input_type),
        defaultJson: outputToJson(app.default_output), sloMs: app.latency_slo_micros / 1000,
        modelName, placement, versions, overloadResponse: app.overload_response,
        selection: this.#selectionOf(app),
      });
    }
  }
}
