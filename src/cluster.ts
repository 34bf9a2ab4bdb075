// A running cluster in one Node process, and the composition root: it builds the state store,
// container managers, batching pool, query core, selection hub, metrics and servers, and wires them
// together; the logic lives in the parts. Every configuration change flows from the state store to
// Deployments (control/deployments.ts: replicas and placements), then to the RouteTable
// (control/route_table.ts: what the query servers route by).

import os from 'node:os';
import path from 'node:path';
import type { AdminContext, ReplicaStatus } from './admin/admin_context.js';
import type { AdminServerOptions } from './admin/admin_server.js';
import { adminHostOf, resolveConfig, schedulerOptionsOf, type ClipperConfig } from './config.js';
import type { ReplicaLogs } from './containers/container_manager.js';
import type { DockerManagerOptions } from './containers/docker/docker_manager.js';
import { dockerHostOf } from './containers/docker/engine.js';
import type { KubernetesManagerOptions } from './containers/kubernetes/kubernetes_manager.js';
import type { LocalProcessOptions } from './containers/local_process.js';
import { ManagerRouter } from './containers/manager_router.js';
import { BatchingPool } from './batching/pool.js';
import { startThreadTask, type ThreadTask } from './batching/threads.js';
import { QueryProcessor } from './query/query_processor.js';
import { QueryPipeline } from './query/pipeline.js';
import { RouteTable } from './control/route_table.js';
import { meanBatchSizes, pipelineStatsReport, type PipelineStatsReport } from './query/stage_stats.js';
import { Deployments } from './control/deployments.js';
import { adminTunerPorts, PipelineTuner } from './control/pipeline_tuner.js';
import { AdminService } from './admin/admin_service.js';
import { systemClock } from './lib/clock.js';
import { startQueryServer, type QueryServer } from './frontend/clipper_rest.js';
import { tlsOf } from './http/app_factory.js';
import { SelectionHub } from './selection/selection_hub.js';
import { kRepoRoot } from './paths.js';
import type { StreamLimits } from './frontend/stream_limits.js';
import { registerStreamRoutes, type StreamServer } from './frontend/ws_stream.js';
import { registerOipRoutes } from './frontend/oip/oip_routes.js';
import { Metrics } from './metrics/metrics.js';
import type { DashboardOptions } from './dashboard/dashboard_routes.js';
import type { DashboardSources } from './dashboard/snapshot_types.js';
import type { StateSnapshot } from './state/records.js';
import type { StateStore } from './state/state_store.js';
import { MemoryStateStore } from './state/memory_store.js';
import { defaultReplicaSecretFile, kReplicaSecretEnv, loadOrCreateReplicaSecret, loadReplicaSecret } from './rpc/replica_auth.js';

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

/**
 * The main thread polls its reply rings (config.ringPollUs) only while at most this many queries are
 * open: a lightly loaded server, where a core is free to spend and each query would otherwise pay
 * for waking the main thread. Under load queries are many and the main thread never polls.
 */
const kPollPendingMax = 16;

export class Cluster implements AdminContext {
  readonly config: Readonly<ClipperConfig>;
  readonly store: StateStore;
  readonly defaults: { numReplicas: number; containers: ClipperConfig['containers']; batchSizeMax: number };
  readonly #manager: ManagerRouter;
  readonly #pool: BatchingPool;
  readonly #processor: QueryProcessor;
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
    this.#manager = new ManagerRouter(
      {
        onReplicaStarted: (ep) => this.#deployments.onReplicaStarted(ep),
        onReplicaStopped: (ep) => this.#deployments.onReplicaStopped(ep),
      },
      {
        defaultManager: config.containers,
        clusterName: config.clusterName,
        dockerHost: dockerHostOf(config.dockerHost),
        localProcess: { ...options.localProcess, env: { ...options.localProcess?.env, [kReplicaSecretEnv]: secretHex } },
        docker: { ...options.docker, replicaSecretHex: secretHex },
        kubernetes: { ...kubernetesOptionsOf(config), ...options.kubernetes },
        ...(options.log !== undefined ? { log: options.log } : {}),
        wantedModels: () => this.#deployments.wantedModels(),
        modelDirs: config.modelDirs,
      },
    );
    this.#pool = new BatchingPool(
      {
        threads: config.batchingThreads,
        ringBytes: config.ringBytes,
        spinCountWorker: config.ringSpinCount,
        spinCountMain: Math.min(config.ringSpinCount, 200),
        pollUsMain: config.ringPollUs,
        // A worker's wait is a replica round trip, a part of the main thread's whole cycle: half the window.
        pollUsWorker: Math.round(config.ringPollUs / 2),
        shouldPollMain: () => this.#processor.pendingCount <= kPollPendingMax,
        connection: {
          heartbeatMs: config.heartbeatMs,
          livenessTimeoutMs: 5 * config.heartbeatMs,
          handshakeTimeoutMs: 5000,
          reconnectDelayMsMin: 100,
          reconnectDelayMsMax: 5000,
        },
        // A copy with its own buffer: it is cloned to each worker with add_replica.
        replicaSecret: config.replicaAuth === 'required' ? new Uint8Array(Buffer.from(secretHex, 'hex')) : null,
      },
      (token, status, reason, text) => this.#processor.onReply(token, status, reason, text),
      (placement, replicaId, connected, reason) => this.#deployments.onReplicaState(placement, replicaId, connected, reason),
    );
    this.#processor = new QueryProcessor({ pool: this.#pool, clock: systemClock, cacheBytesMax: config.cacheBytesMax });
    this.#hub = new SelectionHub(store, this.#processor, { seed: config.selectionSeed, userEntriesMax: config.selectionUserStatesMax });
    this.#metrics = new Metrics(
      this.#processor,
      () => this.#pool.stats(),
      () => this.replicas(),
      { threadResources: () => this.#pool.threadResources(), pipelines: () => this.#routeTable.pipelineStats.all() },
    );
    this.#routeTable = new RouteTable({
      appStats: (name) => this.#processor.appStats(name),
      selection: this.#hub,
      modelSloMs: config.oipTimeoutMsDefault,
    });
    this.#deployments = new Deployments({
      pool: this.#pool,
      manager: this.#manager,
      cache: this.#processor.cache,
      cacheOn: config.cacheBytesMax > 0,
      scheduler: schedulerOptionsOf(config),
      onAppDeleted: (name) => {
        this.#processor.forgetApp(name);
        this.#hub.forget(name);
      },
      onChanged: (snapshot, placements) => this.#routeTable.rebuild(snapshot, placements),
    });
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
    const pipeline = new QueryPipeline({
      processor: this.#processor,
      routes: this.#routeTable.routes,
      hub: this.#hub,
      sloMicrosMax: this.config.sloMicrosMax,
    });
    this.#queryServer = await startQueryServer(
      { host: this.config.host, port: this.config.queryPort, bodyBytesMax: this.config.bodyBytesMax, tls: tlsOf(this.config) },
      {
        pipeline,
        metricsText: (format) => this.#metrics.text(format),
        metricsJson: () => this.#metrics.clipperJson(),
        registerRoutes: (app) => {
          this.#streamServer = registerStreamRoutes(app, {
            pipeline,
            limits: { messageBytesMax: this.config.bodyBytesMax, ...options.stream },
          });
          registerOipRoutes(app, {
            pipeline,
            models: this.#routeTable.models,
            bodyBytesMax: this.config.bodyBytesMax,
            ready: () => !this.#closed,
            replicaReady: (model, version) => this.replicas().some((r) => r.model === model && r.version === version && r.connected),
            actorStats: () => this.#pool.stats(),
          });
        },
      },
    );
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Requests still arriving on open keep-alive connections now get a 404 or, if already
    // routed, the default output (the processor answers at once once closed).
    this.#routeTable.clear();
    this.#tuner?.stop();
    this.#deployments.close();
    this.#queryServer?.close();
    this.#metrics.close();
    this.#streamServer?.closeAll();
    this.#adminServer?.close();
    this.#unsubscribe?.();
    this.#processor.close();
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
      queryCount: (app: string) => this.#processor.allAppStats().get(app)?.queries ?? 0,
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
    const stats = this.#routeTable.pipelineStats.get(app);
    if (stats === undefined) return null;
    const batch = meanBatchSizes(await this.#pool.stats(), this.#deployments.snapshot().currentVersions);
    return pipelineStatsReport(stats, this.#processor.appStats(app).queries, batch, systemClock.nowMs());
  }

  /** What the admin server's dashboard reads: the counters the query path and the workers keep. */
  get dashboard(): DashboardSources {
    return {
      state: () => this.#deployments.snapshot(),
      appStats: () => this.#processor.allAppStats(),
      modelStats: () => this.#pool.stats(),
      replicas: () => this.replicas(),
      selectionWeights: (app) => {
        const sel = this.#routeTable.routes.get(app)?.selection;
        return sel === undefined || sel === null ? null : { models: sel.models, weights: sel.weights(null) };
      },
    };
  }
}

/**
 * The replicas' secret: from config.replicaSecretFile; else, for a Docker cluster whose state outlives
 * the server (Redis), from a file kept per cluster name (made on first use), so the containers it
 * adopts after a restart still authenticate; else fresh random bytes (local replicas die with the
 * server, and with memory: state nothing survives a restart).
 */
function replicaSecretOf(config: Readonly<ClipperConfig>): Promise<Buffer> {
  if (config.replicaSecretFile !== '') return loadReplicaSecret(config.replicaSecretFile);
  if (config.state === 'memory:' || config.containers !== 'docker') return loadReplicaSecret('');
  return loadOrCreateReplicaSecret(defaultReplicaSecretFile(config.clusterName));
}

/** The Kubernetes manager's options from the configuration (containers/kubernetes/kubernetes_manager.ts). */
function kubernetesOptionsOf(config: Readonly<ClipperConfig>): Omit<KubernetesManagerOptions, 'clusterName' | 'wantedModels' | 'log'> {
  return {
    kubeconfig: config.kubeconfig,
    proxyAddr: config.kubernetesProxyAddr,
    namespace: config.kubernetesNamespace,
    registry: config.kubernetesRegistry,
    replicaPort: config.kubernetesReplicaPort,
    imagePullSecrets: config.kubernetesImagePullSecrets,
    deployTimeoutMs: config.kubernetesDeployTimeoutMs,
    // Pods read the secret from this Secret; without replica auth they get none.
    replicaSecretName: config.replicaAuth === 'off' ? null : config.kubernetesReplicaSecret,
    replicaSecretFile: config.replicaSecretFile,
    identity: config.kubernetesIdentity,
  };
}

/** The store config.state names (Redis's client is loaded only when one is asked for). */
async function openStore(config: Readonly<ClipperConfig>): Promise<StateStore> {
  if (config.state === 'memory:') return new MemoryStateStore();
  const { createStateStore } = await import('./state/open_store.js');
  return createStateStore(config.state, config.clusterName);
}
