// Seeded arrival processes for the simulator: Poisson, and bursty (a two-state Markov-modulated Poisson
// process: ON periods at burstFactor x the mean rate, OFF periods at a rate that keeps the overall mean).

import type { Prng } from '../src/lib/prng.js';

export type ArrivalSpec =
  | { kind: 'poisson'; ratePerMs: number }
  | { kind: 'bursty'; ratePerMs: number; burstFactor: number; onMeanMs: number; offMeanMs: number };

/** Returns a function giving the gap to the next arrival (ms), given the current time. */
export function arrivalGaps(spec: ArrivalSpec, prng: Prng): (nowMs: number) => number {
  if (spec.kind === 'poisson') return () => prng.exponential(spec.ratePerMs);
  const { ratePerMs, burstFactor, onMeanMs, offMeanMs } = spec;
  const onRate = ratePerMs * burstFactor;
  // Mean rate = (on * onRate + off * offRate) / (on + off).
  const offRate = Math.max(1e-9, (ratePerMs * (onMeanMs + offMeanMs) - onMeanMs * onRate) / offMeanMs);
  let on = true;
  let phaseEndMs = prng.exponential(1 / onMeanMs);
  return (nowMs: number) => {
    // Memorylessness makes it exact to redraw the gap after a phase change.
    let t = nowMs;
    for (;;) {
      const gap = prng.exponential(on ? onRate : offRate);
      if (t + gap <= phaseEndMs) return t + gap - nowMs;
      t = phaseEndMs;
      on = !on;
      phaseEndMs = t + prng.exponential(1 / (on ? onMeanMs : offMeanMs));
    }
  };
}
