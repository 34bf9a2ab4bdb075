// The counters of every frontend thread, added up on the main thread (what /metrics, the dashboard,
// the tuner and get_pipeline_stats read there, through query/query_stats_source.ts). A thread sends
// its counters as plain data (FrontendStats, messages.ts; thread_query_core.ts makes them); the main
// end keeps the last answer of each thread and adds them all up, so a thread that misses one refresh
// still counts with its previous numbers and no counter ever goes down.
//
// An app's merged AppStats is one object for as long as the app has counters in some thread (the
// dashboard tells a recreated app by a new object, snapshot_builder.ts): it is zeroed and refilled in
// place on each merge.

import type { PredictionCacheStats } from '../cache/cache_types.js';
import { addHistogram, resetHistogram } from '../lib/bucket_histogram.js';
import { newAppStats, type AppStats } from '../query/app_route.js';
import type { QueryCounters } from '../query/query_processor.js';
import { AppPipelineStats, type StageStats } from '../query/stage_stats.js';
import type { FrontendStats, PipelineStatsWire } from './messages.js';

/** A pipeline app's counters added up over the threads; its arrival rate is the sum of theirs. */
export class MergedPipelineStats extends AppPipelineStats {
  rateQps = 0;

  override arrivalRateQps(): number {
    return this.rateQps;
  }
}

export function zeroCounters(): QueryCounters {
  return { queries: 0, answered: 0, defaults: 0, sloMisses: 0, cancelled: 0 };
}

export function zeroCacheStats(): PredictionCacheStats {
  return { hitCount: 0, missCount: 0, coalescedCount: 0, bypassCount: 0, entryCount: 0, bytes: 0, pendingCount: 0, evictedCount: 0 };
}

/** Adds the numeric fields of `from` into `into` (same shape: counters, cache stats). */
function addNumbers<T extends object>(into: T, from: Readonly<T>): void {
  const target = into as Record<string, number>;
  for (const [key, value] of Object.entries(from)) if (typeof value === 'number') target[key] = (target[key] ?? 0) + value;
}

function resetAppStats(s: AppStats): void {
  s.queries = 0;
  s.defaults = 0;
  s.sloMisses = 0;
  s.shed = 0;
  s.cacheLookups = 0;
  s.cacheHits = 0;
  s.defaultKinds.fill(0);
  resetHistogram(s.latencyUs);
}

export function addAppStats(into: AppStats, from: AppStats): void {
  into.queries += from.queries;
  into.defaults += from.defaults;
  into.sloMisses += from.sloMisses;
  into.shed += from.shed;
  into.cacheLookups += from.cacheLookups;
  into.cacheHits += from.cacheHits;
  for (let i = 0; i < into.defaultKinds.length; i++) into.defaultKinds[i] = into.defaultKinds[i]! + (from.defaultKinds[i] ?? 0);
  addHistogram(into.latencyUs, from.latencyUs);
}

function sameStage(a: StageStats, b: StageStats): boolean {
  return a.name === b.name && a.kind === b.kind && a.models.length === b.models.length && a.models.every((m, i) => m === b.models[i]);
}

function copyStage(s: StageStats): StageStats {
  return {
    ...s,
    models: [...s.models],
    latencyUs: { ...s.latencyUs, counts: [...s.latencyUs.counts] },
    fallthrough: s.fallthrough === null ? null : [...s.fallthrough],
    failovers: s.failovers === null ? null : [...s.failovers],
  };
}

function addStage(into: StageStats, from: StageStats): void {
  into.calls += from.calls;
  into.fallbacks += from.fallbacks;
  addHistogram(into.latencyUs, from.latencyUs);
  const addLevels = (a: number[] | null, b: number[] | null): void => {
    if (a !== null && b !== null) for (let i = 0; i < a.length; i++) a[i] = a[i]! + (b[i] ?? 0);
  };
  addLevels(into.fallthrough, from.fallthrough);
  addLevels(into.failovers, from.failovers);
}

/**
 * One pipeline app over the threads that have it: the stages of the first (threads between two route
 * rebuilds may differ for a moment; a stage counts where its name, kind and models match).
 */
export function mergePipelineStats(app: string, parts: readonly PipelineStatsWire[]): MergedPipelineStats {
  const first = parts[0]!;
  const stages = first.stages.map(copyStage);
  const member = newAppStats();
  const merged = new MergedPipelineStats(app, stages, member);
  for (const part of parts) {
    merged.runErrors += part.runErrors;
    merged.rateQps += part.arrivalRateQps;
    addAppStats(member, part.memberStats);
    if (part === first) continue; // its stages' counts were copied
    for (const stage of part.stages) {
      const into = stages.find((s) => sameStage(s, stage));
      if (into !== undefined) addStage(into, stage);
    }
  }
  return merged;
}

function dropApp(stats: FrontendStats, app: string): void {
  stats.apps = stats.apps.filter(([name]) => name !== app);
  stats.pipelines = stats.pipelines.filter(([name]) => name !== app);
}

/** The sum of every thread's last answer; the objects stay the same across merges where they can. */
export class MergedStats {
  readonly counters: QueryCounters = zeroCounters();
  readonly cache: PredictionCacheStats = zeroCacheStats();
  readonly apps = new Map<string, AppStats>();
  readonly pipelines = new Map<string, MergedPipelineStats>();
  pendingCount = 0;
  /** Each thread's last answer (null: none yet). */
  readonly #last: Array<FrontendStats | null>;
  /** The request each thread's last answer was to (-1: none, or not given). */
  readonly #lastRequestId: number[];
  /**
   * App → the first stats request posted after it was forgotten. An answer to an earlier request was
   * taken before the thread forgot the app (a port keeps the order), so the app is left out of it.
   */
  readonly #forgotten = new Map<string, number>();

  constructor(threadCount: number) {
    this.#last = new Array<FrontendStats | null>(threadCount).fill(null);
    this.#lastRequestId = new Array<number>(threadCount).fill(-1);
  }

  /** The last answer of thread `index`. */
  lastOf(index: number): FrontendStats | null {
    return this.#last[index] ?? null;
  }

  /**
   * Thread `index` answered (stats request `requestId`, if counted): its numbers replace its previous
   * ones (call merge() after a round).
   */
  set(index: number, stats: FrontendStats, requestId = -1): void {
    for (const [app, since] of this.#forgotten) if (requestId >= 0 && requestId < since) dropApp(stats, app);
    this.#last[index] = stats;
    this.#lastRequestId[index] = requestId;
    for (const [app, since] of this.#forgotten) if (this.#lastRequestId.every((r) => r >= since)) this.#forgotten.delete(app);
  }

  /**
   * An app was deleted: its counters go at once, from every thread's last answer too, and from answers
   * to stats requests before `nextRequestId` (the id the next request will have) still on their way.
   */
  forgetApp(app: string, nextRequestId = -1): void {
    if (nextRequestId >= 0) this.#forgotten.set(app, nextRequestId);
    this.apps.delete(app);
    this.pipelines.delete(app);
    for (const last of this.#last) if (last !== null) dropApp(last, app);
  }

  /** Adds up every thread's last answer. */
  merge(): void {
    Object.assign(this.counters, zeroCounters());
    Object.assign(this.cache, zeroCacheStats());
    this.pendingCount = 0;
    for (const s of this.apps.values()) resetAppStats(s);
    const seen = new Set<string>();
    const pipelineParts = new Map<string, PipelineStatsWire[]>();
    for (const last of this.#last) {
      if (last === null) continue;
      addNumbers(this.counters, last.counters);
      addNumbers(this.cache, last.cache);
      this.pendingCount += last.pendingCount;
      for (const [name, stats] of last.apps) {
        let into = this.apps.get(name);
        if (into === undefined) {
          into = newAppStats();
          this.apps.set(name, into);
        }
        seen.add(name);
        addAppStats(into, stats);
      }
      for (const [name, wire] of last.pipelines) {
        const parts = pipelineParts.get(name);
        if (parts === undefined) pipelineParts.set(name, [wire]);
        else parts.push(wire);
      }
    }
    for (const name of [...this.apps.keys()]) if (!seen.has(name)) this.apps.delete(name);
    this.pipelines.clear();
    for (const [name, parts] of pipelineParts) this.pipelines.set(name, mergePipelineStats(name, parts));
  }
}
