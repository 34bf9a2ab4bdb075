// Snapshot history → chart data, with no DOM: the last five minutes of snapshots the page keeps,
// and the columns each chart of an app or a model version draws from them (x in seconds, as uPlot
// wants; null where the app or model was absent or nothing was measured). Also aligns the bench
// report's (x, y) points onto one x axis. Pure, so test/unit/dashboard_charts.test.ts runs it under Node.

import type { AppSnapshot, Column, Columns, ModelSnapshot, Snapshot } from './types.js';

/** How much history the charts keep. */
export const kWindowMs = 300_000;

/** A model version's key in the page: `name:version`. */
export function modelKey(m: { name: string; version: string }): string {
  return `${m.name}:${m.version}`;
}

/** The snapshots of the last `windowMs`, oldest first, each `t` once. */
export class SnapshotWindow {
  #list: Snapshot[] = [];

  constructor(readonly windowMs: number = kWindowMs) {}

  get snapshots(): readonly Snapshot[] {
    return this.#list;
  }

  get latest(): Snapshot | null {
    return this.#list[this.#list.length - 1] ?? null;
  }

  /** Starts over from a history event (a reconnect: the server's ring is the truth). */
  replace(snapshots: readonly Snapshot[]): void {
    const sorted = [...snapshots].sort((a, b) => a.t - b.t);
    this.#list = sorted.filter((s, i) => i === 0 || s.t > sorted[i - 1]!.t);
    this.#trim();
  }

  /** Adds the newest snapshot; false (and nothing kept) when it is not newer than the last one. */
  add(snapshot: Snapshot): boolean {
    const last = this.latest;
    if (last !== null && snapshot.t <= last.t) return false;
    this.#list.push(snapshot);
    this.#trim();
    return true;
  }

  #trim(): void {
    const last = this.latest;
    if (last === null) return;
    const from = last.t - this.windowMs;
    let drop = 0;
    while (drop < this.#list.length && this.#list[drop]!.t < from) drop++;
    if (drop > 0) this.#list.splice(0, drop);
  }
}

type Field<T> = (item: T) => number | null;

/** A pause longer than this many intervals (no dashboard was open, so nothing was sampled) breaks the lines. */
const kGapIntervals = 2.5;

/** One column per field, over the snapshots, for the item `find` picks out of each (null when absent). */
function columnsOf<T>(snaps: readonly Snapshot[], find: (s: Snapshot) => T | undefined, fields: Field<T>[]): Columns {
  const xs: number[] = [];
  const cols: Column[] = fields.map(() => []);
  let prev: Snapshot | undefined;
  for (const s of snaps) {
    if (prev !== undefined && s.t - prev.t > kGapIntervals * Math.max(1, s.intervalMs)) {
      // a null point just after the last sample, so the chart shows the pause as a gap, not a slope
      xs.push((prev.t + s.intervalMs) / 1000);
      for (const col of cols) col.push(null);
    }
    prev = s;
    xs.push(s.t / 1000);
    const item = find(s);
    fields.forEach((field, f) => {
      const v = item === undefined ? null : field(item);
      cols[f]!.push(v === null || !Number.isFinite(v) ? null : v);
    });
  }
  return [xs, ...cols];
}

const percent = (share: number | null): number | null => (share === null ? null : share * 100);

const findApp =
  (name: string) =>
  (s: Snapshot): AppSnapshot | undefined =>
    s.apps.find((a) => a.name === name);

const findModel =
  (key: string) =>
  (s: Snapshot): ModelSnapshot | undefined =>
    s.models.find((m) => modelKey(m) === key);

/** The columns of an app's charts. */
export interface AppColumns {
  /** [t, qps] */
  throughput: Columns;
  /** [t, p50 ms, p99 ms, SLO ms] */
  latency: Columns;
  /** [t, % within SLO, % default outputs] */
  quality: Columns;
  /** The models whose weights `selection` holds, in its column order. */
  selectionModels: string[];
  /** [t, weight of each model in percent] */
  selection: Columns;
}

export function appColumns(snaps: readonly Snapshot[], name: string): AppColumns {
  const find = findApp(name);
  const models: string[] = [];
  for (const s of snaps) {
    for (const w of find(s)?.selection ?? []) if (!models.includes(w.model)) models.push(w.model);
  }
  return {
    throughput: columnsOf(snaps, find, [(a) => a.qps]),
    latency: columnsOf(snaps, find, [(a) => a.latencyMsP50, (a) => a.latencyMsP99, (a) => a.sloMicros / 1000]),
    quality: columnsOf(snaps, find, [(a) => percent(a.sloAttainment), (a) => percent(a.defaultShare)]),
    selectionModels: models,
    selection: columnsOf(
      snaps,
      find,
      models.map((m) => (a: AppSnapshot) => percent(a.selection.find((w) => w.model === m)?.weight ?? null)),
    ),
  };
}

/** The columns of a model version's time charts. */
export interface ModelColumns {
  /** [t, qps] */
  throughput: Columns;
  /** [t, mean batch size] */
  batchSize: Columns;
  /** [t, queue ms, model ms] */
  times: Columns;
}

export function modelColumns(snaps: readonly Snapshot[], key: string): ModelColumns {
  const find = findModel(key);
  return {
    throughput: columnsOf(snaps, find, [(m) => m.qps]),
    batchSize: columnsOf(snaps, find, [(m) => m.batchSizeMean]),
    times: columnsOf(snaps, find, [(m) => m.queueMsMean, (m) => m.modelMsMean]),
  };
}

/** Bars of a batch-size histogram: x is the bucket's index, `labels` its upper bound ("4", "> 32"). */
export interface Bars {
  labels: string[];
  columns: Columns;
}

/** The buckets up to the last one that holds batches (at least `minBuckets`), so the bars fill the chart. */
export function histogramBars(buckets: ReadonlyArray<{ le: number | null; count: number }>, minBuckets = 4): Bars {
  let last = -1;
  buckets.forEach((b, i) => {
    if (b.count > 0) last = i;
  });
  const shown = buckets.slice(0, Math.max(last + 1, Math.min(minBuckets, buckets.length)));
  const labels = shown.map((b, i) => {
    if (b.le !== null && Number.isFinite(b.le)) return String(b.le);
    const prev = shown[i - 1]?.le;
    return prev === undefined || prev === null ? 'all' : `> ${prev}`;
  });
  return { labels, columns: [shown.map((_, i) => i), shown.map((b) => b.count)] };
}

/** Named (x, y) point lists → one sorted x column and a column per series (null where it has no point at x). */
export function alignPoints(series: ReadonlyArray<{ points: ReadonlyArray<readonly [number, number]> }>): Columns {
  const finite = series.map((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const xs = [...new Set(finite.flatMap((pts) => pts.map(([x]) => x)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const cols = finite.map((pts) => {
    const col: Column = new Array<number | null>(xs.length).fill(null);
    for (const [x, y] of pts) col[index.get(x)!] = y;
    return col;
  });
  return [xs, ...cols];
}
