// Metrics of the query frontend, in two forms: Prometheus text (prom-client; 0.0.4 or OpenMetrics)
// and Clipper's JSON. GET /metrics picks one from the Accept header (negotiate.ts). Nothing here
// runs per query: the hot path only bumps counters and histogram buckets it owns (per app in each
// frontend, per model version in the batching workers); a scrape reads them, asking every worker for
// its models' numbers over the control channel once, and every frontend thread for its counters
// (QueryStatsSource.refresh, query/query_stats_source.ts; nothing to ask with one frontend). The meters of Clipper's JSON (throughput
// EWMAs) are sampled from those counters: the apps' on a 5 s timer, the models' at each JSON scrape.

import type { Registry, RegistryContentType } from 'prom-client';
import type { ReplicaStatus } from '../admin/admin_context.js';
import type { ModelActorStats, ThreadResources } from '../batching/protocol.js';
import type { QueryStatsSource } from '../query/query_stats_source.js';
import type { AppPipelineStats } from '../query/stage_stats.js';
import { answeredCount, appThroughputName, clipperMetricsDocument, kAggregateThroughput, modelThroughputName } from './clipper_json.js';
import { kMeterTickMs, MeterSet } from './meter.js';
import { createPromRegistry, type FrontendThreadCounts } from './prom_registry.js';

export type TextFormat = 'prometheus' | 'openmetrics';

export interface MetricsOptions {
  /** Monotonic clock in ms (tests inject one); default performance.now. */
  nowMs?: () => number;
  /** Sample the apps' meters on a timer (default true; tests that drive the clock turn it off). */
  timer?: boolean;
  /** Each batching thread's resources as of the last stats answer (BatchingPool.threadResources). */
  threadResources?: () => readonly ThreadResources[];
  /** Pipeline apps' per-stage counters; default: the stats source's. */
  pipelines?: () => ReadonlyMap<string, AppPipelineStats>;
  /** The frontend threads by state (null: one frontend). */
  frontendThreads?: () => FrontendThreadCounts | null;
}

export class Metrics {
  readonly #stats: QueryStatsSource;
  readonly #modelStats: () => Promise<ModelActorStats[]>;
  readonly #registries: Record<TextFormat, Registry<RegistryContentType>>;
  readonly #nowMs: () => number;
  readonly #appMeters: MeterSet;
  readonly #modelMeters: MeterSet;
  readonly #timer: NodeJS.Timeout | null;
  #scrape: Promise<ModelActorStats[]> | null = null;

  constructor(
    stats: QueryStatsSource,
    modelStats: () => Promise<ModelActorStats[]>,
    replicas: () => ReplicaStatus[],
    options: MetricsOptions = {},
  ) {
    this.#stats = stats;
    this.#modelStats = modelStats;
    const sources = {
      stats,
      models: () => this.#models(),
      replicas,
      threadResources: options.threadResources ?? (() => []),
      pipelines: options.pipelines ?? (() => stats.allPipelineStats()),
      ...(options.frontendThreads === undefined ? {} : { frontendThreads: options.frontendThreads }),
    };
    this.#registries = {
      prometheus: createPromRegistry('prometheus', sources),
      openmetrics: createPromRegistry('openmetrics', sources),
    };
    this.#nowMs = options.nowMs ?? (() => performance.now());
    const startMs = this.#nowMs();
    this.#appMeters = new MeterSet(startMs);
    this.#modelMeters = new MeterSet(startMs);
    const tick = (): void => {
      this.#stats.refresh().then(
        () => this.#sampleApps(),
        () => undefined,
      );
    };
    this.#timer = options.timer === false ? null : setInterval(tick, kMeterTickMs);
    this.#timer?.unref();
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
  }

  async text(format: TextFormat = 'prometheus'): Promise<{ contentType: string; body: string }> {
    this.#scrape = null;
    const registry = this.#registries[format];
    await this.#stats.refresh();
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  /** Clipper's JSON document (spec §8.1), every value a string as Clipper wrote it. */
  async clipperJson(): Promise<string> {
    this.#scrape = null;
    const [models] = await Promise.all([this.#models(), this.#stats.refresh()]);
    const nowMs = this.#nowMs();
    this.#sampleApps(nowMs);
    const modelCounts = models.map((m) => [modelThroughputName(m), m.scheduler.sentQueryCount] as const);
    const aggregate = modelCounts.reduce((sum, [, n]) => sum + n, 0);
    this.#modelMeters.sample([...modelCounts, [kAggregateThroughput, aggregate]], nowMs);
    const doc = clipperMetricsDocument({
      queryCount: this.#stats.counters.queries,
      cache: this.#stats.cacheStats(),
      apps: this.#stats.allAppStats(),
      models,
      meter: (name) => this.#appMeters.get(name) ?? this.#modelMeters.get(name),
    });
    return JSON.stringify(doc);
  }

  #sampleApps(nowMs = this.#nowMs()): void {
    const counts: Array<readonly [string, number]> = [];
    for (const [app, s] of this.#stats.allAppStats()) counts.push([appThroughputName(app), answeredCount(s)]);
    this.#appMeters.sample(counts, nowMs);
  }

  /** One request to the workers per scrape, shared by every metric that needs it. */
  #models(): Promise<ModelActorStats[]> {
    this.#scrape ??= this.#modelStats();
    return this.#scrape;
  }
}
