// Clipper's meters (Dropwizard-style): a mean rate plus 1-, 5- and 15-minute exponentially weighted
// moving averages that tick every 5 s with alpha = 1 - exp(-5 s / 60 s / minutes). Nothing here runs
// per query: a meter reads a cumulative count that the query path already keeps, when sampled (on a
// timer, or at a scrape). Ticks missed between two samples are caught up at the next one, with the
// events seen in between spread evenly over that time, so a sampled meter follows what a per-event
// meter would have shown whenever the count grows at a steady rate between samples.

export const kMeterTickMs = 5000;
export const kMeterUnit = 'events per second';

/** One exponentially weighted moving average of a rate, in events per second. */
export class Ewma {
  readonly alpha: number;
  #rate = 0;
  #initialized = false;

  constructor(minutes: number, tickMs = kMeterTickMs) {
    this.alpha = 1 - Math.exp(-tickMs / 1000 / 60 / minutes);
  }

  get ratePerS(): number {
    return this.#rate;
  }

  /** `ticks` ticks that each saw `instantPerS`: the first seeds an uninitialised average. */
  tick(instantPerS: number, ticks = 1): void {
    if (ticks <= 0) return;
    let remaining = ticks;
    if (!this.#initialized) {
      this.#rate = instantPerS;
      this.#initialized = true;
      remaining--;
    }
    // n identical steps of rate += alpha * (x - rate), in closed form
    this.#rate = instantPerS + (1 - this.alpha) ** remaining * (this.#rate - instantPerS);
  }
}

export interface MeterSnapshot {
  /** Mean rate since the meter started, events per second. */
  ratePerS: number;
  rate1minPerS: number;
  rate5minPerS: number;
  rate15minPerS: number;
}

/** A meter over a cumulative count that is read now and then, never per event. */
export class Meter {
  readonly #tickMs: number;
  #ewmas!: readonly [Ewma, Ewma, Ewma];
  #startMs = 0;
  #startCount = 0;
  /** Time of the last tick boundary accounted for, and the (estimated) count at that boundary. */
  #tickMs0 = 0;
  #tickCount = 0;
  /** The last sample. */
  #seenMs = 0;
  #seenCount = 0;

  /** Starts at `startMs` with `startCount` events already counted (they do not count as new). */
  constructor(startMs: number, startCount = 0, tickMs = kMeterTickMs) {
    this.#tickMs = tickMs;
    this.#restart(startMs, startCount);
  }

  #restart(startMs: number, startCount: number): void {
    this.#ewmas = [new Ewma(1, this.#tickMs), new Ewma(5, this.#tickMs), new Ewma(15, this.#tickMs)];
    this.#startMs = this.#tickMs0 = this.#seenMs = startMs;
    this.#startCount = this.#tickCount = this.#seenCount = startCount;
  }

  /** Record that the cumulative count was `count` at `nowMs`, ticking every boundary passed since. */
  sample(count: number, nowMs: number): void {
    if (nowMs < this.#seenMs) return;
    if (count < this.#seenCount) {
      this.#restart(nowMs, count); // the source was reset (e.g. recreated): start over from here
      return;
    }
    const ticks = Math.floor((nowMs - this.#tickMs0) / this.#tickMs);
    if (ticks > 0) {
      const spanMs = nowMs - this.#seenMs;
      const perMs = spanMs > 0 ? (count - this.#seenCount) / spanMs : 0;
      const firstBoundaryMs = this.#tickMs0 + this.#tickMs;
      const lastBoundaryMs = this.#tickMs0 + ticks * this.#tickMs;
      // first interval: what was seen up to the last sample, plus this span's share up to the boundary
      const firstEvents = this.#seenCount - this.#tickCount + perMs * (firstBoundaryMs - this.#seenMs);
      const firstPerS = firstEvents / (this.#tickMs / 1000);
      const restPerS = perMs * 1000;
      for (const e of this.#ewmas) {
        e.tick(firstPerS);
        e.tick(restPerS, ticks - 1);
      }
      this.#tickMs0 = lastBoundaryMs;
      this.#tickCount = this.#seenCount + perMs * (lastBoundaryMs - this.#seenMs);
    }
    this.#seenMs = nowMs;
    this.#seenCount = count;
  }

  /** The rates as of the last sample. */
  snapshot(): MeterSnapshot {
    const elapsedS = (this.#seenMs - this.#startMs) / 1000;
    return {
      ratePerS: elapsedS > 0 ? (this.#seenCount - this.#startCount) / elapsedS : 0,
      rate1minPerS: this.#ewmas[0].ratePerS,
      rate5minPerS: this.#ewmas[1].ratePerS,
      rate15minPerS: this.#ewmas[2].ratePerS,
    };
  }
}

/**
 * Meters for a changing set of named counts (apps, model versions), sampled together. A name first
 * seen at a sample is taken to have started at the previous sample (or the set's start) from zero;
 * a name absent from a sample is dropped.
 */
export class MeterSet {
  readonly #meters = new Map<string, Meter>();
  readonly #tickMs: number;
  #lastSampleMs: number;

  constructor(startMs: number, tickMs = kMeterTickMs) {
    this.#lastSampleMs = startMs;
    this.#tickMs = tickMs;
  }

  sample(counts: Iterable<readonly [string, number]>, nowMs: number): void {
    const seen = new Set<string>();
    for (const [name, count] of counts) {
      seen.add(name);
      let meter = this.#meters.get(name);
      if (meter === undefined) {
        meter = new Meter(this.#lastSampleMs, 0, this.#tickMs);
        this.#meters.set(name, meter);
      }
      meter.sample(count, nowMs);
    }
    for (const name of this.#meters.keys()) if (!seen.has(name)) this.#meters.delete(name);
    this.#lastSampleMs = Math.max(this.#lastSampleMs, nowMs);
  }

  get(name: string): MeterSnapshot | null {
    return this.#meters.get(name)?.snapshot() ?? null;
  }
}
