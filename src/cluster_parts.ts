// What the composition root (cluster.ts) derives from the configuration before it builds the parts:
// the replicas' secret, the container managers' and the batching pool's options, a frontend's reply
// ring settings, the state store.

import type { BatchingPoolOptions } from './batching/pool.js';
import type { ClusterOptions } from './cluster.js';
import type { ClipperConfig } from './config.js';
import { dockerHostOf } from './containers/docker/engine.js';
import type { KubernetesManagerOptions } from './containers/kubernetes/kubernetes_manager.js';
import type { ManagerRouter } from './containers/manager_router.js';
import { defaultReplicaSecretFile, kReplicaSecretEnv, loadOrCreateReplicaSecret, loadReplicaSecret } from './rpc/replica_auth.js';
import { MemoryStateStore } from './state/memory_store.js';
import type { StateStore } from './state/state_store.js';

/**
 * The replicas' secret: from config.replicaSecretFile; else, for a Docker cluster whose state outlives
 * the server (Redis), from a file kept per cluster name (made on first use), so the containers it
 * adopts after a restart still authenticate; else fresh random bytes (local replicas die with the
 * server, and with memory: state nothing survives a restart).
 */
export function replicaSecretOf(config: Readonly<ClipperConfig>): Promise<Buffer> {
  if (config.replicaSecretFile !== '') return loadReplicaSecret(config.replicaSecretFile);
  if (config.state === 'memory:' || config.containers !== 'docker') return loadReplicaSecret('');
  return loadOrCreateReplicaSecret(defaultReplicaSecretFile(config.clusterName));
}

/** The Kubernetes manager's options from the configuration (containers/kubernetes/kubernetes_manager.ts). */
export function kubernetesOptionsOf(
  config: Readonly<ClipperConfig>,
): Omit<KubernetesManagerOptions, 'clusterName' | 'wantedModels' | 'log'> {
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
export async function openStore(config: Readonly<ClipperConfig>): Promise<StateStore> {
  if (config.state === 'memory:') return new MemoryStateStore();
  const { createStateStore } = await import('./state/open_store.js');
  return createStateStore(config.state, config.clusterName);
}

/** The container managers' options (ManagerRouter): the replicas get the secret in their environment. */
export function managerOptionsOf(
  config: Readonly<ClipperConfig>,
  options: ClusterOptions,
  secretHex: string,
  wantedModels: () => Set<string>,
): ConstructorParameters<typeof ManagerRouter>[1] {
  return {
    defaultManager: config.containers,
    clusterName: config.clusterName,
    dockerHost: dockerHostOf(config.dockerHost),
    localProcess: { ...options.localProcess, env: { ...options.localProcess?.env, [kReplicaSecretEnv]: secretHex } },
    docker: { ...options.docker, replicaSecretHex: secretHex },
    kubernetes: { ...kubernetesOptionsOf(config), ...options.kubernetes },
    ...(options.log !== undefined ? { log: options.log } : {}),
    wantedModels,
    modelDirs: config.modelDirs,
  };
}

/**
 * A frontend polls its reply rings (config.ringPollUs) only while at most this many of its queries are
 * open: a lightly loaded server, where a core is free to spend and each query would otherwise pay for
 * waking the frontend's thread. Under load queries are many and a frontend never polls.
 */
export const kPollPendingMax = 16;

/**
 * A frontend's polls of an empty reply ring before its doorbell sleeps, at most: its thread also
 * parses and answers HTTP, so it spins less than a batching worker may (config.ringSpinCount).
 */
const kFrontendSpinCountMax = 200;

/** How a frontend reads its reply rings: the main thread's with one frontend, each frontend thread's (FrontendInit.query). */
export interface FrontendRingSettings {
  ringSpinCount: number;
  ringPollUs: number;
  pollPendingMax: number;
}

export function frontendRingOf(config: Readonly<ClipperConfig>): FrontendRingSettings {
  return {
    ringSpinCount: Math.min(config.ringSpinCount, kFrontendSpinCountMax),
    ringPollUs: config.ringPollUs,
    pollPendingMax: kPollPendingMax,
  };
}

/** The batching pool's options; `mainPendingCount`: the queries open in the main thread's own frontend (one frontend). */
export function poolOptionsOf(config: Readonly<ClipperConfig>, secretHex: string, mainPendingCount: () => number): BatchingPoolOptions {
  const ring = frontendRingOf(config);
  return {
    threads: config.batchingThreads,
    ringBytes: config.ringBytes,
    spinCountWorker: config.ringSpinCount,
    spinCountMain: ring.ringSpinCount,
    pollUsMain: ring.ringPollUs,
    // A worker's wait is a replica round trip, a part of the main thread's whole cycle: half the window.
    pollUsWorker: Math.round(config.ringPollUs / 2),
    shouldPollMain: () => mainPendingCount() <= ring.pollPendingMax,
    connection: {
      heartbeatMs: config.heartbeatMs,
      livenessTimeoutMs: 5 * config.heartbeatMs,
      handshakeTimeoutMs: 5000,
      reconnectDelayMsMin: 100,
      reconnectDelayMsMax: 5000,
    },
    // A copy with its own buffer: it is cloned to each worker with add_replica.
    replicaSecret: config.replicaAuth === 'required' ? new Uint8Array(Buffer.from(secretHex, 'hex')) : null,
    // Frontend threads: a query core and rings per thread, none on the main thread.
    frontends: config.frontendThreads,
    mainFrontend: config.frontendThreads === 1,
  };
}
