// What the readers of the query core's counters read (metrics, the dashboard, the pipeline tuner,
// admin get_pipeline_stats): one interface over wherever the query path runs. With one frontend it
// is the main thread's own processor (ProcessorStats below; refresh has nothing to do). With
// frontend threads it is the main end of the group (frontend_thread/frontend_group.ts), which pulls
// every thread's counters and adds them up (frontend_thread/stats_merge.ts): the values are those of
// the last refresh(), so a reader that awaits anyway calls refresh() first; a periodic reader (the
// dashboard sampler, the tuner) refreshes in its tick and may read the last values in between.

import type { PredictionCacheStats } from '../cache/cache_types.js';
import { newAppStats, type AppStats } from './app_route.js';
import type { QueryCounters, QueryProcessor } from './query_processor.js';
import type { AppPipelineStats } from './stage_stats.js';

export interface QueryStatsSource {
  /** Queries received, answered, defaults, SLO misses, cancelled (every frontend's). */
  readonly counters: Readonly<QueryCounters>;
  /** Queries in flight. */
  readonly pendingCount: number;
  /** The prediction cache's counters (every frontend's cache added up). */
  cacheStats(): PredictionCacheStats;
  /** Every app's counters, by app name. */
  allAppStats(): ReadonlyMap<string, AppStats>;
  /** One app's counters (all zero when it has none yet). */
  appStats(name: string): AppStats;
  /** A pipeline app's per-stage counters, or undefined when no query reached it. */
  pipelineStats(app: string): AppPipelineStats | undefined;
  /** Every pipeline app's per-stage counters. */
  allPipelineStats(): ReadonlyMap<string, AppPipelineStats>;
  /** Brings the values up to date (a round trip to every frontend thread, bounded by a timeout). */
  refresh(): Promise<void>;
}

/** The keeper of pipeline apps' counters (query/stage_stats.ts's PipelineStatsKeeper; the route table owns it). */
export interface PipelineStatsReader {
  get(app: string): AppPipelineStats | undefined;
  all(): ReadonlyMap<string, AppPipelineStats>;
}

/** One frontend: the processor's live counters, read as they are. */
export class ProcessorStats implements QueryStatsSource {
  readonly #processor: QueryProcessor;
  readonly #pipelines: PipelineStatsReader;

  constructor(processor: QueryProcessor, pipelines: PipelineStatsReader) {
    this.#processor = processor;
    this.#pipelines = pipelines;
  }

  get counters(): Readonly<QueryCounters> {
    return this.#processor.counters;
  }

  get pendingCount(): number {
    return this.#processor.pendingCount;
  }

  cacheStats(): PredictionCacheStats {
    return this.#processor.cache.stats();
  }

  allAppStats(): ReadonlyMap<string, AppStats> {
    return this.#processor.allAppStats();
  }

  appStats(name: string): AppStats {
    // Reading must not create an app's counters: the processor's appStats() would.
    return this.#processor.allAppStats().get(name) ?? newAppStats();
  }

  pipelineStats(app: string): AppPipelineStats | undefined {
    return this.#pipelines.get(app);
  }

  allPipelineStats(): ReadonlyMap<string, AppPipelineStats> {
    return this.#pipelines.all();
  }

  refresh(): Promise<void> {
    return Promise.resolve();
  }
}
