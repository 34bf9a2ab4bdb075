// GET /v2/models[/{m}[/versions/{v}]]/stats: Triton's statistics extension, computed from what each
// model version's batching actor measures (the pool's stats(), one entry per model version). Pure:
// the route fetches the actors' stats and hands them here.
//
// What each field is here (durations are sums of µs, reported in ns):
//   inference_count  queries sent to the model in batches that are no longer in flight. A query of
//                    a batch that failed (model error, lost connection, timeout) counts too, and a
//                    query sent twice (its replica failed) counts twice: exact while `fail` is 0.
//   execution_count  batches that came back from a replica, less those that came back with an error.
//   success          {count: inference_count, ns: 0}: a query's end-to-end time is measured per app
//                    (clipper_app_latency on /metrics), not per model version.
//   fail             {count, ns: 0}: queries refused (queue full, deadline unreachable, no replica) or
//                    expired (deadline passed in the queue, replica failed, shutdown), plus one per
//                    batch the model failed (how many queries such a batch held is not kept).
//   queue            per query sent: enqueue to send. Cache hits never reach the queue (the cache
//                    sits in front of the model actors), unlike Triton's, which includes them.
//   compute_infer    per batch: the replica round trip (encoding, transfer, the model, the reply).
//                    Triton counts per request; here one count is one batch, so ns/count is the mean
//                    batch time, not weighted by batch size.
//   compute_input, compute_output  0: they are inside compute_infer's round trip, not measured apart.
//   cache_hit        0: the prediction cache counts hits for the whole cluster, not per model.
//   last_inference   0: the actor does not keep the time of its last answer.
//   batch_stats      []: batch sizes are kept in power-of-two buckets and compute time is not kept
//                    per batch size (the size distribution is clipper_model_batch_size on /metrics).

/** A histogram's totals (the batching pool's BucketHistogram has them). */
export interface HistogramTotals {
  readonly counts: readonly number[];
  readonly sum: number;
}

/** What the statistics read of one model version's actor stats (ModelActorStats has these fields). */
export interface ModelStatsSource {
  readonly name: string;
  readonly version: string;
  readonly scheduler: {
    readonly inFlightQueryCount: number;
    readonly batchDoneCount: number;
    readonly expiredCount: { readonly deadline: number; readonly replica_failed: number; readonly shutdown: number };
    readonly rejectedCount: { readonly queue_full: number; readonly deadline_unreachable: number; readonly no_replica: number };
  };
  /** Queries per batch sent. */
  readonly batchSize: HistogramTotals;
  /** Replica round trip per batch, µs. */
  readonly batchLatencyUs: HistogramTotals;
  /** Enqueue to send per query, µs. */
  readonly queueUs: HistogramTotals;
  /** Batches the model failed. */
  readonly modelErrorCount: number;
}

export interface DurationStat {
  count: number;
  ns: number;
}

export interface InferenceStats {
  success: DurationStat;
  fail: DurationStat;
  queue: DurationStat;
  compute_input: DurationStat;
  compute_infer: DurationStat;
  compute_output: DurationStat;
  cache_hit: DurationStat;
}

export interface BatchStat {
  batch_size: number;
  compute_input: DurationStat;
  compute_infer: DurationStat;
  compute_output: DurationStat;
}

export interface ModelStat {
  name: string;
  version: string;
  /** Milliseconds since the epoch; 0: not kept. */
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: InferenceStats;
  batch_stats: BatchStat[];
}

export interface ModelStatsResponse {
  model_stats: ModelStat[];
}

/** Which model versions to report: absent name = every model; absent version = every version of it. */
export interface ModelStatsFilter {
  name?: string | undefined;
  version?: string | undefined;
}

function histogramCount(h: HistogramTotals): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

function durationOf(h: HistogramTotals): DurationStat {
  return { count: histogramCount(h), ns: Math.round(h.sum * 1000) };
}

const zero = (): DurationStat => ({ count: 0, ns: 0 });

function failedCount(s: ModelStatsSource): number {
  const { expiredCount: e, rejectedCount: r } = s.scheduler;
  return e.deadline + e.replica_failed + e.shutdown + r.queue_full + r.deadline_unreachable + r.no_replica + s.modelErrorCount;
}

/** One model version's entry (see the top of this file for what each field means). */
export function modelStat(s: ModelStatsSource): ModelStat {
  const inferenceCount = Math.max(0, s.batchSize.sum - s.scheduler.inFlightQueryCount);
  return {
    name: s.name,
    version: s.version,
    last_inference: 0,
    inference_count: inferenceCount,
    execution_count: Math.max(0, s.scheduler.batchDoneCount - s.modelErrorCount),
    inference_stats: {
      success: { count: inferenceCount, ns: 0 },
      fail: { count: failedCount(s), ns: 0 },
      queue: durationOf(s.queueUs),
      compute_input: zero(),
      compute_infer: durationOf(s.batchLatencyUs),
      compute_output: zero(),
      cache_hit: zero(),
    },
    batch_stats: [],
  };
}

const kVersionOrder = new Intl.Collator('en', { numeric: true });

/**
 * The statistics response for the model versions `filter` selects, ordered by name then version
 * (numeric-aware: "2" before "10"). A filter that matches nothing gives an empty list: whether that
 * is a 404 (unknown model or version) is the route's call, since it knows which models exist.
 */
export function modelStatsJson(stats: readonly ModelStatsSource[], filter: ModelStatsFilter = {}): ModelStatsResponse {
  const selected = stats.filter(
    (s) => (filter.name === undefined || s.name === filter.name) && (filter.version === undefined || s.version === filter.version),
  );
  selected.sort((a, b) => (a.name === b.name ? kVersionOrder.compare(a.version, b.version) : a.name < b.name ? -1 : 1));
  return { model_stats: selected.map(modelStat) };
}
