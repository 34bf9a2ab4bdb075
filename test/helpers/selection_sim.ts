// Simulation helpers for the selection-policy tests: Bernoulli and Gaussian draws from the seeded
// Prng, and a bandit loop that feeds a policy the loss of the model it chose.

import type { Prng } from '../../src/lib/prng.js';
import type { SelectionPolicy } from '../../src/selection/policies/policy.js';

export function bernoulli(prng: Prng, p: number): number {
  return prng.next() < p ? 1 : 0;
}

/** Standard normal (Box–Muller). */
export function gaussian(prng: Prng): number {
  const u1 = 1 - prng.next(); // (0, 1]
  const u2 = prng.next();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * Runs `rounds` bandit rounds: select one model, draw its Bernoulli loss with mean lossMeans[model],
 * observe it. Returns how often each model was chosen.
 */
export function runBandit(policy: SelectionPolicy, prng: Prng, lossMeans: readonly number[], rounds: number): number[] {
  const chosenCounts = new Array<number>(lossMeans.length).fill(0);
  const losses = new Float64Array(lossMeans.length);
  for (let r = 0; r < rounds; r++) {
    const sel = policy.select({ uid: null }, prng);
    if (sel.kind !== 'one') throw new Error('runBandit needs a one-model policy');
    chosenCounts[sel.model]!++;
    losses.fill(NaN);
    losses[sel.model] = bernoulli(prng, lossMeans[sel.model]!);
    policy.observe({ uid: null, losses, chosen: sel.model });
  }
  return chosenCounts;
}

export function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
