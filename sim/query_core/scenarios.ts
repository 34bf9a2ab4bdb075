// Named query-core simulator scenarios (shared by the tests and the CLI, sim/run_core.ts).
// Two models: a fast one (batches of up to 32 in 1 ms + 0.02 ms per query: ~19 queries/ms) and a
// slow one (up to 16 in 5 ms + 0.1 ms per query: ~2.4 queries/ms). Four apps: two on the fast model
// with the same SLO (they share one deadline FIFO), one on the slow model, one with no model.

import type { CoreSimConfig, SimApp } from './config.js';
import type { SimFaults, SimModelSpec } from './sim_pool.js';

const kModels: SimModelSpec[] = [
  { name: 'fast', baseMs: 1, perItemMs: 0.02, noiseFraction: 0.1, batchMax: 32 },
  { name: 'slow', baseMs: 5, perItemMs: 0.1, noiseFraction: 0.2, batchMax: 16 },
];

const kApps: SimApp[] = [
  { name: 'fast_ints', sloMs: 20, model: 0, input: 'integers' },
  { name: 'fast_bytes', sloMs: 20, model: 0, input: 'bytes' },
  { name: 'slow_strings', sloMs: 50, model: 1, input: 'strings' },
  { name: 'no_model', sloMs: 10, model: null, input: 'integers' },
];

const kNoFaults: SimFaults = { modelErrorShare: 0, replicaFailedShare: 0, lateShare: 0, dropShare: 0 };
const kSomeFaults: SimFaults = { modelErrorShare: 0.05, replicaFailedShare: 0.02, lateShare: 0.05, dropShare: 0.05 };

function base(name: string, seed: number): CoreSimConfig {
  return {
    name,
    seed,
    durationMs: 1500,
    arrival: { kind: 'poisson', ratePerMs: 2 },
    apps: kApps,
    models: kModels,
    ringRecordsMax: 256,
    faults: kNoFaults,
    cacheBytesMax: 1 << 20,
    repeatShare: 0.3,
    hotInputCount: 50,
    offSloShare: 0.1,
    repeatLastShare: 0,
    cancelShare: 0.05,
    cancelDelayMsMax: 10,
    requestInputsMax: 1,
  };
}

export const kCoreScenarios: Record<string, (seed: number) => CoreSimConfig> = {
  /** Light load, healthy workers: mostly model answers and cache hits. */
  steady: (seed) => base('steady', seed),
  /** Replies that fail, come after the deadline or never come. */
  faults: (seed) => ({ ...base('faults', seed), faults: kSomeFaults }),
  /** 6x the slow model's capacity through small rings: the core sheds, workers find deadlines unreachable. */
  overload: (seed) => ({
    ...base('overload', seed),
    arrival: { kind: 'bursty', ratePerMs: 12, burstFactor: 3, onMeanMs: 20, offMeanMs: 40 },
    ringRecordsMax: 128,
    faults: { ...kSomeFaults, lateShare: 0.01, dropShare: 0.01 },
  }),
  /** Half the queries cancelled, many of them identical (owners cancelled under their waiters). */
  cancels: (seed) => ({ ...base('cancels', seed), cancelShare: 0.5, cancelDelayMsMax: 4, repeatLastShare: 0.3, faults: kSomeFaults }),
  /** Mostly request SLOs that are not the app's: the deadline heap orders them. */
  off_slo: (seed) => ({ ...base('off_slo', seed), offSloShare: 0.7, faults: kSomeFaults }),
  /** Identical queries in quick succession and failing owners: waiters must dispatch themselves when their owner fails. */
  coalesce: (seed) => ({
    ...base('coalesce', seed),
    repeatShare: 0.5,
    hotInputCount: 20,
    repeatLastShare: 0.6,
    offSloShare: 0.3,
    cancelShare: 0.1,
    faults: { modelErrorShare: 0.15, replicaFailedShare: 0.05, lateShare: 0.1, dropShare: 0.2 },
  }),
  /** The cache off: identical inputs go to the workers each time. */
  cache_off: (seed) => ({ ...base('cache_off', seed), cacheBytesMax: 0, repeatShare: 0.5, faults: kSomeFaults }),
  /** Requests of up to 4 inputs through the query pipeline, cancelled whole, with repeated inputs. */
  pipeline: (seed) => ({
    ...base('pipeline', seed),
    requestInputsMax: 4,
    repeatLastShare: 0.3,
    offSloShare: 0.3,
    cancelShare: 0.2,
    faults: kSomeFaults,
  }),
  /** The core shuts down mid-run: everything open is answered at once, later queries at submit. */
  shutdown: (seed) => ({ ...base('shutdown', seed), closeAtMs: 700, faults: kSomeFaults }),
};
