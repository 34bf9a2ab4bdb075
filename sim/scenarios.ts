// Named simulator scenarios (shared by the tests, the CLI and bench/sim_batching.ts). The reference
// container has t(n) = 2 ms + 0.05 ms * n with 5% Gaussian noise, and the SLO is 20 ms, so the largest batch
// that meets the SLO is n* = 360 and the best possible throughput n* / t(n*) is 18 queries per ms.

import type { SimConfig } from './simulator.js';
import type { SimContainerModel } from './sim_container.js';

export const kReferenceModel: Readonly<SimContainerModel> = Object.freeze({ baseMs: 2, perItemMs: 0.05, noiseFraction: 0.05 });
export const kReferenceSloMs = 20;
export const kBestBatchSize = Math.floor((kReferenceSloMs - kReferenceModel.baseMs) / kReferenceModel.perItemMs);
export const kBestRatePerMs = kBestBatchSize / (kReferenceModel.baseMs + kReferenceModel.perItemMs * kBestBatchSize);

const aimd = { batchSize: -1, batchSizeCap: 1024 };

function base(seed: number, loadFactor: number): SimConfig {
  return {
    seed,
    durationMs: 5000,
    warmupMs: 1000,
    sloMs: kReferenceSloMs,
    arrival: { kind: 'poisson', ratePerMs: loadFactor * kBestRatePerMs },
    replicas: [kReferenceModel],
    scheduler: aimd,
  };
}

export const kScenarios: Record<string, (seed: number) => SimConfig> = {
  /** 2x the best possible throughput, one replica, AIMD. */
  overload_aimd: (seed) => base(seed, 2),
  /**
   * 2x load; the replica is 3x slower for 100 ms at 2 s (a stall of a shared machine). Before the fix of
   * docs/reliability.md §2 seed 3 fell for good into batches of one (0.5 queries/ms).
   */
  overload_stall_aimd: (seed) => ({
    ...base(seed, 2),
    events: [
      { atMs: 2000, kind: 'slowdown', replicaIndex: 0, factor: 3 },
      { atMs: 2100, kind: 'slowdown', replicaIndex: 0, factor: 1 },
    ],
  }),
  /** 2x load on a fixed batch size of n* = 360. Before that fix seed 1 ran in batches of 1-7 from the start. */
  overload_fixed360: (seed) => ({ ...base(seed, 2), scheduler: { batchSize: kBestBatchSize, batchSizeCap: 1024 } }),
  /** Offered load equal to the best possible throughput. */
  saturate_aimd: (seed) => base(seed, 1),
  /** 1.5x load; the replica becomes 2x slower at 3 s and recovers at 6 s. */
  slowdown_aimd: (seed) => ({
    ...base(seed, 1.5),
    durationMs: 9000,
    events: [
      { atMs: 3000, kind: 'slowdown', replicaIndex: 0, factor: 2 },
      { atMs: 6000, kind: 'slowdown', replicaIndex: 0, factor: 1 },
    ],
  }),
  /** Bursty arrivals: mean 60% of capacity, bursts at 3x the mean. */
  bursty_aimd: (seed) => ({
    ...base(seed, 0.6),
    arrival: { kind: 'bursty', ratePerMs: 0.6 * kBestRatePerMs, burstFactor: 3, onMeanMs: 20, offMeanMs: 60 },
  }),
  /** Three replicas at 2x one replica's capacity; one dies at 2 s (noticed 5 ms later), a new one joins at 3 s. */
  replica_churn: (seed) => ({
    ...base(seed, 2),
    replicas: [kReferenceModel, kReferenceModel, kReferenceModel],
    scheduler: { ...aimd, inFlightTimeoutMs: 100 },
    events: [
      { atMs: 2000, kind: 'kill', replicaIndex: 0, detectMs: 5 },
      { atMs: 3000, kind: 'add', model: kReferenceModel },
    ],
  }),
  /** A replica hangs (never answers, never removed): the in-flight timeout moves its work. */
  replica_hang: (seed) => ({
    ...base(seed, 0.8),
    replicas: [kReferenceModel, kReferenceModel],
    scheduler: { ...aimd, inFlightTimeoutMs: 50 },
    events: [{ atMs: 2000, kind: 'kill', replicaIndex: 0, detectMs: 1e9 }],
  }),
  /**
   * AIMD in isolation: a fixed 10 ms batch budget and a loose SLO (200 ms), so every batch is limited by
   * batchSizeMax; the replica is 2x slower from 4 s to 8 s. Budget-implied sizes: 160, then 60.
   */
  aimd_convergence: (seed) => ({
    ...base(seed, 1.5),
    durationMs: 12_000,
    sloMs: 200,
    scheduler: { ...aimd, aimd: { latencyBudgetUs: 10_000 } },
    events: [
      { atMs: 4000, kind: 'slowdown', replicaIndex: 0, factor: 2 },
      { atMs: 8000, kind: 'slowdown', replicaIndex: 0, factor: 1 },
    ],
  }),
  /** Moderate load (50%), delayed batching off / on. */
  moderate_nowait: (seed) => base(seed, 0.5),
  moderate_wait: (seed) => ({ ...base(seed, 0.5), scheduler: { ...aimd, batchWaitMs: 2 } }),
  /** Moderate load (50% of one replica) spread over 4 replicas, which are mostly idle: off / on. */
  spread_nowait: (seed) => ({ ...base(seed, 0.5), replicas: [kReferenceModel, kReferenceModel, kReferenceModel, kReferenceModel] }),
  /** 2x load, one replica: a quarter of the queries are urgent (priority 8), the rest normal. */
  priority_overload: (seed) => ({
    ...base(seed, 2),
    priorityMix: [
      { priority: 8, share: 0.25 },
      { priority: 0, share: 0.75 },
    ],
  }),
  /** Three priorities at 90% of capacity in bursts (3x), delayed batching on: fills and waits across levels. */
  priority_levels_wait: (seed) => ({
    ...base(seed, 0.9),
    arrival: { kind: 'bursty', ratePerMs: 0.9 * kBestRatePerMs, burstFactor: 3, onMeanMs: 20, offMeanMs: 60 },
    scheduler: { ...aimd, batchWaitMs: 2 },
    priorityMix: [
      { priority: 15, share: 0.1 },
      { priority: 5, share: 0.3 },
      { priority: 0, share: 0.6 },
    ],
  }),
  spread_wait: (seed) => ({
    ...base(seed, 0.5),
    replicas: [kReferenceModel, kReferenceModel, kReferenceModel, kReferenceModel],
    scheduler: { ...aimd, batchWaitMs: 2 },
  }),
};
