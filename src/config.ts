// Cluster configuration: the one home of its defaults (those it shares with the batching scheduler
// are read from the scheduler's, batching/scheduler_options.ts), validation whose messages name the option (lib/options.ts), a frozen result.

import os from 'node:os';
import path from 'node:path';
import { kDefaultSchedulerOptions, type ConfiguredSchedulerOptions } from './batching/scheduler_options.js';
import { kCacheBytesMin } from './cache/prediction_cache.js';
import { defaultBatchingThreads, fillThreadDefaults, kFrontendThreadsMax, startupFrontendThreads } from './config_threads.js';
import { kDns1123Label, kDns1123Subdomain } from './containers/kubernetes/labels.js';
import { kReplicaSecretFileRule } from './containers/kubernetes/replica_secret_rule.js';
import { isLoopbackHost } from './lib/loopback.js';
import { OptionChecks, withDefaults } from './lib/options.js';
import { defaultModelDirs } from './model_dirs.js';

export interface ClipperConfig {
  /** Interface both servers bind (127.0.0.1 by default; never 0.0.0.0 unless asked). */
  host: string;
  queryPort: number;
  adminPort: number;
  /** Interface the management API binds; '' (default): the same as host (docs/reliability.md §6). */
  adminHost: string;
  /**
   * Bearer token every management request must carry ('' = none). Required when the management
   * API binds a non-loopback address; at least 16 printable characters.
   */
  adminToken: string;
  /** A file holding the admin token (trimmed), read at start-up; '' = none. */
  adminTokenFile: string;
  /** PEM certificate (chain) file: with tlsKeyFile, both ports serve HTTPS and WSS; '' = plain HTTP. */
  tlsCertFile: string;
  /** PEM private key file of tlsCertFile. */
  tlsKeyFile: string;
  /**
   * Batching worker threads (piscina). Default: cores − 1, at least 1; with frontendThreads N > 1,
   * cores − N (at least 1), so frontend and batching threads stay within the cores where they can.
   */
  batchingThreads: number;
  /**
   * Query frontend threads (docs/architecture.md, "Frontend threads"). 1: the main thread serves the
   * queries itself. N ≥ 2: N threads each run a whole query server on the shared port (routes, cache,
   * deadlines of their own) and the main thread keeps the admin server and control. Default:
   * $CLIPPER_FRONTEND_THREADS when set (so a whole test run can use either mode), else 1 below 4
   * cores, else min(8, cores / 2) (config_threads.ts).
   */
  frontendThreads: number;
  /**
   * How frontend threads share the query port: main's uWS app accepts and hands connections to them in
   * turn ('acceptor', default) or each listens on it ('reuseport', SO_REUSEPORT). Measured on 2 threads:
   * the same throughput, but with reuseport the kernel's hashing left one thread idle at 4 connections,
   * and uWS sets SO_REUSEPORT only on a non-zero port (port 0 needs a probe: http/listen.ts).
   */
  frontendAccept: 'reuseport' | 'acceptor';
  /** Ring bytes per worker and direction (power of two), split over frontends; bounds the largest input (pool.ts ringBytesPerFrontend). */
  ringBytes: number;
  /** Polling iterations before a ring consumer sleeps (see ipc/doorbell.ts). */
  ringSpinCount: number;
  /**
   * Low-load polling (ipc/doorbell.ts): for how long (µs) after a reply the main thread keeps
   * checking its reply rings once per event-loop turn instead of sleeping, while few queries are
   * open and replies come often; batching workers do the same for half as long, while their
   * replicas answer within that. 0 turns it off.
   */
  ringPollUs: number;
  /** Largest accepted request body. */
  bodyBytesMax: number;
  /** Upper bound of a per-request `slo_micros` (and of an Open Inference Protocol request's `timeout`). */
  sloMicrosMax: number;
  /**
   * The deadline (ms) of an Open Inference Protocol request that addresses a model directly (no app,
   * so no app SLO) and sets no `timeout` parameter.
   */
  oipTimeoutMsDefault: number;
  /** Default maximum batch size for models registered with batch_size -1. */
  batchSizeMax: number;
  /** Batches in flight per replica connection. */
  inFlightBatchesPerReplica: number;
  /** A batch unanswered this long is timed out: its replica's connection is reset, its queries re-queued. */
  inFlightTimeoutMs: number;
  /** Delayed batching: how long a free replica waits for a fuller batch (0: send at once). */
  batchWaitMs: number;
  /** Most queries queued per model version; beyond it queries are shed. */
  queueBound: number;
  /** Bytes of the prediction cache (keys + outputs), 0 to turn it off. */
  cacheBytesMax: number;
  heartbeatMs: number;
  /** Replicas a new model version gets when add_model does not say. */
  defaultReplicas: number;
  /**
   * Where replicas run when a model's container spec does not say: 'local' processes (default),
   * 'docker' containers, or 'kubernetes' Deployments. Each is also chosen per model
   * (`"container": {"manager": "docker"}`).
   */
  containers: 'local' | 'docker' | 'kubernetes';
  /** The Docker engine: '' for $DOCKER_HOST or unix:///var/run/docker.sock; or unix:///path, tcp://host:port. */
  dockerHost: string;
  /** Kubernetes: a kubeconfig file; '' = the pod's service account in a cluster, else $KUBECONFIG or ~/.kube/config. */
  kubeconfig: string;
  /** Kubernetes: the address of a `kubectl proxy` (host:port or http://host:port), as Clipper's kubernetes_proxy_addr; '' = none. */
  kubernetesProxyAddr: string;
  /** Kubernetes: the namespace of the model Deployments; '' = the service account's or the kubeconfig context's, else 'default'. */
  kubernetesNamespace: string;
  /** Kubernetes: Secrets the model pods pull their images with. */
  kubernetesImagePullSecrets: string[];
  /** Kubernetes: where `clipper build --registry` pushed model images (host:port); a model without container.image runs `<registry>/<model>:<version>`. */
  kubernetesRegistry: string;
  /** Kubernetes: the port a model replica listens on in its pod (a `clipper build` image: 7000). */
  kubernetesReplicaPort: number;
  /** Kubernetes: how long a deploy waits for its pods to become ready before it fails and is rolled back. */
  kubernetesDeployTimeoutMs: number;
  /** Kubernetes: the Secret (key `secret`) holding the replica secret the pods get; '' = clipper-<clusterName>-replica-secret. */
  kubernetesReplicaSecret: string;
  /** Kubernetes: this frontend's name in the manager's Lease; '' = $HOSTNAME (the pod's name) and the process id. */
  kubernetesIdentity: string;
  /** State store URL: 'memory:' (default) or 'redis://host:port'. */
  state: string;
  /** Cluster name: the namespace of keys in a shared state store. */
  clusterName: string;
  /**
   * Where the selection worker (bandit policies, docs/selection.md) runs: 'own' thread, inside
   * batching thread 0 ('batching'), or 'auto': its own thread when the cores leave room for one
   * beyond the main thread and the batching threads, else inside batching thread 0.
   */
  selectionThread: 'auto' | 'own' | 'batching';
  /** Seed of the query path's PRNG that samples models (reproducible selection). */
  selectionSeed: number;
  /** Per-user selection states kept in memory per personalised app (LRU). */
  selectionUserStatesMax: number;
  /**
   * Absolute directories a model's files (container.entry, container.folder) must lie in, after
   * resolving symlinks (src/model_dirs.ts). Default: the upload dir ($CLIPPER_MODELS_DIR or
   * ~/.clipper/models) and this package's example models.
   */
  modelDirs: string[];
  /**
   * Replicas prove they hold the cluster's secret in the handshake (containers/PROTOCOL.md):
   * 'required' (default), or 'off' for containers that cannot (Clipper's own).
   */
  replicaAuth: 'required' | 'off';
  /**
   * A file holding the replica secret (hex, >= 32 bytes), shared by frontends. '': for a Docker
   * cluster (containers 'docker') with a Redis state store, ~/.clipper/replica_secret-<clusterName>
   * (made on first use, kept across restarts); otherwise random per start.
   */
  replicaSecretFile: string;
  /**
   * How often (ms) the reactive tuner reads each planned pipeline's arrival rate and, when it has left
   * the plan's envelope, changes replicas (docs/pipelines.md "Reactive tuning"); 0 turns it off.
   */
  pipelineTuneIntervalMs: number;
  /** Time constant (ms) of the reactive tuner's moving average of an app's arrival rate. */
  pipelineTuneWindowMs: number;
}

export const kDefaultConfig: Readonly<ClipperConfig> = Object.freeze({
  host: '127.0.0.1',
  queryPort: 1337,
  adminPort: 1338,
  adminHost: '',
  adminToken: '',
  adminTokenFile: '',
  tlsCertFile: '',
  tlsKeyFile: '',
  batchingThreads: defaultBatchingThreads(os.availableParallelism(), startupFrontendThreads(os.availableParallelism())),
  frontendThreads: startupFrontendThreads(os.availableParallelism()),
  frontendAccept: 'acceptor',
  ringBytes: 4 * 1024 * 1024,
  // Polling the ring ~1k times before sleeping cuts a hand-off to ~1 µs when the other thread answers
  // at once, but on a machine of 2 cores the spinner steals the core the replica and the load
  // generator need: measured here (docs/benchmarks.md), 0 gave ~10% more throughput at c=64 and no
  // worse c=1 latency.
  ringSpinCount: os.availableParallelism() > 2 ? 1000 : 0,
  // Waking a parked thread costs ~25 µs per hand-off on this VM; at light load (a few queries open,
  // quick replicas) the main thread and the workers poll instead: c=1 p50 ~155 → ~70 µs, and no
  // change for a model that computes for long (docs/benchmarks.md §1, "What changed").
  ringPollUs: 200,
  bodyBytesMax: 16 * 1024 * 1024,
  sloMicrosMax: 60_000_000,
  oipTimeoutMsDefault: 1000,
  batchSizeMax: kDefaultSchedulerOptions.batchSizeCap,
  inFlightBatchesPerReplica: kDefaultSchedulerOptions.inFlightPerReplica,
  inFlightTimeoutMs: kDefaultSchedulerOptions.inFlightTimeoutMs,
  batchWaitMs: kDefaultSchedulerOptions.batchWaitMs,
  queueBound: kDefaultSchedulerOptions.queueBound,
  cacheBytesMax: 32 * 1024 * 1024,
  heartbeatMs: 1000,
  defaultReplicas: 1,
  containers: 'local',
  dockerHost: '',
  kubeconfig: '',
  kubernetesProxyAddr: '',
  kubernetesNamespace: '',
  kubernetesImagePullSecrets: [],
  kubernetesRegistry: '',
  kubernetesReplicaPort: 7000,
  kubernetesDeployTimeoutMs: 300_000,
  kubernetesReplicaSecret: '',
  kubernetesIdentity: '',
  state: 'memory:',
  clusterName: 'default',
  selectionThread: 'auto',
  selectionSeed: 0x5e1ec7,
  selectionUserStatesMax: 10_000,
  modelDirs: defaultModelDirs(),
  replicaAuth: 'required',
  replicaSecretFile: '',
  pipelineTuneIntervalMs: 1000,
  pipelineTuneWindowMs: 3000,
});

/** The options whose value is one of a few strings (resolveConfig checks them; the CLI lists them). */
export const kConfigEnums: Readonly<Partial<Record<keyof ClipperConfig, readonly string[]>>> = Object.freeze({
  containers: Object.freeze(['local', 'docker', 'kubernetes']),
  selectionThread: Object.freeze(['auto', 'own', 'batching']),
  replicaAuth: Object.freeze(['required', 'off']),
  frontendAccept: Object.freeze(['reuseport', 'acceptor']),
});

/** The numeric options that take fractions; every other numeric option is an integer. */
export const kConfigFractional: ReadonlySet<keyof ClipperConfig> = new Set(['batchWaitMs']);

const checks = new OptionChecks('config');

/** Defaults overlaid with the overrides, each checked; the result is frozen. */
export function resolveConfig(overrides: Partial<ClipperConfig> = {}): Readonly<ClipperConfig> {
  const config = withDefaults(checks, kDefaultConfig, overrides);
  // The upload dir's default follows $CLIPPER_MODELS_DIR as it is now, not at import.
  if (overrides.modelDirs === undefined) config.modelDirs = defaultModelDirs();
  else if (Array.isArray(config.modelDirs)) config.modelDirs = Object.freeze([...config.modelDirs]) as string[];
  fillThreadDefaults(config, overrides, os.availableParallelism()); // so do the thread counts ($CLIPPER_FRONTEND_THREADS)
  if (Array.isArray(config.kubernetesImagePullSecrets)) {
    config.kubernetesImagePullSecrets = Object.freeze([...config.kubernetesImagePullSecrets]) as string[];
  }
  checkServing(config);
  checkAdminExposure(config);
  checkBatching(config);
  checkPlacement(config);
  return Object.freeze(config);
}

function checkServing(config: ClipperConfig): void {
  if (typeof config.host !== 'string' || config.host === '') checks.fail('host', 'must be a non-empty string', config.host);
  checks.int('queryPort', config.queryPort, 0, 65535);
  checks.int('adminPort', config.adminPort, 0, 65535);
  checks.int('bodyBytesMax', config.bodyBytesMax, 1024, 1 << 30);
  checks.int('sloMicrosMax', config.sloMicrosMax, 1000, 3_600_000_000);
  checks.int('oipTimeoutMsDefault', config.oipTimeoutMsDefault, 1, 3_600_000);
  checks.int('cacheBytesMax', config.cacheBytesMax, 0, 1 << 30);
  if (config.cacheBytesMax !== 0 && config.cacheBytesMax < kCacheBytesMin) {
    checks.fail('cacheBytesMax', `must be 0 (off) or at least ${kCacheBytesMin}`, config.cacheBytesMax);
  }
  checks.oneOf('selectionThread', config.selectionThread, kConfigEnums.selectionThread!);
  checks.int('selectionSeed', config.selectionSeed, -2147483648, 4294967295);
  checks.int('selectionUserStatesMax', config.selectionUserStatesMax, 1, 10_000_000);
  checks.int('pipelineTuneIntervalMs', config.pipelineTuneIntervalMs, 0, 3_600_000);
  if (config.pipelineTuneIntervalMs > 0 && config.pipelineTuneIntervalMs < 10) {
    checks.fail('pipelineTuneIntervalMs', 'must be 0 (off) or at least 10', config.pipelineTuneIntervalMs);
  }
  checks.int('pipelineTuneWindowMs', config.pipelineTuneWindowMs, 10, 3_600_000);
}

/** The interface the management API binds: adminHost, else host. */
export function adminHostOf(config: Readonly<ClipperConfig>): string {
  return config.adminHost === '' ? config.host : config.adminHost;
}

/** Admin token and TLS options; a management API that would face the network without a token is refused. */
function checkAdminExposure(config: ClipperConfig): void {
  for (const option of ['adminHost', 'adminToken', 'adminTokenFile', 'tlsCertFile', 'tlsKeyFile'] as const) {
    if (typeof config[option] !== 'string') checks.fail(option, 'must be a string', config[option]);
  }
  if (config.adminToken !== '' && config.adminTokenFile !== '') {
    checks.fail('adminTokenFile', 'cannot be set together with adminToken; set one of them', config.adminTokenFile);
  }
  if (config.adminToken !== '' && !/^[\x21-\x7e]{16,}$/.test(config.adminToken)) {
    checks.fail('adminToken', 'must be at least 16 printable ASCII characters without spaces', '(hidden)');
  }
  if ((config.tlsCertFile === '') !== (config.tlsKeyFile === '')) {
    const [set, unset] = config.tlsCertFile === '' ? ['tlsKeyFile', 'tlsCertFile'] : ['tlsCertFile', 'tlsKeyFile'];
    checks.fail(unset, `must be set with ${set} (both or neither)`, '');
  }
  const adminHost = adminHostOf(config);
  if (!isLoopbackHost(adminHost) && config.adminToken === '' && config.adminTokenFile === '') {
    checks.fail(
      config.adminHost === '' ? 'host' : 'adminHost',
      `puts the management API, which can start programs on this machine, on ${adminHost}, which is not a loopback ` +
        'address, and no admin token is set: give one with --admin-token or --admin-token-file (CLIPPER_ADMIN_TOKEN, ' +
        'CLIPPER_ADMIN_TOKEN_FILE), or keep the management API on loopback with --admin-host 127.0.0.1',
      adminHost,
    );
  }
}

function checkBatching(config: ClipperConfig): void {
  checks.int('batchingThreads', config.batchingThreads, 1, 256);
  checks.int('frontendThreads', config.frontendThreads, 1, kFrontendThreadsMax);
  checks.oneOf('frontendAccept', config.frontendAccept, kConfigEnums.frontendAccept!);
  checks.int('ringBytes', config.ringBytes, 64 * 1024, 1 << 30);
  if ((config.ringBytes & (config.ringBytes - 1)) !== 0) checks.fail('ringBytes', 'must be a power of two', config.ringBytes);
  checks.int('ringSpinCount', config.ringSpinCount, 0, 1_000_000);
  checks.int('ringPollUs', config.ringPollUs, 0, 1_000_000);
  checks.int('batchSizeMax', config.batchSizeMax, 1, 65536);
  checks.int('inFlightBatchesPerReplica', config.inFlightBatchesPerReplica, 1, 1024);
  checks.int('heartbeatMs', config.heartbeatMs, 10, 60_000);
  checks.int('inFlightTimeoutMs', config.inFlightTimeoutMs, 1, 3_600_000);
  checks.number('batchWaitMs', config.batchWaitMs, 0, 1000);
  checks.int('queueBound', config.queueBound, 1, 10_000_000);
}

function checkPlacement(config: ClipperConfig): void {
  checks.int('defaultReplicas', config.defaultReplicas, 0, 1024);
  checks.oneOf('containers', config.containers, kConfigEnums.containers!);
  if (typeof config.dockerHost !== 'string' || !/^(|unix:\/\/\/.+|tcp:\/\/[^/]+|\/.+)$/.test(config.dockerHost)) {
    checks.fail('dockerHost', "must be '' (DOCKER_HOST or the default socket), unix:///path or tcp://host:port", config.dockerHost);
  }
  if (typeof config.state !== 'string' || !/^(memory:|redis:\/\/)/.test(config.state)) {
    checks.fail('state', "must be 'memory:' or a redis:// URL", config.state);
  }
  if (typeof config.clusterName !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(config.clusterName)) {
    checks.fail('clusterName', 'must match [a-z0-9][a-z0-9-]{0,62}', config.clusterName);
  }
  checkExposure(config);
  checkKubernetes(config);
}

function checkExposure(config: ClipperConfig): void {
  const dirs = config.modelDirs as unknown;
  if (!Array.isArray(dirs) || dirs.length === 0 || !dirs.every((d) => typeof d === 'string' && path.isAbsolute(d) && !d.includes('\0'))) {
    checks.fail('modelDirs', 'must be a non-empty list of absolute directories', dirs);
  }
  checks.oneOf('replicaAuth', config.replicaAuth, kConfigEnums.replicaAuth!);
  if (typeof config.replicaSecretFile !== 'string' || (config.replicaSecretFile !== '' && !path.isAbsolute(config.replicaSecretFile))) {
    checks.fail(
      'replicaSecretFile',
      "must be '' (the default: see docs/reliability.md §6) or an absolute file path",
      config.replicaSecretFile,
    );
  }
}

/** A string option that is '' (its default is worked out at start) or a name matching `pattern`. */
function checkOptionalName(checks: OptionChecks, option: keyof ClipperConfig, value: unknown, pattern: RegExp, meaning: string): void {
  if (typeof value !== 'string' || (value !== '' && !pattern.test(value))) checks.fail(option, meaning, value);
}

/** The Kubernetes manager's options (containers/kubernetes/): names as Kubernetes accepts them. */
function checkKubernetes(config: ClipperConfig): void {
  for (const option of ['kubeconfig', 'kubernetesProxyAddr', 'kubernetesRegistry', 'kubernetesIdentity'] as const) {
    if (typeof config[option] !== 'string') checks.fail(option, 'must be a string', config[option]);
  }
  if (config.kubeconfig !== '' && config.kubernetesProxyAddr !== '') {
    checks.fail('kubernetesProxyAddr', 'cannot be set together with kubeconfig; give one of them', config.kubernetesProxyAddr);
  }
  if (config.kubernetesProxyAddr !== '' && !/^(http:\/\/)?[^/\s]+:[0-9]{1,5}\/?$/.test(config.kubernetesProxyAddr)) {
    checks.fail('kubernetesProxyAddr', 'must be host:port or http://host:port of a `kubectl proxy`', config.kubernetesProxyAddr);
  }
  checkOptionalName(
    checks,
    'kubernetesNamespace',
    config.kubernetesNamespace,
    kDns1123Label,
    "must be '' (from the kubeconfig or service account) or a namespace name ([a-z0-9-], at most 63)",
  );
  const pullSecrets = config.kubernetesImagePullSecrets as unknown;
  if (!Array.isArray(pullSecrets) || !pullSecrets.every((s) => typeof s === 'string' && kDns1123Subdomain.test(s))) {
    checks.fail('kubernetesImagePullSecrets', 'must be a list of Secret names (lower-case letters, digits, - and .)', pullSecrets);
  }
  if (config.kubernetesRegistry !== '' && !/^[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[a-z0-9._-]+)*\/?$/.test(config.kubernetesRegistry)) {
    checks.fail(
      'kubernetesRegistry',
      "must be '' or a registry host[:port][/path], as given to clipper build --registry",
      config.kubernetesRegistry,
    );
  }
  checks.int('kubernetesReplicaPort', config.kubernetesReplicaPort, 1, 65535);
  checks.int('kubernetesDeployTimeoutMs', config.kubernetesDeployTimeoutMs, 100, 86_400_000);
  checkOptionalName(
    checks,
    'kubernetesReplicaSecret',
    config.kubernetesReplicaSecret,
    kDns1123Subdomain,
    "must be '' (clipper-<clusterName>-replica-secret) or a Secret name",
  );
  // Pods read the secret from the Kubernetes Secret; a frontend must hold the same one (mounted as a file).
  // A model with container.manager kubernetes on another cluster is checked when it deploys (manager_router.ts).
  if (config.containers === 'kubernetes' && config.replicaAuth === 'required' && config.replicaSecretFile === '') {
    checks.fail('replicaSecretFile', kReplicaSecretFileRule, '');
  }
}

/** The scheduler options a cluster's configuration sets (batchSize comes from each model). */
export function schedulerOptionsOf(config: Readonly<ClipperConfig>): ConfiguredSchedulerOptions {
  return {
    batchSizeCap: config.batchSizeMax,
    batchWaitMs: config.batchWaitMs,
    queueBound: config.queueBound,
    inFlightPerReplica: config.inFlightBatchesPerReplica,
    inFlightTimeoutMs: config.inFlightTimeoutMs,
  };
}
