// Simulated model container: processes batches one at a time (FIFO) with latency
//   t(n) = (baseMs + perItemMs * n) * slowdownFactor * (1 + noiseFraction * N(0, 1)), at least 10% of the mean,
// drawn from a seeded PRNG. A killed container never answers again.

import type { Clock } from '../src/lib/clock.js';
import type { Prng } from '../src/lib/prng.js';

export interface SimContainerModel {
  baseMs: number;
  perItemMs: number;
  noiseFraction: number;
}

interface Job {
  batchSize: number;
  onDone: () => void;
}

export class SimContainer {
  slowdownFactor = 1;
  #dead = false;
  #busy = false;
  readonly #jobs: Job[] = [];

  constructor(
    readonly model: SimContainerModel,
    private readonly clock: Clock,
    private readonly prng: Prng,
  ) {}

  get dead(): boolean {
    return this.#dead;
  }

  meanLatencyMs(batchSize: number): number {
    return (this.model.baseMs + this.model.perItemMs * batchSize) * this.slowdownFactor;
  }

  submit(batchSize: number, onDone: () => void): void {
    if (this.#dead) return;
    this.#jobs.push({ batchSize, onDone });
    if (!this.#busy) this.#startNext();
  }

  kill(): void {
    this.#dead = true;
    this.#jobs.length = 0;
  }

  #startNext(): void {
    const job = this.#jobs.shift();
    if (job === undefined || this.#dead) {
      this.#busy = false;
      return;
    }
    this.#busy = true;
    const meanMs = this.meanLatencyMs(job.batchSize);
    const latencyMs = Math.max(0.1 * meanMs, meanMs * (1 + this.model.noiseFraction * this.prng.normal()));
    this.clock.setTimer(latencyMs, () => {
      if (this.#dead) return;
      job.onDone();
      this.#startNext();
    });
  }
}
