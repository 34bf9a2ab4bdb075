// A fixed-bucket histogram that also keeps the exact count, sum, sum of squares, minimum and maximum
// (a few arithmetic operations per observation, no allocation), and the summary Clipper reported
// for its histograms: size, min, max, mean, standard deviation and p50/p95/p99. Clipper sampled a
// 4096-entry reservoir; here the percentiles are estimated from the buckets by linear interpolation
// inside the bucket, narrowed to the observed minimum and maximum.

export interface BucketHistogram {
  /** Upper bounds of the buckets, ascending (the histogram carries them, so readers need no constants). */
  readonly bounds: readonly number[];
  /** Counts per bucket (upper bounds inclusive), then the +Inf bucket. */
  counts: number[];
  sum: number;
  sumSq: number;
  /** +Infinity / -Infinity while empty. */
  min: number;
  max: number;
}

export interface HistogramSummary {
  size: number;
  min: number;
  max: number;
  mean: number;
  stdDev: number;
  p50: number;
  p95: number;
  p99: number;
}

export function newBucketHistogram(bounds: readonly number[]): BucketHistogram {
  return { bounds, counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, sumSq: 0, min: Infinity, max: -Infinity };
}

export function observeBucket(h: BucketHistogram, value: number): void {
  const bounds = h.bounds;
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  h.counts[i]!++;
  h.sum += value;
  h.sumSq += value * value;
  if (value < h.min) h.min = value;
  if (value > h.max) h.max = value;
}

/** Adds `from`'s observations into `into` (same bounds): the histogram of both sets of observations. */
export function addHistogram(into: BucketHistogram, from: BucketHistogram): void {
  const n = Math.min(into.counts.length, from.counts.length);
  for (let i = 0; i < n; i++) into.counts[i] = into.counts[i]! + from.counts[i]!;
  into.sum += from.sum;
  into.sumSq += from.sumSq;
  into.min = Math.min(into.min, from.min);
  into.max = Math.max(into.max, from.max);
}

/** Empties `h` in place (its bounds kept), as newBucketHistogram makes it. */
export function resetHistogram(h: BucketHistogram): void {
  h.counts.fill(0);
  h.sum = 0;
  h.sumSq = 0;
  h.min = Infinity;
  h.max = -Infinity;
}

/** Quantile q (0..1): linear inside the bucket holding rank q·n, the bucket narrowed to [min, max]. */
export function bucketQuantile(h: BucketHistogram, q: number): number {
  const bounds = h.bounds;
  const n = h.counts.reduce((a, b) => a + b, 0);
  if (n === 0) return 0;
  const rank = q * n;
  let below = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const inBucket = h.counts[i]!;
    if (inBucket > 0 && below + inBucket >= rank) {
      const lo = Math.max(i === 0 ? h.min : bounds[i - 1]!, h.min);
      const hi = Math.min(i < bounds.length ? bounds[i]! : h.max, h.max);
      return lo + (hi - lo) * Math.max(0, (rank - below) / inBucket);
    }
    below += inBucket;
  }
  return h.max;
}

export function summarizeHistogram(h: BucketHistogram): HistogramSummary {
  const size = h.counts.reduce((a, b) => a + b, 0);
  if (size === 0) return { size: 0, min: 0, max: 0, mean: 0, stdDev: 0, p50: 0, p95: 0, p99: 0 };
  const mean = h.sum / size;
  // sample standard deviation (n - 1), as Dropwizard's snapshots report it
  const variance = size > 1 ? Math.max(0, (h.sumSq - size * mean * mean) / (size - 1)) : 0;
  return {
    size,
    min: h.min,
    max: h.max,
    mean,
    stdDev: Math.sqrt(variance),
    p50: bucketQuantile(h, 0.5),
    p95: bucketQuantile(h, 0.95),
    p99: bucketQuantile(h, 0.99),
  };
}
