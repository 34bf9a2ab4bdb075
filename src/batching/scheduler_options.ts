// ModelScheduler options: defaults, and validation that names the option (`scheduler.<option>`).

import { kDefaultAimdOptions, type AimdOptions } from './aimd_controller.js';
import type { LatencyModelOptions } from './latency_model.js';
import { OptionChecks, withDefaults } from '../lib/options.js';

export interface SchedulerOptions {
  /** -1 = adaptive (AIMD, per replica); > 0 = fixed maximum batch size (Clipper's batch_size). */
  batchSize: number;
  /** Upper bound of the AIMD batch size. */
  batchSizeCap: number;
  /**
   * Delayed batching: when a replica is free but fewer queries are queued than its batch size, wait up to
   * this long (from the arrival of the earliest-deadline query) for more, never past the point where the
   * earliest deadline could still be met by a full batch. 0 disables it.
   *
   * Default 0 (send at once), as in Clipper's C++ and Triton. The batcher is self-clocking: while a replica
   * is busy the next batch accumulates, so under load batches grow without waiting. Measured in the
   * simulator (bench/sim_batching.ts, t(n) = 2 ms + 0.05 ms n, SLO 20 ms, simulated time): with one replica,
   * waits of 1-2 ms change nothing at 50% load and little at 10%; with 4 mostly idle replicas a 1 ms wait
   * halves the batch count at equal or better p99 but adds up to ~0.8 ms at p50 at low load. Whether fewer,
   * larger batches are worth that depends on the model's fixed per-batch cost, so it is opt-in per model
   * (1 ms is a good value for GPU models or high RPC overhead with several replicas).
   */
  batchWaitMs: number;
  /** Most queries queued for this model; beyond it enqueue rejects with 'queue_full'. */
  queueBound: number;
  /** Batches sent to one replica and not yet answered. */
  inFlightPerReplica: number;
  /** A batch unanswered this long is timed out: its queries are re-queued or failed. */
  inFlightTimeoutMs: number;
  /** Times a query may be re-sent after its replica failed or timed out. */
  retryMax: number;
  /**
   * AIMD batch latency budget as a fraction of the queries' SLO (the deadline slack seen at enqueue,
   * smoothed). The rest of the SLO is left for queueing: a query waits for the batch in progress.
   * Ignored when aimd.latencyBudgetUs is set explicitly.
   */
  sloBudgetFraction: number;
  aimd: Partial<Omit<AimdOptions, 'batchSizeCap'>>;
  latencyModel: Partial<LatencyModelOptions>;
}

/** The options a cluster sets from its configuration. */
export type ConfiguredSchedulerOptions = Pick<
  SchedulerOptions,
  'batchSizeCap' | 'batchWaitMs' | 'queueBound' | 'inFlightPerReplica' | 'inFlightTimeoutMs'
>;

/**
 * Defaults: the one home of every scheduler default. The cluster configuration's defaults for the
 * options it sets (src/config.ts: batchSizeMax, batchWaitMs, queueBound, inFlightBatchesPerReplica,
 * inFlightTimeoutMs) are read from here, so a scheduler built without options behaves as one in a
 * default cluster, and the batching threads never load the cluster's configuration module.
 */
export const kDefaultSchedulerOptions: Readonly<SchedulerOptions> = Object.freeze({
  batchSize: -1,
  batchSizeCap: 64,
  batchWaitMs: 0,
  queueBound: 4096,
  inFlightPerReplica: 1,
  inFlightTimeoutMs: 30_000,
  retryMax: 1,
  sloBudgetFraction: 0.8,
  aimd: {},
  latencyModel: {},
});

const checks = new OptionChecks('scheduler');

export function resolveSchedulerOptions(overrides: Partial<SchedulerOptions> = {}): Readonly<SchedulerOptions> {
  const o = withDefaults(checks, kDefaultSchedulerOptions, overrides);
  if (o.batchSize !== -1) checks.int('batchSize', o.batchSize, 1, 1 << 20);
  checks.int('batchSizeCap', o.batchSizeCap, 1, 1 << 20);
  checks.number('batchWaitMs', o.batchWaitMs, 0, 60_000);
  checks.int('queueBound', o.queueBound, 1, 1 << 24);
  checks.int('inFlightPerReplica', o.inFlightPerReplica, 1, 1024);
  checks.number('inFlightTimeoutMs', o.inFlightTimeoutMs, 0, Number.POSITIVE_INFINITY, '()');
  checks.int('retryMax', o.retryMax, 0, 16);
  checks.number('sloBudgetFraction', o.sloBudgetFraction, 0, 1, '(]');
  const aimdInitial = o.aimd.batchSizeInitial ?? kDefaultAimdOptions.batchSizeInitial;
  if (aimdInitial > o.batchSizeCap) checks.fail('aimd.batchSizeInitial', `must be <= batchSizeCap (${o.batchSizeCap})`, aimdInitial);
  return Object.freeze(o);
}
