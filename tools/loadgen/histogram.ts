// A log-linear (HDR-style) latency histogram with bounded memory. Values are microseconds.
//
// Layout: values below kSubBucketCount (256 µs) get one exact bucket each. Above that, every power
// of two [2^e, 2^(e+1)) is split into kSubBucketHalf (128) equal sub-buckets, so a bucket is at most
// 1/128 of its lower bound wide: a reported value is within ±0.4% of any value it stands for (we
// report the bucket midpoint, clamped to the exact min/max seen). Values above kValueMaxUs (about
// 19 hours) are clamped. The whole histogram is ~3,700 Float64 counters (~30 KB), whatever the
// number of samples, and two histograms merge by adding counters.

const kSubBucketBits = 8;
const kSubBucketCount = 1 << kSubBucketBits; // 256
const kSubBucketHalf = kSubBucketCount >> 1; // 128
const kMagnitudeMax = 36; // values up to 2^36 µs
export const kValueMaxUs = 2 ** kMagnitudeMax - 1;
const kBucketCount = kSubBucketCount + (kMagnitudeMax - kSubBucketBits + 1) * kSubBucketHalf;

/** Relative precision guaranteed for values >= 256 µs (exact below). */
export const kHistogramRelativeError = 1 / (2 * kSubBucketHalf);

function indexOf(valueUs: number): number {
  if (valueUs < kSubBucketCount) return valueUs;
  // shift = how far v must move right to land in [128, 256)
  const shift = 31 - Math.clz32(Math.floor(valueUs / kSubBucketHalf));
  const top = Math.floor(valueUs / 2 ** shift); // in [128, 256)
  return kSubBucketCount + (shift - 1) * kSubBucketHalf + (top - kSubBucketHalf);
}

/** [low, high) range of values that share bucket `index`. */
function rangeOf(index: number): [number, number] {
  if (index < kSubBucketCount) return [index, index + 1];
  const rel = index - kSubBucketCount;
  const shift = Math.floor(rel / kSubBucketHalf) + 1;
  const top = (rel % kSubBucketHalf) + kSubBucketHalf;
  return [top * 2 ** shift, (top + 1) * 2 ** shift];
}

export interface LatencySummaryUs {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class Histogram {
  readonly #counts = new Float64Array(kBucketCount);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Record one value (µs; negatives count as 0, fractions are rounded, huge values clamped). */
  record(valueUs: number, times = 1): void {
    let v = Math.round(valueUs);
    if (!(v > 0)) v = 0; // also catches NaN
    if (v > kValueMaxUs) v = kValueMaxUs;
    const i = indexOf(v);
    this.#counts[i] = this.#counts[i]! + times;
    this.#count += times;
    this.#sum += v * times;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  get count(): number {
    return this.#count;
  }
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }
  get max(): number {
    return this.#count === 0 ? 0 : this.#max;
  }
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /** Value at percentile p (0..100): the smallest recorded value with at least p% of samples at or below it. */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    if (p <= 0) return this.min;
    if (p >= 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < kBucketCount; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) {
        const [low, high] = rangeOf(i);
        const mid = high - low === 1 ? low : (low + high - 1) / 2;
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  /** Add all of `other`'s samples into this histogram. */
  merge(other: Histogram): void {
    const oc = other.#counts;
    for (let i = 0; i < kBucketCount; i++) this.#counts[i] = this.#counts[i]! + oc[i]!;
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#count > 0) {
      if (other.#min < this.#min) this.#min = other.#min;
      if (other.#max > this.#max) this.#max = other.#max;
    }
  }

  /** Count of samples <= valueUs (at bucket precision: the bucket holding valueUs counts whole). */
  countAtOrBelow(valueUs: number): number {
    const last = indexOf(Math.min(kValueMaxUs, Math.max(0, Math.round(valueUs))));
    let seen = 0;
    for (let i = 0; i <= last; i++) seen += this.#counts[i]!;
    return seen;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
  }

  summary(): LatencySummaryUs {
    return {
      count: this.#count,
      min: this.min,
      mean: this.mean,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max,
    };
  }
}
