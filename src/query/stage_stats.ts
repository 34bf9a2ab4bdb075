// Per-stage counters of pipeline apps (docs/pipelines.md, "Metrics"): calls, latency, fallbacks and,
// for cascades, how many queries fell through each model (an unsure answer) or failed over from it
// (no answer: the next model was asked instead). Kept per app by a PipelineStatsKeeper that
// outlives route rebuilds (as the apps' AppStats do): a stage keeps its counters while its name, kind
// and models stay the same. The executor (stage_run.ts) bumps them on the hot path (a few increments
// and one histogram bucket per stage); /metrics and admin get_pipeline_stats read them.

import type { ModelActorStats } from '../batching/protocol.js';
import { bucketQuantile, newBucketHistogram, observeBucket, type BucketHistogram } from '../lib/bucket_histogram.js';
import type { StageKind } from '../pipeline_spec.js';
import { kAppLatencyUsBuckets, newAppStats, type AppStats } from './app_route.js';

/** Upper bounds (µs) of a stage's latency buckets (the apps' end-to-end buckets); the last is +Inf. */
export const kStageLatencyUsBuckets = kAppLatencyUsBuckets;

/** Seconds of arrivals the arrival rate is measured over. */
const kRateWindowS = 10;

export interface StageStats {
  readonly name: string;
  readonly kind: StageKind;
  /** The models the stage calls, in its order. */
  readonly models: readonly string[];
  /** Times the stage ran (started with its inputs ready). */
  calls: number;
  /** From the stage's start to its output (or failure), µs. */
  readonly latencyUs: BucketHistogram;
  /** Times the stage failed (a model's default, no time left, an unusable output): best so far or the default output. */
  fallbacks: number;
  /** Cascades: per model but the last, the queries whose answer was not confident enough and went on; else null. */
  readonly fallthrough: number[] | null;
  /** Cascades: per model but the last, the queries it gave no answer (late, shed, an error) that went on to the next; else null. */
  readonly failovers: number[] | null;
}

/** What keeps a stage's counters across rebuilds: the same name, kind and models. */
export interface StageIdentity {
  readonly name: string;
  readonly kind: StageKind;
  readonly models: readonly string[];
}

function sameStage(s: StageStats, id: StageIdentity): boolean {
  return s.name === id.name && s.kind === id.kind && s.models.length === id.models.length && s.models.every((m, i) => m === id.models[i]);
}

function newStageStats(id: StageIdentity): StageStats {
  return {
    name: id.name,
    kind: id.kind,
    models: [...id.models],
    calls: 0,
    latencyUs: newBucketHistogram(kStageLatencyUsBuckets),
    fallbacks: 0,
    fallthrough: id.kind === 'cascade' ? new Array<number>(Math.max(0, id.models.length - 1)).fill(0) : null,
    failovers: id.kind === 'cascade' ? new Array<number>(Math.max(0, id.models.length - 1)).fill(0) : null,
  };
}

/** One pipeline app's counters. */
export class AppPipelineStats {
  readonly app: string;
  /** In execution order. */
  readonly stages: readonly StageStats[];
  /** The counters of the app's sub-queries (one per model call): not the app's answers. */
  readonly memberStats: AppStats;
  /** Queries whose run broke an invariant of the executor and answered the default output (stage_run.ts). */
  runErrors = 0;
  /** Arrivals per second over the last kRateWindowS seconds (ring indexed by second). */
  readonly #counts = new Float64Array(kRateWindowS);
  readonly #seconds = new Float64Array(kRateWindowS).fill(-1);
  #firstMs = -1;

  constructor(app: string, stages: readonly StageStats[], memberStats: AppStats) {
    this.app = app;
    this.stages = stages;
    this.memberStats = memberStats;
  }

  /** A query arrived at `nowMs`. */
  arrive(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const i = second % kRateWindowS;
    if (this.#seconds[i] !== second) {
      this.#seconds[i] = second;
      this.#counts[i] = 0;
    }
    this.#counts[i]!++;
    if (this.#firstMs < 0) this.#firstMs = nowMs;
  }

  /** Queries per second over the last kRateWindowS seconds (or since the first arrival, when later). */
  arrivalRateQps(nowMs: number): number {
    if (this.#firstMs < 0) return 0;
    const second = Math.floor(nowMs / 1000);
    const oldest = second - kRateWindowS + 1;
    let count = 0;
    for (let i = 0; i < kRateWindowS; i++) {
      const s = this.#seconds[i]!;
      if (s >= oldest && s <= second) count += this.#counts[i]!;
    }
    const spanS = Math.min(nowMs / 1000 - oldest, (nowMs - this.#firstMs) / 1000);
    return spanS > 0 ? count / spanS : 0;
  }
}

/** Every pipeline app's counters, by app name; they outlive route rebuilds. */
export class PipelineStatsKeeper {
  readonly #apps = new Map<string, AppPipelineStats>();

  /**
   * The counters of `app` with these stages (execution order): a stage that keeps its name, kind and
   * models keeps its counters; the others start at zero.
   */
  of(app: string, stages: readonly StageIdentity[]): AppPipelineStats {
    const old = this.#apps.get(app);
    if (old !== undefined && old.stages.length === stages.length && old.stages.every((s, i) => sameStage(s, stages[i]!))) return old;
    const kept = stages.map((id) => old?.stages.find((s) => sameStage(s, id)) ?? newStageStats(id));
    const stats = new AppPipelineStats(app, kept, old?.memberStats ?? newAppStats());
    stats.runErrors = old?.runErrors ?? 0;
    this.#apps.set(app, stats);
    return stats;
  }

  get(app: string): AppPipelineStats | undefined {
    return this.#apps.get(app);
  }

  all(): ReadonlyMap<string, AppPipelineStats> {
    return this.#apps;
  }

  /** Forget the apps not in `apps` (deleted, or no longer pipelines). */
  keepOnly(apps: ReadonlySet<string>): void {
    for (const name of [...this.#apps.keys()]) if (!apps.has(name)) this.#apps.delete(name);
  }
}

/**
 * One stage in admin get_pipeline_stats's answer (docs/pipelines.md, "Metrics"). The TS client
 * (client/client_types.ts) returns this type as it is.
 */
export interface PipelineStageReport {
  name: string;
  kind: StageKind;
  calls: number;
  latency_us: { p50: number; p99: number; mean: number };
  fallbacks: number;
  /** Cascades: per model but the last, the queries whose answer was not confident enough and went on. */
  fallthrough?: Record<string, number>;
  /** Cascades: per model but the last, the queries it failed to answer that went on to the next model. */
  failovers?: Record<string, number>;
  /** Each model the stage calls, with its current version's mean batch size (null: no batch yet on this frontend). */
  models: Array<{ model: string; mean_batch_size: number | null }>;
}

/** admin get_pipeline_stats's answer (docs/pipelines.md, "Metrics"). */
export interface PipelineStatsReport {
  app: string;
  stages: PipelineStageReport[];
  queries: number;
  arrival_rate_qps: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * The report of one app. `meanBatchSize`: per model, the mean batch size of its current version (its
 * own scheduler's, shared with whatever else calls it; meanBatchSizes); a model not there has null.
 */
export function pipelineStatsReport(
  stats: AppPipelineStats,
  queries: number,
  meanBatchSize: ReadonlyMap<string, number>,
  nowMs: number,
): PipelineStatsReport {
  return {
    app: stats.app,
    stages: stats.stages.map((s) => {
      const n = s.latencyUs.counts.reduce((a, b) => a + b, 0);
      const latency = {
        p50: round3(bucketQuantile(s.latencyUs, 0.5)),
        p99: round3(bucketQuantile(s.latencyUs, 0.99)),
        mean: n === 0 ? 0 : round3(s.latencyUs.sum / n),
      };
      const perLevel = (counts: number[]) => Object.fromEntries(counts.map((c, i) => [s.models[i]!, c]));
      const fallthrough = s.fallthrough === null ? {} : { fallthrough: perLevel(s.fallthrough) };
      const failovers = s.failovers === null ? {} : { failovers: perLevel(s.failovers) };
      const models = [...new Set(s.models)].map((model) => ({ model, mean_batch_size: meanBatchSize.get(model) ?? null }));
      return {
        name: s.name,
        kind: s.kind,
        calls: s.calls,
        latency_us: latency,
        fallbacks: s.fallbacks,
        ...fallthrough,
        ...failovers,
        models,
      };
    }),
    queries,
    arrival_rate_qps: round3(stats.arrivalRateQps(nowMs)),
  };
}

/** The report of a pipeline no query has reached on this frontend: its stages (execution order), every counter 0. */
export function zeroPipelineStatsReport(app: string, stages: readonly StageIdentity[]): PipelineStatsReport {
  return pipelineStatsReport(new AppPipelineStats(app, stages.map(newStageStats), newAppStats()), 0, new Map(), 0);
}

/** Mean batch size per model name, of each model's current version (`current`: name → version). */
export function meanBatchSizes(models: readonly ModelActorStats[], current: ReadonlyMap<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of models) {
    if (current.get(m.name) !== m.version) continue;
    const n = m.batchSize.counts.reduce((a, b) => a + b, 0);
    if (n > 0) out.set(m.name, round3(m.batchSize.sum / n));
  }
  return out;
}

/** Count one stage run that ended `latencyMs` after it started. */
export function observeStage(stats: StageStats, latencyMs: number): void {
  observeBucket(stats.latencyUs, latencyMs * 1000);
}
