// The search's last step (search.ts): verifying a configuration on more seeds than the one it was
// found on. A p99 over one simulated window rests on about 1% of its queries, so a configuration on
// the edge can pass on its own seed and fail on most other draws. The search's result and the
// baseline are each simulated under kVerifySeedCount more seeds (other arrivals, fall-through draws
// and latency noise, the same duration); while one of them misses the SLO rule (p99 within the SLO,
// at most 1% misses), the configuration grows: the plan's bottleneck in the worst outcome (the model
// whose calls failed most, then the busiest) gets one more replica, the baseline one more replica
// for every model; at most kVerifyStepsPerModel steps per model, within replicas_max. A configuration
// that misses the SLO on its own seed (nothing within replicas_max met it) is only reported.
// Cost: kVerifySeedCount simulations per configuration verified, one more per seed and step grown.

import { bottleneck, type Evaluated, type Evaluator, type Settings, withSetting } from './search_steps.js';

/** Seeds a plan is verified on besides its own. */
export const kVerifySeedCount = 3;
/** Growth steps per model the verification may take. */
const kVerifyStepsPerModel = 2;

/** The seeds a plan of seed `seed` is verified on: the next kVerifySeedCount integers (32-bit). */
export function verifySeeds(seed: number): number[] {
  return Array.from({ length: kVerifySeedCount }, (_, k) => (seed + k + 1) | 0);
}

export interface SeedOutcome {
  seed: number;
  p99Us: number;
  sloMissRatio: number;
  meets: boolean;
}

export interface Verification {
  /** The outcome of the final configuration on each verification seed. */
  seeds: SeedOutcome[];
  /** Whether it meets the SLO rule on its own seed and every verification seed. */
  meets: boolean;
  /** Replicas the verification added to the configuration it was given. */
  addedReplicas: number;
}

/** What grows a configuration that failed on some seed (`worst`: that outcome), or null when it cannot grow. */
export type GrowStep = (worst: Evaluated, at: Evaluated) => Settings | null;

/** The plan's growth: one more replica for the bottleneck of the worst outcome. */
export function growBottleneck(ev: Evaluator): GrowStep {
  return (worst, at) => {
    const i = bottleneck(ev, worst);
    return i < 0 ? null : withSetting(at.settings, i, { replicas: at.settings[i]!.replicas + 1 });
  };
}

/** The baseline's growth: one more replica for every model (it stays uniform). */
export function growUniform(ev: Evaluator): GrowStep {
  return (_, at) =>
    at.settings[0]!.replicas >= ev.replicasMax ? null : at.settings.map((s) => ({ batchSize: s.batchSize, replicas: s.replicas + 1 }));
}

/**
 * `start` (evaluated by `ev`, on the plan's seed) checked on every evaluator of `others` (one per
 * verification seed), grown by `grow` while one of them misses the SLO rule (bounded).
 */
export function verifyConfiguration(
  ev: Evaluator,
  others: readonly Evaluator[],
  start: Evaluated,
  grow: GrowStep,
): { at: Evaluated; verification: Verification } {
  let at = start;
  const stepsMax = kVerifyStepsPerModel * ev.models.length;
  for (let step = 0; ; step++) {
    const checks = others.map((o) => o.evaluate(at.settings));
    const failing = [at, ...checks].filter((e) => !e.meets);
    const verification: Verification = {
      seeds: checks.map((e, k) => ({
        seed: others[k]!.seed,
        p99Us: e.outcome.p99Us,
        sloMissRatio: e.outcome.sloMissRatio,
        meets: e.meets,
      })),
      meets: failing.length === 0,
      addedReplicas: at.cost - start.cost,
    };
    if (failing.length === 0 || !start.meets || step >= stepsMax) return { at, verification };
    const worst = failing.reduce((a, b) => (b.outcome.sloMissRatio > a.outcome.sloMissRatio ? b : a));
    const next = grow(worst, at);
    if (next === null) return { at, verification };
    at = ev.evaluate(next);
  }
}
