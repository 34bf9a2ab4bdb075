// The moves of the planner's search (search.ts), over configurations evaluated by the pipeline
// simulator. An Evaluator runs each distinct configuration once (same seed, same workload: a
// configuration's outcome is a pure function of it) and says whether it meets the SLO.
//
//   grow      InferLine's feasibility phase: from the start configuration, while the SLO is missed,
//             find the bottleneck (the model whose calls failed most, then the busiest) and take the
//             best of: one more replica for it, or another batch size for it (a free move); until the
//             SLO is met, every model is at replicas_max, or 3 steps per model brought no fewer misses
//             (then the configuration with the fewest misses is the answer).
//   shrink    the cost phase: while some model can lose a replica (with any batch size) and the SLO
//             still holds, take the candidate with the lowest p99; stop when none can. At the end no
//             model at more than one replica can lose one at its own batch size.
//   uniform   the hand-tuned baseline: every model at the cluster's default (adaptive) batching and
//             the same replica count, the smallest count from 1 up that meets the SLO.
// Both grow and uniform give up when more replicas stop reducing the misses (kStallStepsPerModel).

import type { PipelineProfile } from './profile.js';
import { type PipelineConfig, type SimOptions, type SimOutcome, simulatePipeline } from './pipeline_sim.js';
import type { PipelineSpec, WorkloadSpec } from '../pipeline_spec.js';

/** Batch sizes the search tries: -1 adaptive (AIMD), then fixed maxima. */
export const kBatchOptions: readonly number[] = [-1, 1, 2, 4, 8, 16, 32];
/** The SLO holds when the p99 is within it and at most this share of queries misses it. */
export const kMissRatioMax = 0.01;

/** The SLO rule every plan, check and table uses: p99 within the SLO and at most kMissRatioMax of the queries missing it. */
export function meetsSloRule(p99Us: number, sloMissRatio: number, sloUs: number): boolean {
  return p99Us <= sloUs && sloMissRatio <= kMissRatioMax;
}
/** grow gives up after this many steps per model without fewer misses. */
const kStallStepsPerModel = 3;

export type ModelSetting = { batchSize: number; replicas: number };
/** Settings in the pipeline's model order. */
export type Settings = readonly ModelSetting[];

export interface Evaluated {
  settings: Settings;
  outcome: SimOutcome;
  meets: boolean;
  cost: number;
}

export class Evaluator {
  readonly models: readonly string[];
  readonly replicasMax: number;
  readonly #spec: PipelineSpec;
  readonly #profile: PipelineProfile;
  readonly #workload: WorkloadSpec;
  readonly #sloUs: number;
  readonly #options: SimOptions;
  readonly #cache = new Map<string, Evaluated>();

  constructor(
    input: { spec: PipelineSpec; profile: PipelineProfile; workload: WorkloadSpec; sloUs: number; replicasMax: number },
    models: readonly string[],
    options: SimOptions,
  ) {
    this.models = models;
    this.replicasMax = input.replicasMax;
    this.#spec = input.spec;
    this.#profile = input.profile;
    this.#workload = input.workload;
    this.#sloUs = input.sloUs;
    this.#options = options;
  }

  /** The seed every simulation of this evaluator runs under. */
  get seed(): number {
    return this.#options.seed;
  }

  /** Distinct configurations simulated so far. */
  get simulationCount(): number {
    return this.#cache.size;
  }

  config(settings: Settings): PipelineConfig {
    return { models: new Map(this.models.map((m, i) => [m, { ...settings[i]! }])) };
  }

  evaluate(settings: Settings): Evaluated {
    const key = settings.map((s) => `${s.batchSize}x${s.replicas}`).join(',');
    let e = this.#cache.get(key);
    if (e === undefined) {
      const outcome = simulatePipeline(this.#spec, this.#profile, this.config(settings), this.#workload, this.#sloUs, this.#options);
      const meets = meetsSloRule(outcome.p99Us, outcome.sloMissRatio, this.#sloUs);
      e = { settings, outcome, meets, cost: settings.reduce((a, s) => a + s.replicas, 0) };
      this.#cache.set(key, e);
    }
    return e;
  }
}

export function withSetting(settings: Settings, i: number, change: Partial<ModelSetting>): ModelSetting[] {
  return settings.map((s, j) => (j === i ? { ...s, ...change } : { ...s }));
}

/** Better of two: meets the SLO, then fewer misses, then fewer replicas, then lower p99 (first on a tie). */
function better(a: Evaluated, b: Evaluated): Evaluated {
  if (a.meets !== b.meets) return a.meets ? a : b;
  if (a.outcome.sloMissRatio !== b.outcome.sloMissRatio) return a.outcome.sloMissRatio < b.outcome.sloMissRatio ? a : b;
  if (a.cost !== b.cost) return a.cost < b.cost ? a : b;
  return b.outcome.p99Us < a.outcome.p99Us ? b : a;
}

/** The model to relieve: the most failed calls, then the highest utilization, then the first; -1 when all are at the maximum. */
export function bottleneck(ev: Evaluator, at: Evaluated): number {
  let best = -1;
  let bestKey: [number, number] = [-1, -1];
  ev.models.forEach((m, i) => {
    if (at.settings[i]!.replicas >= ev.replicasMax) return;
    const key: [number, number] = [at.outcome.missesByModel.get(m) ?? 0, at.outcome.utilization.get(m) ?? 0];
    if (key[0] > bestKey[0] || (key[0] === bestKey[0] && key[1] > bestKey[1])) {
      best = i;
      bestKey = key;
    }
  });
  return best;
}

export function grow(ev: Evaluator, start: Settings): Evaluated {
  let at = ev.evaluate(start);
  let best = at;
  // Replicas that stop reducing the misses cannot meet the SLO (noise, budgets): give up after a while.
  let stalled = 0;
  while (!at.meets && stalled < kStallStepsPerModel * ev.models.length) {
    const i = bottleneck(ev, at);
    if (i < 0) break;
    const current = at.settings[i]!;
    let next = ev.evaluate(withSetting(at.settings, i, { replicas: current.replicas + 1 }));
    for (const batchSize of kBatchOptions) {
      if (batchSize !== current.batchSize) next = better(next, ev.evaluate(withSetting(at.settings, i, { batchSize })));
    }
    // A free move (another batch size) must improve; else the replica is added.
    if (next.cost === at.cost && better(at, next) === at)
      next = ev.evaluate(withSetting(at.settings, i, { replicas: current.replicas + 1 }));
    at = next;
    stalled = at.outcome.sloMissRatio < best.outcome.sloMissRatio || at.meets ? 0 : stalled + 1;
    best = better(best, at) === at || at.meets ? at : best;
  }
  return at.meets ? at : best;
}

export function shrink(ev: Evaluator, start: Evaluated): Evaluated {
  let at = start;
  for (;;) {
    let pick: Evaluated | null = null;
    at.settings.forEach((s, i) => {
      if (s.replicas <= 1) return;
      // The model's own batch size first: on equal p99 it is kept.
      for (const batchSize of [s.batchSize, ...kBatchOptions.filter((b) => b !== s.batchSize)]) {
        const e = ev.evaluate(withSetting(at.settings, i, { replicas: s.replicas - 1, batchSize }));
        if (e.meets && (pick === null || e.outcome.p99Us < pick.outcome.p99Us)) pick = e;
      }
    });
    if (pick === null) return at;
    at = pick;
  }
}

/**
 * The smallest uniform replica count (adaptive batching) that meets the SLO; when none up to the
 * maximum does (or 3 more replicas each brought no fewer misses), the count with the fewest misses.
 */
export function uniform(ev: Evaluator): Evaluated {
  let best: Evaluated | null = null;
  let stalled = 0;
  for (let k = 1; k <= ev.replicasMax && stalled < kStallStepsPerModel; k++) {
    const at = ev.evaluate(ev.models.map(() => ({ batchSize: -1, replicas: k })));
    if (at.meets) return at;
    stalled = best === null || at.outcome.sloMissRatio < best.outcome.sloMissRatio ? 0 : stalled + 1;
    if (best === null || better(best, at) === at) best = at;
  }
  return best!;
}
