// Builds one dashboard Snapshot (snapshot_types.ts) from the cumulative counters the query path and
// the batching workers keep: each figure is the difference from the previous sample, divided by the
// time between them. Latency quantiles come from the difference of two bucket histograms (a few
// dozen numbers per app), never from per-query arrays. Pure: the caller gathers the inputs and says
// what time it is, so tests drive it with made-up counters.
//
// A worker that does not answer a stats request in time (BatchingPool.stats gives up after 2 s)
// leaves its models out of that sample. Their last counts are kept, with the time they were read,
// so the next sample that has them reports the difference over the time since; and a model that
// is configured but whose counters were never read is given a baseline first, never its all-time
// totals as one interval's.

import type { ReplicaStatus } from '../admin/admin_context.js';
import type { ModelActorStats } from '../batching/protocol.js';
import { bucketQuantile, type BucketHistogram } from '../lib/bucket_histogram.js';
import { kDefaultKindNames, type AppStats } from '../query/app_route.js';
import { modelKey, type AppRecord, type ModelRecord, type StateSnapshot } from '../state/records.js';
import type { AppSnapshot, DashboardSources, ModelSnapshot, ReplicaSnapshot, Snapshot } from './snapshot_types.js';

/** Everything one sample reads, gathered by the sampler (only the model stats take a round trip). */
export interface SampleInput {
  state: StateSnapshot;
  appStats: ReadonlyMap<string, AppStats>;
  modelStats: readonly ModelActorStats[];
  replicas: readonly ReplicaStatus[];
  selectionWeights: DashboardSources['selectionWeights'];
}

/** The part of an app's counters a sample keeps (AppStats is live: the query path goes on bumping it). */
interface AppCounts {
  /** The live object these were read from: another one is a recreated app, counting from zero. */
  source: AppStats;
  latencyUs: BucketHistogram;
  defaults: number;
  defaultKinds: number[];
  shed: number;
  cacheLookups: number;
  cacheHits: number;
}

function copyHistogram(h: BucketHistogram): BucketHistogram {
  return { bounds: h.bounds, counts: [...h.counts], sum: h.sum, sumSq: h.sumSq, min: h.min, max: h.max };
}

function appCounts(s: AppStats): AppCounts {
  return {
    source: s,
    latencyUs: copyHistogram(s.latencyUs),
    defaults: s.defaults,
    defaultKinds: [...s.defaultKinds],
    shed: s.shed,
    cacheLookups: s.cacheLookups,
    cacheHits: s.cacheHits,
  };
}

const total = (counts: readonly number[]): number => counts.reduce((a, b) => a + b, 0);

/**
 * `now` less `before` (absent, or counting less than `now` somewhere: the source was recreated, so
 * all of `now` is new). A delta's min and max are what the interval can know: the bounds of its
 * lowest and highest non-empty buckets, narrowed by the cumulative min and max (every value of the
 * interval lies between those too). Values in the open-ended bucket are known only to lie above the
 * last bound, so there the max is that bound: an interval's p99 never reports the all-time max of
 * hours ago.
 */
export function histogramDelta(now: BucketHistogram, before: BucketHistogram | undefined): BucketHistogram {
  const usable = before !== undefined && before.counts.length === now.counts.length && before.counts.every((c, i) => c <= now.counts[i]!);
  if (!usable) return copyHistogram(now);
  const delta: BucketHistogram = {
    bounds: now.bounds,
    counts: now.counts.map((c, i) => c - before.counts[i]!),
    sum: now.sum - before.sum,
    sumSq: now.sumSq - before.sumSq,
    min: Infinity,
    max: -Infinity,
  };
  const first = delta.counts.findIndex((c) => c > 0);
  if (first < 0) return delta;
  const last = delta.counts.findLastIndex((c) => c > 0);
  const bounds = now.bounds;
  delta.min = first === 0 ? now.min : Math.max(now.min, bounds[first - 1]!);
  delta.max = last < bounds.length ? Math.min(now.max, bounds[last]!) : Math.max(delta.min, bounds.at(-1) ?? delta.min);
  return delta;
}

/** Quantile q of a histogram (delta), or null when it is empty. */
export function quantileOrNull(h: BucketHistogram, q: number): number | null {
  return total(h.counts) === 0 ? null : bucketQuantile(h, q);
}

function meanOrNull(h: BucketHistogram): number | null {
  const n = total(h.counts);
  return n === 0 ? null : h.sum / n;
}

const ratioOrNull = (num: number, den: number): number | null => (den > 0 ? num / den : null);
const scaled = (x: number | null, factor: number): number | null => (x === null ? null : x * factor);

/** Batches by size bucket; the open-ended bucket (`le` null: above the last bound) only when it holds batches. */
function sizeBuckets(h: BucketHistogram): ModelSnapshot['batchSizeHistogram'] {
  const out: ModelSnapshot['batchSizeHistogram'] = h.bounds.map((le, i) => ({ le, count: h.counts[i]! }));
  const overflow = h.counts[h.bounds.length]!;
  if (overflow > 0) out.push({ le: null, count: overflow });
  return out;
}

/** Policy weights normalised to sum 1 (a policy's combine weights need not), or [] without a usable set. */
export function normalisedWeights(sel: ReturnType<DashboardSources['selectionWeights']>): AppSnapshot['selection'] {
  if (sel === null || sel.models.length < 2) return [];
  let sum = 0;
  for (let i = 0; i < sel.models.length; i++) sum += Math.max(0, Number(sel.weights[i] ?? 0));
  if (!(sum > 0) || !Number.isFinite(sum)) return [];
  return sel.models.map((model, i) => ({ model, weight: Math.max(0, Number(sel.weights[i] ?? 0)) / sum }));
}

/** A model actor's cumulative counters, and when they were read (ms, a sample's `t`). */
interface ModelCounts {
  stats: ModelActorStats;
  tMs: number;
}

/** A model's counters now and those its figures are the difference from (none: from zero), `seconds` earlier. */
interface ModelInterval {
  now: ModelActorStats;
  before: ModelActorStats | undefined;
  seconds: number;
}

/**
 * What a model's figures this time are the difference of: its counts now less its last counts
 * (perhaps from an older sample, when its worker missed some: over the time since), or from zero for
 * an actor never seen (deployed since the last sample: no counts kept, or a new modelIndex, a
 * re-created actor). Null: nothing to report, as its counters were not read this time, or its
 * earlier ones never were (these are their baseline).
 */
function modelInterval(
  now: ModelActorStats | undefined,
  before: ModelCounts | null | undefined,
  t: number,
  prevMs: number,
): ModelInterval | null {
  if (now === undefined || before === null) return null;
  if (before === undefined || before.stats.modelIndex !== now.modelIndex) return { now, before: undefined, seconds: (t - prevMs) / 1000 };
  return { now, before: before.stats, seconds: (t - before.tMs) / 1000 };
}

/** The counters of the previous sample, and a snapshot of what changed since. */
export class SnapshotBuilder {
  #prevMs: number | null = null;
  #prevApps = new Map<string, AppCounts>();
  /**
   * By modelKey, each configured model's last counts read; kept across samples that miss them. Null:
   * configured, but its counters not read yet (at the first sample, or its worker did not answer).
   */
  #prevModels = new Map<string, ModelCounts | null>();

  /** Forget the previous sample: the next build() only takes a baseline. */
  reset(): void {
    this.#prevMs = null;
    this.#prevApps.clear();
    this.#prevModels.clear();
  }

  /** The snapshot of the interval since the previous build(); null for the first (a baseline). */
  build(input: SampleInput, nowMs: number): Snapshot | null {
    const prevMs = this.#prevMs;
    // Whole milliseconds, so that each snapshot's interval is exactly the difference of two `t`s.
    const t = Math.round(nowMs);
    const apps = new Map<string, AppCounts>();
    for (const [name, stats] of input.appStats) apps.set(name, appCounts(stats));
    const models = new Map<string, ModelActorStats>();
    for (const m of input.modelStats) models.set(modelKey(m.name, m.version), m);
    const prevApps = this.#prevApps;
    const prevModels = this.#prevModels;
    this.#prevMs = t;
    this.#prevApps = apps;
    this.#prevModels = mergedModels(input.state, models, prevModels, t);
    if (prevMs === null || !(t > prevMs)) return null;
    const intervalMs = t - prevMs;
    const seconds = intervalMs / 1000;
    return {
      t,
      intervalMs,
      apps: [...input.state.apps.values()].map((app) =>
        appSnapshot(app, apps.get(app.name), prevApps.get(app.name), seconds, input.selectionWeights(app.name)),
      ),
      models: [...input.state.models.values()].map((m) => {
        const key = modelKey(m.model_name, m.model_version);
        const current = input.state.currentVersions.get(m.model_name) === m.model_version;
        return modelSnapshot(m, current, modelInterval(models.get(key), prevModels.get(key), t, prevMs), input.replicas);
      }),
    };
  }
}

/**
 * The models' counts to keep: this sample's; for a configured model it missed, the last ones (or
 * null, never read); a model no longer configured and not sampled is forgotten.
 */
function mergedModels(
  state: StateSnapshot,
  sampled: ReadonlyMap<string, ModelActorStats>,
  prev: ReadonlyMap<string, ModelCounts | null>,
  t: number,
): Map<string, ModelCounts | null> {
  const merged = new Map<string, ModelCounts | null>();
  for (const [key, stats] of sampled) merged.set(key, { stats, tMs: t });
  for (const key of state.models.keys()) {
    if (!merged.has(key)) merged.set(key, prev.get(key) ?? null);
  }
  return merged;
}

function appSnapshot(
  app: AppRecord,
  now: AppCounts | undefined,
  before: AppCounts | undefined,
  seconds: number,
  selection: ReturnType<DashboardSources['selectionWeights']>,
): AppSnapshot {
  // A recreated app has new counters: everything they hold is new.
  const base = now !== undefined && before?.source === now.source ? before : undefined;
  const latency = now === undefined ? null : histogramDelta(now.latencyUs, base?.latencyUs);
  const answered = latency === null ? 0 : total(latency.counts);
  const defaults = now === undefined ? 0 : now.defaults - (base?.defaults ?? 0);
  const reasons: Record<string, number> = {};
  if (now !== undefined) {
    kDefaultKindNames.forEach((name, i) => {
      const n = now.defaultKinds[i]! - (base?.defaultKinds[i] ?? 0);
      if (n > 0) reasons[name] = n;
    });
  }
  const lookups = now === undefined ? 0 : now.cacheLookups - (base?.cacheLookups ?? 0);
  const hits = now === undefined ? 0 : now.cacheHits - (base?.cacheHits ?? 0);
  return {
    name: app.name,
    sloMicros: app.latency_slo_micros,
    policy: app.selection_policy,
    linkedModels: [...app.linked_models],
    defaultOutput: app.default_output,
    qps: answered / seconds,
    latencyMsP50: latency === null ? null : scaled(quantileOrNull(latency, 0.5), 1e-3),
    latencyMsP99: latency === null ? null : scaled(quantileOrNull(latency, 0.99), 1e-3),
    // A model's answer always comes before its deadline (a later one is dropped for the default output).
    sloAttainment: ratioOrNull(Math.max(0, answered - defaults), answered),
    defaultShare: ratioOrNull(Math.min(defaults, answered), answered),
    defaultReasons: reasons,
    shed: now === undefined ? 0 : now.shed - (base?.shed ?? 0),
    cacheHitRatio: ratioOrNull(hits, lookups),
    selection: normalisedWeights(selection),
  };
}

function replicaSnapshots(model: ModelRecord, replicas: readonly ReplicaStatus[]): ReplicaSnapshot[] {
  return replicas
    .filter((r) => r.model === model.model_name && r.version === model.model_version)
    .map((r) => ({
      id: r.replicaId,
      host: r.host,
      port: r.port,
      state: r.state,
      health: r.health,
      connected: r.connected,
      restarts: r.restartCount,
    }));
}

function modelSnapshot(
  model: ModelRecord,
  current: boolean,
  counted: ModelInterval | null,
  replicas: readonly ReplicaStatus[],
): ModelSnapshot {
  const delta = (pick: (s: ModelActorStats) => BucketHistogram) =>
    counted === null ? null : histogramDelta(pick(counted.now), counted.before === undefined ? undefined : pick(counted.before));
  const sizes = delta((s) => s.batchSize);
  const queueUs = delta((s) => s.queueUs);
  const modelUs = delta((s) => s.batchLatencyUs);
  return {
    name: model.model_name,
    version: model.model_version,
    current,
    qps: sizes === null || counted === null ? 0 : sizes.sum / counted.seconds,
    batchSizeMean: sizes === null ? null : meanOrNull(sizes),
    batchSizeHistogram: sizes === null ? [] : sizeBuckets(sizes),
    queueMsMean: queueUs === null ? null : scaled(meanOrNull(queueUs), 1e-3),
    modelMsMean: modelUs === null ? null : scaled(meanOrNull(modelUs), 1e-3),
    batchMode: model.batch_size > 0 ? model.batch_size : 'adaptive',
    numReplicas: model.num_replicas,
    replicas: replicaSnapshots(model, replicas),
  };
}
