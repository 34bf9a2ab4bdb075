// Cluster configuration: the one home of its defaults (those it shares with the batching scheduler
// are read from the scheduler's, batching/scheduler_options.ts), validation whose messages name the option (lib/options.ts), a frozen result.

import os from 'node:os';
import { kDefaultSchedulerOptions, type ConfiguredSchedulerOptions } from './batching/scheduler_options.js';
import { kCacheBytesMin } from './cache/prediction_cache.js';
import { OptionChecks, withDefaults } from './lib/options.js';

export interface ClipperConfig {
  /** Interface both servers bind (127.0.0.1 by default; never 0.0.0.0 unless asked). */
  host: string;
  queryPort: number;
  adminPort: number;
  /** Batching worker threads (piscina). Default: cores - 1, at least 1. */
  batchingThreads: number;
  /** Bytes of each query and reply ring (power of two). */
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
   * Where replicas run when a model's container spec does not say: 'local' processes (default) or
   * 'docker' containers. Docker is also used per model (`"container": {"manager": "docker"}`).
   */
  containers: 'local' | 'docker';
  /** The Docker engine: '' for $DOCKER_HOST or unix:///var/run/docker.sock; or unix:///path, tcp://host:port. */
  dockerHost: string;
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
}

export const kDefaultConfig: Readonly<ClipperConfig> = Object.freeze({
  host: '127.0.0.1',
  queryPort: 1337,
  adminPort: 1338,
  batchingThreads: Math.max(1, os.availableParallelism() - 1),
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
  state: 'memory:',
  clusterName: 'default',
  selectionThread: 'auto',
  selectionSeed: 0x5e1ec7,
  selectionUserStatesMax: 10_000,
});

/** The options whose value is one of a few strings (resolveConfig checks them; the CLI lists them). */
export const kConfigEnums: Readonly<Partial<Record<keyof ClipperConfig, readonly string[]>>> = Object.freeze({
  containers: Object.freeze(['local', 'docker']),
  selectionThread: Object.freeze(['auto', 'own', 'batching']),
});

/** The numeric options that take fractions; every other numeric option is an integer. */
export const kConfigFractional: ReadonlySet<keyof ClipperConfig> = new Set(['batchWaitMs']);

const checks = new OptionChecks('config');

/** Defaults overlaid with the overrides, each checked; the result is frozen. */
export function resolveConfig(overrides: Partial<ClipperConfig> = {}): Readonly<ClipperConfig> {
  const config = withDefaults(checks, kDefaultConfig, overrides);
  checkServing(config);
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
}

function checkBatching(config: ClipperConfig): void {
  checks.int('batchingThreads', config.batchingThreads, 1, 256);
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
