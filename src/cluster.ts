// A running cluster in one Node process, and the composition root: it builds the state store,
// container managers, batching pool, query core, selection hub, metrics and servers, and wires them
// together; the logic lives in the parts. Every configuration change flows from the state store to
// Deployments (control/deployments.ts: replicas and placements), then to the RouteTable
// (control/route_table.ts: what the query servers route by).
//
// With one frontend (config frontendThreads 1) the main thread serves the queries itself. With N,
// the FrontendGroup (frontend_thread/frontend_group.ts) runs N query servers on threads of their own;
// the main thread keeps the admin server and the control: each change is applied here as before,
// then told to every thread (routes, cache switches, deleted apps, replicas); its stats are theirs
// added up (the QueryStatsSource every reader uses, query/query_stats_source.ts).

import os from 'node:os';
import path from 'node:path';
import { frontendRingOf, managerOptionsOf, openStore, poolOptionsOf, replicaSecretOf } from './cluster_parts.js';
import type { AdminContext, ReplicaStatus } from './admin/admin_context.js';
import type { AdminServerOptions } from './admin/admin_server.js';
import { adminHostOf, resolveConfig, schedulerOptionsOf, type ClipperConfig } from './config.js';
import type { ReplicaLogs } from './containers/container_manager.js';
import type { DockerManagerOptions } from './containers/docker/docker_manager.js';
import type { KubernetesManagerOptions } from './containers/kubernetes/kubernetes_manager.js';
import type { LocalProcessOptions } from './containers/local_process.js';
import { ManagerRouter } from './containers/manager_router.js';
import { BatchingPool } from './batching/pool.js';
import { startThreadTask, type ThreadTask } from './batching/threads.js';
import { QueryProcessor } from './query/query_processor.js';
import { QueryPipeline } from './query/pipeline.js';
import { newAppStats } from './query/app_route.js';
import { ProcessorStats, type QueryStatsSource } from './query/query_stats_source.js';
import { FrontendGroup } from './frontend_thread/frontend_group.js';
import { frontendInitOf } from './frontend_thread/group_init.js';
import { RouteTable } from './control/route_table.js';
import { meanBatchSizes, pipelineStatsReport, type PipelineStatsReport } from './query/stage_stats.js';
import { Deployments } from './control/deployments.js';
import { adminTunerPorts, PipelineTuner } from './control/pipeline_tuner.js';
import { AdminService } from './admin/admin_service.js';
import { systemClock } from './lib/clock.js';
import type { QueryServer } from './frontend/clipper_rest.js';
import { startFrontendServer } from './frontend/frontend_server.js';
import { tlsOf } from './http/app_factory.js';
import { SelectionHub } from './selection/selection_hub.js';
import { kRepoRoot } from './paths.js';
import type { StreamLimits } from './frontend/stream_limits.js';
import type { StreamServer } from './frontend/ws_stream.js';
import { Metrics } from './metrics/metrics.js';
import type { DashboardOptions } from './dashboard/dashboard_routes.js';
import type { DashboardSources } from './dashboard/snapshot_types.js';
import type { StateSnapshot } from './state/records.js';
import type { StateStore } from './state/state_store.js';

export interface ClusterOptions {
  config?: Partial<ClipperConfig>;
  /** A state store to use instead of the one `config.state` names. */
  store?: StateStore;
  localProcess?: Partial<LocalProcessOptions>;
  /** Docker manager timings (health poll, restart backoff, start timeout). */
  docker?: Partial<Omit<DockerManagerOptions, 'clusterName' | 'prepareImage'>>;
  /** Kubernetes manager settings beyond the config (tests: a KubeConfig of a fake API server, lease and watch timings). */
  kubernetes?: Partial<Omit<KubernetesManagerOptions, 'clusterName' | 'wantedModels' | 'log'>>;
  /** Progress lines of image builds and container-manager events (default: none). */
  log?: (line: string) => void;
  /** Per-connection limits of the WebSocket stream endpoint (docs/streaming.md). */
  stream?: Partial<StreamLimits>;
  /** Starts the admin server; injected so the cluster does not depend on its implementation. */
  startAdmin?: (ctx: AdminContext, opts: AdminServerOptions) => Promise<{ port: number; close(): void }>;
  /** The admin server's live dashboard: sampling interval, history and stream timings (tests shorten them). */
  dashboard?: DashboardOptions;
}

export class Cluster implements AdminContext {
  readonly config: Readonly<ClipperConfig>;
  readonly store: StateStore;
  readonly defaults: { numReplicas: number; containers: ClipperConfig['containers']; batchSizeMax: number };
  readonly #manager: ManagerRouter;
  readonly #pool: BatchingPool;
  /** The main thread's query core (one frontend), or null with frontend threads. */
  readonly #processor: QueryProcessor | null;
  /** The frontend threads (frontendThreads > 1), or null. */
  readonly #group: FrontendGroup | null;
  /** The query core's counters, wherever it runs. */
  readonly #stats: QueryStatsSource;
  readonly #metrics: Metrics;
  readonly #hub: SelectionHub;
  /** The selection worker's own thread (null when batching thread 0 hosts it). */
  #selectionThread: ThreadTask | null = null;
  readonly #deployments: Deployments;
  readonly #routeTable: RouteTable;
  #tuner: PipelineTuner | null = null;
  #unsubscribe: (() => void) | null = null;
  #queryServer: QueryServer | null = null;
  #streamServer: StreamServer | null = null;
  #adminServer: { port: number; close(): void } | null = null;
  #closed = false;

  /** `secretHex`: the replicas' secret (rpc/replica_auth.ts), given to them in their environment and checked by the workers. */
  private constructor(config: Readonly<ClipperConfig>, store: StateStore, options: ClusterOptions, secretHex: string) {
    this.config = config;
    this.store = store;
    this.defaults = { numReplicas: config.defaultReplicas, containers: config.containers, batchSizeMax: config.batchSizeMax };
    this.#manager = this.#managerOf(options, secretHex);
    this.#pool = this.#poolOf(secretHex);
    const oneFrontend = config.frontendThreads === 1;
    const { cacheBytesMax } = config;
    this.#processor = oneFrontend ? new QueryProcessor({ pool: this.#pool.mainPort, clock: systemClock, cacheBytesMax }) : null;
    // With frontend threads no query runs here: the hub's own selections only drive the selection worker.
    const memberStats = this.#processor ?? { detachedStats: newAppStats };
    this.#hub = new SelectionHub(store, memberStats, { seed: config.selectionSeed, userEntriesMax: config.selectionUserStatesMax });
    this.#group = oneFrontend ? null : this.#frontendGroup(options);
    this.#routeTable = new RouteTable({
      appStats: (name) => this.#processor?.appStats(name) ?? newAppStats(),
      selection: this.#hub,
      modelSloMs: config.oipTimeoutMsDefault,
    });
    this.#stats = this.#group ?? new ProcessorStats(this.#processor!, this.#routeTable.pipelineStats);
    const threadResources = () => this.#pool.threadResources();
    const frontendThreads = () => this.#group?.threadStates() ?? null;
    this.#metrics = new Metrics(
      this.#stats,
      () => this.#pool.stats(),
      () => this.replicas(),
      { threadResources, frontendThreads },
    );
    this.#deployments = new Deployments({
      pool: this.#pool,
      manager: this.#manager,
      cache: this.#group?.cache ?? this.#processor!.cache,
      cacheOn: config.cacheBytesMax > 0,
      scheduler: schedulerOptionsOf(config),
      onAppDeleted: (name) => {
        this.#processor?.forgetApp(name);
        this.#group?.forgetApp(name);
        this.#hub.forget(name);
      },
      onChanged: (snapshot, placements) => {
        this.#routeTable.rebuild(snapshot, placements);
        // After the main table: its rebuild made the hub's selections the threads' routes name.
        this.#group?.routes(snapshot, placements);
        this.#replicasChanged();
      },
    });
  }

  #managerOf(options: ClusterOptions, secretHex: string): ManagerRouter {
    const config = this.config;
    return new ManagerRouter(
      {
        onReplicaStarted: (ep) => {
          this.#deployments.onReplicaStarted(ep);
          this.#replicasChanged();
        },
        onReplicaStopped: (ep) => {
          this.#deployments.onReplicaStopped(ep);
          this.#replicasChanged();
        },
      },
      managerOptionsOf(config, options, secretHex, () => this.#deployments.wantedModels()),
    );
  }

  #poolOf(secretHex: string): BatchingPool {
    return new BatchingPool(
      // With frontend threads the pool runs no ring port here, and never asks.
      poolOptionsOf(this.config, secretHex, () => this.#processor?.pendingCount ?? 0),
      // Only the main thread's own frontend's replies come here (none with frontend threads).
      (token, status, reason, text) => this.#processor!.onReply(token, status, reason, text),
      (placement, replicaId, connected, reason) => {
        this.#deployments.onReplicaState(placement, replicaId, connected, reason);
        this.#replicasChanged();
      },
    );
  }

  /** The frontend threads, each with its own rings to every batching worker. */
  #frontendGroup(options: ClusterOptions): FrontendGroup {
    const config = this.config;
    return new FrontendGroup(
      {
        count: config.frontendThreads,
        initOf: (k) => frontendInitOf(config, this.#pool.frontendRings(k), options.stream, frontendRingOf(config)),
      },
      {
        selection: this.#hub,
        metricsText: (format) => this.#metrics.text(format === 'openmetrics' ? 'openmetrics' : 'prometheus'),
        metricsJson: () => this.#metrics.clipperJson(),
        actorStats: () => this.#pool.stats(),
        log: options.log ?? ((line) => process.stderr.write(`clipper: ${line}\n`)),
      },
    );
  }

  /** Frontend threads answer OIP model readiness from the replicas' state: each change is told to them. */
  #replicasChanged(): void {
    if (this.#group !== null && !this.#closed) this.#group.replicas(this.replicas());
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const config = resolveConfig(options.config);
    const secret = await replicaSecretOf(config);
    const cluster = new Cluster(config, options.store ?? (await openStore(config)), options, secret.toString('hex'));
    try {
      await cluster.#start(options);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /** Where a container spec's files must lie (AdminContext; config.modelDirs). */
  get modelDirs(): readonly string[] {
    return this.config.modelDirs;
  }

  get queryPort(): number {
    if (this.#group !== null) return this.#group.port;
    return this.#queryServer?.port ?? -1;
  }

  get adminPort(): number {
    return this.#adminServer?.port ?? -1;
  }

  /** The main thread's query core (one frontend only: with frontend threads, read queryStats). */
  get processor(): QueryProcessor {
    if (this.#processor === null) {
      throw new Error('with frontendThreads > 1 the frontend threads run the query cores: read cluster.queryStats after its refresh()');
    }
    return this.#processor;
  }

  /** The query core's counters (with frontend threads: every thread's, as of the last refresh()). */
  get queryStats(): QueryStatsSource {
    return this.#stats;
  }

  /** The frontend threads (null with one frontend). */
  get frontendGroup(): FrontendGroup | null {
    return this.#group;
  }

  get selection(): SelectionHub {
    return this.#hub;
  }

  /**
   * Whether the selection worker gets a thread of its own (config.selectionThread): 'auto' when a core
   * is left beyond the busy threads (the batching threads, and the main thread or the frontend threads).
   */
  static selectionOnOwnThread(config: Readonly<ClipperConfig>): boolean {
    if (config.selectionThread !== 'auto') return config.selectionThread === 'own';
    return os.availableParallelism() >= config.batchingThreads + config.frontendThreads + 1;
  }

  async #start(options: ClusterOptions): Promise<void> {
    await this.#manager.start();
    if (Cluster.selectionOnOwnThread(this.config)) {
      const port = this.#hub.workerPort;
      this.#selectionThread = startThreadTask(path.join(kRepoRoot, 'dist', 'src', 'selection', 'selection_worker.js'), { port }, [port]);
      this.#selectionThread.done.catch((err: Error) => process.stderr.write(`clipper: selection worker failed: ${err.message}\n`));
      this.#pool.start();
    } else {
      this.#pool.start(this.#hub.workerPort);
    }
    this.#unsubscribe = this.store.subscribe((change) => this.#deployments.apply(change));
    const snapshot = await this.store.open();
    this.#deployments.apply({ kind: 'resync', snapshot });
    // Containers of this cluster that outlived an earlier run and belong to no model are removed.
    this.#manager
      .reconcile(new Set(snapshot.models.keys()))
      .catch((err: Error) => process.stderr.write(`clipper: reconciling containers failed: ${err.message}\n`));
    if (this.#group !== null) await this.#group.start();
    else await this.#startQueryServer(options);
    this.#tuner = this.#pipelineTuner(options.log ?? ((line) => process.stderr.write(`clipper: ${line}\n`)));
    this.#tuner.start();
    if (options.startAdmin !== undefined) {
      this.#adminServer = await options.startAdmin(this, {
        host: adminHostOf(this.config),
        port: this.config.adminPort,
        bodyBytesMax: this.config.bodyBytesMax,
        adminToken: this.config.adminToken,
        adminTokenFile: this.config.adminTokenFile,
        tls: tlsOf(this.config),
        ...(options.dashboard === undefined ? {} : { dashboard: options.dashboard }),
      });
    }
  }

  /** One frontend: the main thread's own query server. */
  async #startQueryServer(options: ClusterOptions): Promise<void> {
    const pipeline = new QueryPipeline({
      processor: this.#processor!,
      routes: this.#routeTable.routes,
      hub: this.#hub,
      sloMicrosMax: this.config.sloMicrosMax,
    });
    const server = await startFrontendServer(
      { host: this.config.host, port: this.config.queryPort, bodyBytesMax: this.config.bodyBytesMax, tls: tlsOf(this.config) },
      {
        pipeline,
        metricsText: (format) => this.#metrics.text(format),
        metricsJson: () => this.#metrics.clipperJson(),
        models: this.#routeTable.models,
        stream: { messageBytesMax: this.config.bodyBytesMax, ...options.stream },
        ready: () => !this.#closed,
        replicaReady: (model, version) => this.replicas().some((r) => r.model === model && r.version === version && r.connected),
        actorStats: () => this.#pool.stats(),
      },
    );
    this.#queryServer = server;
    this.#streamServer = server.stream;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Requests still arriving on open keep-alive connections now get a 404 or, if already
    // routed, the default output (the processor answers at once once closed).
    this.#routeTable.clear();
    this.#tuner?.stop();
    this.#deployments.close();
    this.#queryServer?.close();
    // Frontend threads stop listening and answer their open queries; before the pool they send to goes.
    const groupClosed = this.#group?.close();
    this.#metrics.close();
    this.#streamServer?.closeAll();
    this.#adminServer?.close();
    this.#unsubscribe?.();
    this.#processor?.close();
    await groupClosed;
    await this.#hub.stop();
    await this.#selectionThread?.destroy();
    await this.#manager.close();
    await this.#pool.close();
    await this.store.close();
  }

  /**
   * The reactive tuner of planned pipelines: its writes go through the management API's handlers
   * (control/pipeline_tuner.ts), under the admin server's write lock (one per AdminContext: admin_core.ts).
   */
  #pipelineTuner(log: (line: string) => void): PipelineTuner {
    const admin = new AdminService(this);
    const { pipelineTuneIntervalMs: intervalMs, pipelineTuneWindowMs: windowMs } = this.config;
    const sources = {
      snapshot: () => this.snapshot(),
      queryCount: (app: string) => this.#stats.allAppStats().get(app)?.queries ?? 0,
      // With frontend threads the counters are pulled from them at each tick.
      ...(this.#group === null ? {} : { refreshCounts: () => this.#stats.refresh() }),
      admin: (route: string, body: unknown) => admin.handle(route, body),
      log,
    };
    return new PipelineTuner({ intervalMs, windowMs, clock: systemClock }, adminTunerPorts(sources));
  }

  // AdminContext

  snapshot(): StateSnapshot {
    return this.#deployments.snapshot();
  }

  waitForDeploy(name: string, version: string): Promise<void> {
    return this.#deployments.waitForDeploy(name, version);
  }

  replicaLogs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]> {
    return this.#deployments.replicaLogs(name, version, tailLines);
  }

  replicas(): ReplicaStatus[] {
    return this.#deployments.replicas();
  }

  /** A pipeline app's per-stage counters here (query/stage_stats.ts), with its models' batch sizes. */
  async pipelineStats(app: string): Promise<PipelineStatsReport | null> {
    await this.#stats.refresh();
    const stats = this.#stats.pipelineStats(app);
    if (stats === undefined) return null;
    const batch = meanBatchSizes(await this.#pool.stats(), this.#deployments.snapshot().currentVersions);
    return pipelineStatsReport(stats, this.#stats.appStats(app).queries, batch, systemClock.nowMs());
  }

  /** What the admin server's dashboard reads: the counters the query path and the workers keep. */
  get dashboard(): DashboardSources {
    return {
      state: () => this.#deployments.snapshot(),
      // The sampler reads appStats once modelStats has settled: the refresh is done by then.
      appStats: () => this.#stats.allAppStats(),
      modelStats: async () => (await Promise.all([this.#pool.stats(), this.#stats.refresh()]))[0],
      replicas: () => this.replicas(),
      selectionWeights: (app) => {
        const sel = this.#routeTable.routes.get(app)?.selection;
        return sel === undefined || sel === null ? null : { models: sel.models, weights: sel.weights(null) };
      },
    };
  }
}
