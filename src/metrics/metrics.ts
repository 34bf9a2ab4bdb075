// Metrics: Prometheus text at GET /metrics (prom-client) and Clipper's JSON form at
// GET /metrics/json. Nothing here runs per query: the hot path only bumps counters and histogram
// buckets it owns (per app on the main thread, per model version in the batching workers); a scrape
// reads them, asking every worker for its models' numbers over the control channel once.

import { Counter, Gauge, Registry } from 'prom-client';
import type { ReplicaStatus } from '../admin/admin_context.js';
import { kBatchSizeBuckets, kLatencyUsBuckets, type ModelActorStats } from '../batching/model_actor.js';
import { kAppLatencyUsBuckets, type QueryProcessor } from '../frontend/query_processor.js';

type Labels = Record<string, string>;
interface MetricValue { labels: Labels; value: number; metricName?: string }
interface Histo { counts: readonly number[]; sum: number }

/** A prom-client metric whose values come from a callback at scrape time. */
class ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly #values: () => Promise<MetricValue[]>;
  readonly aggregator = 'sum';

  constructor(name: string, help: string, type: ScrapedMetric['type'], values: () => Promise<MetricValue[]>) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#values = values;
  }

  async get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: await this.#values(), aggregator: this.aggregator };
  }
}

/** Prometheus histogram series from bucket counts (upper bounds in µs → seconds). */
function histogramValues(name: string, labels: Labels, h: Histo, boundsUs: readonly number[], scale: number): MetricValue[] {
  const out: MetricValue[] = [];
  let cumulative = 0;
  for (let i = 0; i < boundsUs.length; i++) {
    cumulative += h.counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(Number((boundsUs[i]! * scale).toPrecision(6))) }, value: cumulative });
  }
  cumulative += h.counts[boundsUs.length]!;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum * scale });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}

function histoMean(h: Histo): number | null {
  const n = h.counts.reduce((a, b) => a + b, 0);
  return n === 0 ? null : h.sum / n;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #processor: QueryProcessor;
  readonly #modelStats: () => Promise<ModelActorStats[]>;
  #scrape: Promise<ModelActorStats[]> | null = null;

  constructor(processor: QueryProcessor, modelStats: () => Promise<ModelActorStats[]>, replicas: () => ReplicaStatus[]) {
    this.#processor = processor;
    this.#modelStats = modelStats;
    const c = processor.counters;
    const reg = [this.registry];
    new Counter({ name: 'clipper_queries_total', help: 'Queries received (each input of a batch counts)', registers: reg,
      collect() { this.reset(); this.inc(c.queries); } });
    new Counter({ name: 'clipper_default_outputs_total', help: 'Queries answered with the default output', registers: reg,
      collect() { this.reset(); this.inc(c.defaults); } });
    new Counter({ name: 'clipper_slo_misses_total', help: 'Queries answered with the default output at their deadline', registers: reg,
      collect() { this.reset(); this.inc(c.sloMisses); } });
    new Gauge({ name: 'clipper_replicas', help: 'Replicas by model and connection state', labelNames: ['model', 'version', 'connected'],
      registers: reg,
      collect() {
        this.reset();
        for (const r of replicas()) this.inc({ model: r.model, version: r.version, connected: String(r.connected) });
      } });

    const apps = async (): Promise<Array<[string, ReturnType<QueryProcessor['appStats']>]>> => [...processor.allAppStats()];
    const add = (name: string, help: string, type: ScrapedMetric['type'], values: () => Promise<MetricValue[]>): void => {
      this.registry.registerMetric(new ScrapedMetric(name, help, type, values) as never);
    };
    add('clipper_app_queries_total', 'Queries per application', 'counter',
      async () => (await apps()).map(([app, s]) => ({ labels: { app }, value: s.queries })));
    add('clipper_app_default_outputs_total', 'Default outputs per application', 'counter',
      async () => (await apps()).map(([app, s]) => ({ labels: { app }, value: s.defaults })));
    add('clipper_app_slo_misses_total', 'Queries answered at their deadline, per application', 'counter',
      async () => (await apps()).map(([app, s]) => ({ labels: { app }, value: s.sloMisses })));
    add('clipper_app_latency_seconds', 'End-to-end query latency in the frontend, per application', 'histogram',
      async () => (await apps()).flatMap(([app, s]) => histogramValues('clipper_app_latency_seconds', { app },
        { counts: s.latencyCounts, sum: s.latencySumUs }, kAppLatencyUsBuckets, 1e-6)));

    const cache = async () => processor.cache.stats();
    add('clipper_cache_lookups_total', 'Prediction cache lookups by result (hit, miss, coalesced onto an identical query in flight, bypass)', 'counter',
      async () => {
        const st = await cache();
        return [['hit', st.hitCount], ['miss', st.missCount - st.coalescedCount], ['coalesced', st.coalescedCount], ['bypass', st.bypassCount]]
          .map(([result, value]) => ({ labels: { result: String(result) }, value: Number(value) }));
      });
    add('clipper_cache_bytes', 'Bytes held by the prediction cache', 'gauge', async () => [{ labels: {}, value: (await cache()).bytes }]);
    add('clipper_cache_entries', 'Outputs held by the prediction cache', 'gauge', async () => [{ labels: {}, value: (await cache()).entryCount }]);

    const models = async (): Promise<ModelActorStats[]> => this.#models();
    const ml = (m: ModelActorStats): Labels => ({ model: m.name, version: m.version });
    add('clipper_model_batch_size', 'Queries per batch sent to a replica', 'histogram',
      async () => (await models()).flatMap((m) => histogramValues('clipper_model_batch_size', ml(m), m.batchSize, kBatchSizeBuckets, 1)));
    add('clipper_model_batch_latency_seconds', 'Replica round trip per batch', 'histogram',
      async () => (await models()).flatMap((m) => histogramValues('clipper_model_batch_latency_seconds', ml(m), m.batchLatencyUs, kLatencyUsBuckets, 1e-6)));
    add('clipper_model_queue_seconds', 'Time a query waited in its model queue before being sent', 'histogram',
      async () => (await models()).flatMap((m) => histogramValues('clipper_model_queue_seconds', ml(m), m.queueUs, kLatencyUsBuckets, 1e-6)));
    add('clipper_model_queued', 'Queries waiting in the model queue', 'gauge',
      async () => (await models()).map((m) => ({ labels: ml(m), value: m.scheduler.queuedCount })));
    add('clipper_model_in_flight_batches', 'Batches sent and not yet answered', 'gauge',
      async () => (await models()).map((m) => ({ labels: ml(m), value: m.scheduler.inFlightBatchCount })));
    add('clipper_replica_batch_size_max', 'Current maximum batch size (AIMD or fixed) per replica', 'gauge',
      async () => (await models()).flatMap((m) => m.scheduler.replicas.map((r) => ({
        labels: { ...ml(m), replica: String(r.replicaId) }, value: r.batchSizeMax }))));
    add('clipper_replica_in_flight_batches', 'Batches in flight per replica', 'gauge',
      async () => (await models()).flatMap((m) => m.scheduler.replicas.map((r) => ({
        labels: { ...ml(m), replica: String(r.replicaId) }, value: r.inFlightBatchCount }))));
    add('clipper_model_shed_total', 'Queries rejected at once by the model queue, by reason', 'counter',
      async () => (await models()).flatMap((m) => Object.entries(m.scheduler.rejectedCount).map(([reason, value]) => ({
        labels: { ...ml(m), reason }, value }))));
    add('clipper_model_expired_total', 'Queries dropped from the model queue unsent, by reason', 'counter',
      async () => (await models()).flatMap((m) => Object.entries(m.scheduler.expiredCount).map(([reason, value]) => ({
        labels: { ...ml(m), reason }, value }))));
    add('clipper_model_errors_total', 'Batches the model failed (exception or wrong output count)', 'counter',
      async () => (await models()).map((m) => ({ labels: ml(m), value: m.modelErrorCount })));
  }

  async text(): Promise<{ contentType: string; body: string }> {
    this.#scrape = null;
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Clipper's JSON shape (spec §8.1), with numbers as numbers (Clipper stringified them). */
  async clipperJson(): Promise<string> {
    this.#scrape = null;
    const c = this.#processor.counters;
    const counters: object[] = [{ 'internal:aggregate_num_predictions': { count: c.queries } }];
    const cs = this.#processor.cache.stats();
    const lookups = cs.hitCount + cs.missCount;
    counters.push({ 'internal:prediction_cache_lookups': { count: lookups } });
    const ratios: object[] = [{ 'internal:prediction_cache_hit_ratio': { ratio: lookups === 0 ? null : cs.hitCount / lookups } }];
    const histograms: object[] = [];
    for (const [app, s] of this.#processor.allAppStats()) {
      counters.push({ [`app:${app}:num_predictions`]: { count: s.queries } });
      ratios.push({ [`app:${app}:default_prediction_ratio`]: { ratio: s.queries === 0 ? null : s.defaults / s.queries } });
      histograms.push({ [`app:${app}:prediction_latency`]: { unit: 'microseconds', mean: histoMean({ counts: s.latencyCounts, sum: s.latencySumUs }) } });
    }
    for (const m of await this.#models()) {
      const id = `model:${m.name}:${m.version}`;
      counters.push({ [`${id}:num_predictions`]: { count: m.scheduler.sentQueryCount } });
      histograms.push({ [`${id}:batch_size`]: { unit: 'queries', mean: histoMean(m.batchSize) } });
      histograms.push({ [`${id}:prediction_latency`]: { unit: 'microseconds', mean: histoMean(m.batchLatencyUs) } });
    }
    return JSON.stringify({ counters, ratio_counters: ratios, meters: [], histograms });
  }

  /** One request to the workers per scrape, shared by every metric that needs it. */
  #models(): Promise<ModelActorStats[]> {
    this.#scrape ??= this.#modelStats();
    return this.#scrape;
  }
}
