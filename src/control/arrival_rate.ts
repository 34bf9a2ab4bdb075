// One app's arrival rate, from the cumulative query counter the query path already keeps (AppStats.queries),
// read now and then (the pipeline tuner's tick, pipeline_tuner.ts): nothing here runs per query. Each
// reading gives the rate since the previous one and an exponentially weighted moving average of those
// rates whose time constant is the window (weights decay as exp(-age / window), whatever the spacing of
// the readings).

export interface RateReading {
  /** Queries per second since the previous reading. */
  tickQps: number;
  /** The moving average, queries per second. */
  ewmaQps: number;
  /** Queries counted since the previous reading, and over how long (ms). */
  queries: number;
  elapsedMs: number;
}

export class ArrivalRate {
  readonly #windowMs: number;
  #lastMs = Number.NaN;
  #lastCount = 0;
  #ewmaQps = Number.NaN;

  /** `windowMs`: the average's time constant (> 0). */
  constructor(windowMs: number) {
    if (!(windowMs > 0)) throw new RangeError(`window must be > 0 ms (got ${windowMs})`);
    this.#windowMs = windowMs;
  }

  /** The moving average (NaN before the second reading). */
  get ewmaQps(): number {
    return this.#ewmaQps;
  }

  /**
   * Reads the counter at `nowMs`. Null for the first reading (there is no interval yet) or when no
   * time has passed. A counter that went down was restarted (the app was deleted and made again): it
   * counts from 0.
   */
  read(count: number, nowMs: number): RateReading | null {
    if (Number.isNaN(this.#lastMs)) {
      this.#lastMs = nowMs;
      this.#lastCount = count;
      return null;
    }
    const elapsedMs = nowMs - this.#lastMs;
    if (!(elapsedMs > 0)) return null;
    const queries = count >= this.#lastCount ? count - this.#lastCount : count;
    this.#lastMs = nowMs;
    this.#lastCount = count;
    const tickQps = (queries * 1000) / elapsedMs;
    const alpha = 1 - Math.exp(-elapsedMs / this.#windowMs);
    this.#ewmaQps = Number.isNaN(this.#ewmaQps) ? tickQps : this.#ewmaQps + alpha * (tickQps - this.#ewmaQps);
    return { tickQps, ewmaQps: this.#ewmaQps, queries, elapsedMs };
  }

  /** The average restarts at `qps` (the tuner acted on a rate it measured more directly). */
  restartAt(qps: number): void {
    this.#ewmaQps = qps;
  }
}
