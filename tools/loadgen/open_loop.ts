// Open-loop arrival schedule: constant rate or Poisson (seeded exponential gaps). Each tick
// dispatches every request whose intended time has come, stamped with that intended time, so a
// late tick (generator stall, GC pause, busy event loop) sends a burst of requests that are
// already late and their latency includes the lateness. The clock is injected for tests.

import { seededRandom } from './inputs.js';

export interface OpenLoopOptions {
  rateRps: number;
  poisson: boolean;
  seed: number;
  /** First intended send time (ms, same time base as `now`). */
  startMs: number;
  /** No request is intended at or after this time. */
  endMs: number;
  now: () => number;
  /** Send one request intended at `intendedMs`. */
  dispatch: (intendedMs: number) => void;
}

export class OpenLoopSchedule {
  readonly #o: OpenLoopOptions;
  readonly #rand: () => number;
  readonly #gapMs: number;
  #nextMs: number;
  dispatched = 0;

  constructor(options: OpenLoopOptions) {
    if (!(options.rateRps > 0)) throw new RangeError(`open-loop rate must be > 0 requests/s, got ${options.rateRps}`);
    this.#o = options;
    this.#rand = seededRandom(options.seed);
    this.#gapMs = 1000 / options.rateRps;
    this.#nextMs = options.startMs;
  }

  get done(): boolean {
    return this.#nextMs >= this.#o.endMs;
  }

  /** Intended time of the next request (ms). */
  get nextMs(): number {
    return this.#nextMs;
  }

  #advance(): void {
    this.#nextMs += this.#o.poisson ? -Math.log(1 - this.#rand()) * this.#gapMs : this.#gapMs;
  }

  /** Dispatch everything due by now; returns ms until the next request is due (-1 when done). */
  tick(): number {
    const now = this.#o.now();
    while (this.#nextMs <= now && this.#nextMs < this.#o.endMs) {
      this.#o.dispatch(this.#nextMs);
      this.dispatched++;
      this.#advance();
    }
    return this.done ? -1 : Math.max(0, this.#nextMs - now);
  }

  /** Drive tick() on real timers until done. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      const step = (): void => {
        const waitMs = this.tick();
        if (waitMs < 0) resolve();
        else setTimeout(step, waitMs >= 1 ? Math.floor(waitMs) : 0);
      };
      step();
    });
  }
}
