// The Prometheus form of the metrics (prom-client registries): counters and gauges of the query
// frontend, and per app and per model version histograms read from the stats the query path keeps.
// One registry per exposition format (Prometheus text 0.0.4, OpenMetrics 1.0.0): prom-client
// renames a registry's counters for OpenMetrics, so the two never share metric objects.

import { Counter, Gauge, Registry, type RegistryContentType } from 'prom-client';
import type { ReplicaStatus } from '../admin/admin_context.js';
import type { ModelActorStats, ThreadResources } from '../batching/protocol.js';
import type { QueryStatsSource } from '../query/query_stats_source.js';
import type { BucketHistogram } from '../lib/bucket_histogram.js';
import type { AppPipelineStats } from '../query/stage_stats.js';
import { registerPipelines } from './pipeline_metrics.js';
import { countByType, kProcessProbe, type ProcessProbe, readProcessResources } from './process_metrics.js';

export type Labels = Record<string, string>;
export interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}
type MetricType = 'gauge' | 'counter' | 'histogram';
export type AddMetric = (name: string, help: string, type: MetricType, values: () => Promise<MetricValue[]>) => void;

export interface PromSources {
  /** The query core's counters as of the scrape's refresh (Metrics.text refreshes them first). */
  stats: QueryStatsSource;
  /** The models' stats of the scrape in progress (one request to the workers per scrape). */
  models(): Promise<ModelActorStats[]>;
  replicas(): ReplicaStatus[];
  /** Where the process's own resources are read (tests pass a fake); default the real process. */
  processProbe?: ProcessProbe;
  /** Each batching thread's resources, as of the models() call of this scrape. */
  threadResources?: () => readonly ThreadResources[];
  /** Pipeline apps' per-stage counters (pipeline_metrics.ts); absent: none. */
  pipelines?: () => ReadonlyMap<string, AppPipelineStats>;
  /** The frontend threads by state (null, or absent: one frontend, the main thread, and no series). */
  frontendThreads?: () => FrontendThreadCounts | null;
}

/** How many frontend threads serve, and how many failed (frontend_thread/frontend_group.ts threadStates). */
export interface FrontendThreadCounts {
  alive: number;
  failed: number;
}

/** A prom-client metric whose values come from a callback at scrape time. */
class ScrapedMetric {
  name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly #values: () => Promise<MetricValue[]>;
  readonly aggregator = 'sum';

  constructor(name: string, help: string, type: MetricType, values: () => Promise<MetricValue[]>) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#values = values;
  }

  async get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: await this.#values(), aggregator: this.aggregator };
  }
}

/** Prometheus histogram series from bucket counts (upper bounds scaled by `scale`, e.g. µs → s). */
export function histogramValues(name: string, labels: Labels, h: BucketHistogram, scale: number): MetricValue[] {
  const bounds = h.bounds;
  const out: MetricValue[] = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += h.counts[i]!;
    out.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: String(Number((bounds[i]! * scale).toPrecision(6))) },
      value: cumulative,
    });
  }
  cumulative += h.counts[bounds.length]!;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum * scale });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}

export function createPromRegistry(format: 'prometheus' | 'openmetrics', src: PromSources): Registry<RegistryContentType> {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(format === 'openmetrics' ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
  const add: AddMetric = (name, help, type, values) => {
    registry.registerMetric(new ScrapedMetric(name, help, type, values) as never);
  };
  registerFrontend(registry, src);
  registerApps(add, src);
  registerCache(add, src);
  registerModels(add, src);
  registerProcess(add, src.processProbe ?? kProcessProbe);
  registerThreads(add, src);
  registerPipelines(add, src.pipelines ?? (() => new Map()));
  return registry;
}

/** The query frontend's totals and the replicas (prom-client's own metric objects). */
function registerFrontend(registry: Registry<RegistryContentType>, src: PromSources): void {
  // Read at each collect: a merged source (frontend threads) replaces its counters object on refresh.
  const c = () => src.stats.counters;
  const reg = [registry];
  new Counter({
    name: 'clipper_queries_total',
    help: 'Queries received (each input of a batch counts)',
    registers: reg,
    collect() {
      this.reset();
      this.inc(c().queries);
    },
  });
  new Counter({
    name: 'clipper_default_outputs_total',
    help: 'Queries answered with the default output',
    registers: reg,
    collect() {
      this.reset();
      this.inc(c().defaults);
    },
  });
  new Counter({
    name: 'clipper_slo_misses_total',
    help: 'Queries answered with the default output at their deadline',
    registers: reg,
    collect() {
      this.reset();
      this.inc(c().sloMisses);
    },
  });
  new Gauge({
    name: 'clipper_replicas',
    help: 'Replicas by model and connection state',
    labelNames: ['model', 'version', 'connected'],
    registers: reg,
    collect() {
      this.reset();
      for (const r of src.replicas()) this.inc({ model: r.model, version: r.version, connected: String(r.connected) });
    },
  });
  new Gauge({
    name: 'clipper_frontend_threads',
    help: 'Frontend threads by state: alive (serving) or failed (its share served by the others); none with one frontend',
    labelNames: ['state'],
    registers: reg,
    collect() {
      this.reset();
      const counts = src.frontendThreads?.() ?? null;
      if (counts === null) return;
      this.set({ state: 'alive' }, counts.alive);
      this.set({ state: 'failed' }, counts.failed);
    },
  });
}

function registerApps(add: AddMetric, src: PromSources): void {
  const apps = async () => [...src.stats.allAppStats()];
  add('clipper_app_queries_total', 'Queries per application', 'counter', async () =>
    (await apps()).map(([app, s]) => ({ labels: { app }, value: s.queries })),
  );
  add('clipper_app_default_outputs_total', 'Default outputs per application', 'counter', async () =>
    (await apps()).map(([app, s]) => ({ labels: { app }, value: s.defaults })),
  );
  add('clipper_app_slo_misses_total', 'Queries answered at their deadline, per application', 'counter', async () =>
    (await apps()).map(([app, s]) => ({ labels: { app }, value: s.sloMisses })),
  );
  add('clipper_app_latency_seconds', 'End-to-end query latency in the frontend, per application', 'histogram', async () =>
    (await apps()).flatMap(([app, s]) => histogramValues('clipper_app_latency_seconds', { app }, s.latencyUs, 1e-6)),
  );
}

function registerCache(add: AddMetric, src: PromSources): void {
  const cache = async () => src.stats.cacheStats();
  add(
    'clipper_cache_lookups_total',
    'Prediction cache lookups by result (hit, miss, coalesced onto an identical query in flight, bypass)',
    'counter',
    async () => {
      const st = await cache();
      return [
        ['hit', st.hitCount],
        ['miss', st.missCount - st.coalescedCount],
        ['coalesced', st.coalescedCount],
        ['bypass', st.bypassCount],
      ].map(([result, value]) => ({ labels: { result: String(result) }, value: Number(value) }));
    },
  );
  add('clipper_cache_bytes', 'Bytes held by the prediction cache', 'gauge', async () => [{ labels: {}, value: (await cache()).bytes }]);
  add('clipper_cache_entries', 'Outputs held by the prediction cache', 'gauge', async () => [
    { labels: {}, value: (await cache()).entryCount },
  ]);
}

function registerModels(add: AddMetric, src: PromSources): void {
  const models = src.models;
  const ml = (m: ModelActorStats): Labels => ({ model: m.name, version: m.version });
  add('clipper_model_batch_size', 'Queries per batch sent to a replica', 'histogram', async () =>
    (await models()).flatMap((m) => histogramValues('clipper_model_batch_size', ml(m), m.batchSize, 1)),
  );
  add('clipper_model_batch_latency_seconds', 'Replica round trip per batch', 'histogram', async () =>
    (await models()).flatMap((m) => histogramValues('clipper_model_batch_latency_seconds', ml(m), m.batchLatencyUs, 1e-6)),
  );
  add('clipper_model_queue_seconds', 'Time a query waited in its model queue before being sent', 'histogram', async () =>
    (await models()).flatMap((m) => histogramValues('clipper_model_queue_seconds', ml(m), m.queueUs, 1e-6)),
  );
  add('clipper_model_queued', 'Queries waiting in the model queue', 'gauge', async () =>
    (await models()).map((m) => ({ labels: ml(m), value: m.scheduler.queuedCount })),
  );
  add('clipper_model_in_flight_batches', 'Batches sent and not yet answered', 'gauge', async () =>
    (await models()).map((m) => ({ labels: ml(m), value: m.scheduler.inFlightBatchCount })),
  );
  add('clipper_replica_batch_size_max', 'Current maximum batch size (AIMD or fixed) per replica', 'gauge', async () =>
    (await models()).flatMap((m) =>
      m.scheduler.replicas.map((r) => ({
        labels: { ...ml(m), replica: String(r.replicaId) },
        value: r.batchSizeMax,
      })),
    ),
  );
  add('clipper_replica_in_flight_batches', 'Batches in flight per replica', 'gauge', async () =>
    (await models()).flatMap((m) =>
      m.scheduler.replicas.map((r) => ({
        labels: { ...ml(m), replica: String(r.replicaId) },
        value: r.inFlightBatchCount,
      })),
    ),
  );
  add('clipper_model_shed_total', 'Queries rejected at once by the model queue, by reason', 'counter', async () =>
    (await models()).flatMap((m) =>
      Object.entries(m.scheduler.rejectedCount).map(([reason, value]) => ({
        labels: { ...ml(m), reason },
        value,
      })),
    ),
  );
  add('clipper_model_expired_total', 'Queries dropped from the model queue unsent, by reason', 'counter', async () =>
    (await models()).flatMap((m) =>
      Object.entries(m.scheduler.expiredCount).map(([reason, value]) => ({
        labels: { ...ml(m), reason },
        value,
      })),
    ),
  );
  add('clipper_model_errors_total', 'Batches the model failed (exception or wrong output count)', 'counter', async () =>
    (await models()).map((m) => ({ labels: ml(m), value: m.modelErrorCount })),
  );
}

/** The process's memory, descriptors and active resources (process_metrics.ts names them). */
function registerProcess(add: AddMetric, probe: ProcessProbe): void {
  const read = async () => readProcessResources(probe);
  add('process_resident_memory_bytes', 'Resident memory size in bytes', 'gauge', async () => [
    { labels: {}, value: (await read()).rssBytes },
  ]);
  add('process_open_fds', 'Number of open file descriptors', 'gauge', async () => {
    const fds = (await read()).openFds;
    return fds === null ? [] : [{ labels: {}, value: fds }];
  });
  add('nodejs_heap_size_used_bytes', 'V8 heap in use in bytes', 'gauge', async () => [{ labels: {}, value: (await read()).heapUsedBytes }]);
  add('nodejs_heap_size_total_bytes', 'V8 heap committed in bytes', 'gauge', async () => [
    { labels: {}, value: (await read()).heapTotalBytes },
  ]);
  add('nodejs_external_memory_bytes', 'Memory held outside the V8 heap by JS objects, in bytes', 'gauge', async () => [
    { labels: {}, value: (await read()).externalBytes },
  ]);
  add(
    'nodejs_active_resources',
    'Resources keeping the main event loop alive, by type (process.getActiveResourcesInfo())',
    'gauge',
    async () => [...(await read()).activeResources].map(([type, value]) => ({ labels: { type }, value })),
  );
  add('nodejs_active_resources_total', 'Total resources keeping the main event loop alive', 'gauge', async () => {
    let total = 0;
    for (const n of (await read()).activeResources.values()) total += n;
    return [{ labels: {}, value: total }];
  });
}

/** The batching threads' own timers and sockets (each answers the scrape's stats request with them). */
function registerThreads(add: AddMetric, src: PromSources): void {
  add('nodejs_thread_active_resources', "Resources keeping a batching thread's event loop alive, by thread and type", 'gauge', async () => {
    await src.models(); // the same request brings each thread's list
    return (src.threadResources?.() ?? []).flatMap((r, thread) =>
      [...countByType(r.active)].map(([type, value]) => ({ labels: { thread: `batching-${thread}`, type }, value })),
    );
  });
  add('nodejs_thread_heap_size_used_bytes', "A batching thread's V8 heap in use", 'gauge', async () => {
    await src.models();
    return (src.threadResources?.() ?? []).map((r, thread) => ({ labels: { thread: `batching-${thread}` }, value: r.heapUsedBytes }));
  });
}
