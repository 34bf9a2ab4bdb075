// Reads the server's Prometheus text exposition (/metrics) and summarises histogram families
// whose names contain `batch_size` (batch sizes) or `queue` (queue times) over one level: the
// difference between a scrape at the window start and one at the end, summed over label sets.
// Everything is optional: a missing URL, a failed scrape or absent families yield nulls.

export interface PromHistogram {
  name: string;
  /** Cumulative bucket counts sorted by upper bound (le), +Inf last. */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

export interface HistogramSummary {
  count: number;
  mean: number;
  /** Estimated like PromQL histogram_quantile (linear within the bucket). */
  p50: number;
  p99: number;
}

export interface MetricsObservation {
  batchSize: Record<string, HistogramSummary>;
  queueTime: Record<string, HistogramSummary>;
}

const kSample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/;
const kLe = /le="([^"]*)"/;

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** All histogram families in a Prometheus text exposition, summed over their label sets. */
export function parseHistograms(text: string): Map<string, PromHistogram> {
  const out = new Map<string, PromHistogram>();
  const bucketsByFamily = new Map<string, Map<number, number>>();
  const get = (name: string): PromHistogram => {
    let h = out.get(name);
    if (h === undefined) {
      h = { name, buckets: [], sum: 0, count: 0 };
      out.set(name, h);
      bucketsByFamily.set(name, new Map());
    }
    return h;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = kSample.exec(line);
    if (m === null) continue;
    const [, metric, labels, valueText] = m as unknown as [string, string, string | undefined, string];
    const value = parseValue(valueText);
    if (Number.isNaN(value)) continue;
    if (metric.endsWith('_bucket')) {
      const le = labels === undefined ? null : kLe.exec(labels);
      if (le === null) continue;
      const family = metric.slice(0, -7);
      get(family);
      const byLe = bucketsByFamily.get(family)!;
      const bound = parseValue(le[1]!);
      byLe.set(bound, (byLe.get(bound) ?? 0) + value);
    } else if (metric.endsWith('_sum')) {
      get(metric.slice(0, -4)).sum += value;
    } else if (metric.endsWith('_count')) {
      get(metric.slice(0, -6)).count += value;
    }
  }
  for (const [name, h] of out) {
    const byLe = bucketsByFamily.get(name)!;
    h.buckets = [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  }
  // _sum/_count without buckets are summaries or plain counters, not histograms
  for (const [name, h] of out) if (h.buckets.length === 0) out.delete(name);
  return out;
}

/** after − before (a family absent before counts as all zeros; a counter reset uses `after` alone). */
export function diffHistogram(before: PromHistogram | undefined, after: PromHistogram): PromHistogram {
  if (before === undefined || before.count > after.count) return after;
  const prior = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    name: after.name,
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (prior.get(b.le) ?? 0) })),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/** Quantile q (0..1) by linear interpolation inside the bucket, as PromQL histogram_quantile. */
export function histogramQuantile(h: PromHistogram, q: number): number {
  const total = h.buckets.length === 0 ? 0 : h.buckets[h.buckets.length - 1]!.count;
  if (total <= 0) return 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe; // highest finite bound, like Prometheus
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

export function summarize(h: PromHistogram): HistogramSummary {
  return {
    count: h.count,
    mean: h.count > 0 ? h.sum / h.count : 0,
    p50: histogramQuantile(h, 0.5),
    p99: histogramQuantile(h, 0.99),
  };
}

/** Batch-size and queue-time summaries between two scrapes; null when `after` is missing. */
export function metricsDelta(beforeText: string | null, afterText: string | null): MetricsObservation | null {
  if (afterText === null) return null;
  const before = beforeText === null ? new Map<string, PromHistogram>() : parseHistograms(beforeText);
  const after = parseHistograms(afterText);
  const obs: MetricsObservation = { batchSize: {}, queueTime: {} };
  for (const [name, h] of after) {
    const isBatch = name.includes('batch_size');
    const isQueue = !isBatch && name.includes('queue');
    if (!isBatch && !isQueue) continue;
    const s = summarize(diffHistogram(before.get(name), h));
    if (isBatch) obs.batchSize[name] = s;
    else obs.queueTime[name] = s;
  }
  return obs;
}

/**
 * GET the metrics text; null on any failure (the report then shows no server metrics). It asks for
 * Prometheus text by name: a server that negotiates (clipper-ts's /metrics) answers Clipper's JSON
 * to a wildcard Accept.
 */
export async function scrapeMetrics(url: string, timeoutMs = 2000): Promise<string | null> {
  try {
    const res = await fetch(url, { headers: { accept: 'text/plain;version=0.0.4' }, signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    return await res.text();
  } catch {
    return null;
  }
}

/** The first batch-size family's mean (for plots and the recommendation), or null. */
export function primaryMean(group: Record<string, HistogramSummary> | undefined): number | null {
  if (group === undefined) return null;
  const first = Object.keys(group).sort()[0];
  return first === undefined ? null : group[first]!.mean;
}

/**
 * The first queue-time family's mean with its unit, from the family name (`_seconds` is shown in
 * ms, `_ms`/`_milliseconds` in ms, `_us`/`_microseconds` in µs), or null when there is none.
 */
export function formatQueueTime(group: Record<string, HistogramSummary> | undefined): string | null {
  if (group === undefined) return null;
  const first = Object.keys(group).sort()[0];
  if (first === undefined) return null;
  const mean = group[first]!.mean;
  if (/_seconds$/.test(first)) return `${(mean * 1000).toPrecision(3)} ms`;
  if (/_(ms|milliseconds)$/.test(first)) return `${mean.toPrecision(3)} ms`;
  if (/_(us|micros|microseconds)$/.test(first)) return `${mean.toPrecision(3)} µs`;
  return `${mean.toPrecision(3)} (unit of ${first})`;
}
