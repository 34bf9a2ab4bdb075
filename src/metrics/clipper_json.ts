// Clipper's JSON metrics document (spec §8.1): {"counters":[...], "ratio_counters":[...],
// "meters":[...], "histograms":[...]}, each category an array of single-key objects, and every leaf
// value a JSON string as Clipper's boost::property_tree wrote it ("5", "0.25", "nan").

import type { ModelActorStats } from '../batching/protocol.js';
import type { AppStats } from '../query/app_route.js';
import { summarizeHistogram, type BucketHistogram } from '../lib/bucket_histogram.js';
import { kMeterUnit, type MeterSnapshot } from './meter.js';

export const kAggregateThroughput = 'internal:aggregate_model_throughput';
export const appThroughputName = (app: string): string => `app:${app}:prediction_throughput`;
export const modelThroughputName = (m: { name: string; version: string }): string => `model:${m.name}:${m.version}:prediction_throughput`;

export interface ClipperJsonInput {
  /** Queries received by the frontend (each input of a batch counts). */
  queryCount: number;
  cache: { hitCount: number; missCount: number };
  apps: Iterable<readonly [string, AppStats]>;
  models: readonly ModelActorStats[];
  /** A meter by its full name; null when it has no meter (yet). */
  meter(name: string): MeterSnapshot | null;
}

type Entry = Record<string, Record<string, string>>;

/** A number as Clipper wrote it: integers exactly, others to 6 significant digits, NaN as "nan". */
export function clipperNumber(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

/** Answered queries in an app: the size of its latency histogram. */
export function answeredCount(stats: AppStats): number {
  return stats.latencyUs.counts.reduce((a, b) => a + b, 0);
}

const counter = (name: string, count: number): Entry => ({ [name]: { count: clipperNumber(count) } });
const ratio = (name: string, num: number, den: number): Entry => ({ [name]: { ratio: clipperNumber(den === 0 ? NaN : num / den) } });

function meter(name: string, snapshot: MeterSnapshot | null): Entry {
  const s = snapshot ?? { ratePerS: 0, rate1minPerS: 0, rate5minPerS: 0, rate15minPerS: 0 };
  return {
    [name]: {
      unit: kMeterUnit,
      rate: clipperNumber(s.ratePerS),
      rate_1min: clipperNumber(s.rate1minPerS),
      rate_5min: clipperNumber(s.rate5minPerS),
      rate_15min: clipperNumber(s.rate15minPerS),
    },
  };
}

function histogram(name: string, unit: string, h: BucketHistogram): Entry {
  const s = summarizeHistogram(h);
  // Clipper's histograms held integers: min and max are whole units
  return {
    [name]: {
      unit,
      size: clipperNumber(s.size),
      min: clipperNumber(Math.round(s.min)),
      max: clipperNumber(Math.round(s.max)),
      mean: clipperNumber(s.mean),
      std_dev: clipperNumber(s.stdDev),
      p50: clipperNumber(s.p50),
      p95: clipperNumber(s.p95),
      p99: clipperNumber(s.p99),
    },
  };
}

export function clipperMetricsDocument(input: ClipperJsonInput): {
  counters: Entry[];
  ratio_counters: Entry[];
  meters: Entry[];
  histograms: Entry[];
} {
  const lookups = input.cache.hitCount + input.cache.missCount;
  const counters = [counter('internal:aggregate_num_predictions', input.queryCount), counter('internal:prediction_cache_lookups', lookups)];
  const ratios = [ratio('internal:prediction_cache_hit_ratio', input.cache.hitCount, lookups)];
  const meters = [meter(kAggregateThroughput, input.meter(kAggregateThroughput))];
  const histograms: Entry[] = [];
  for (const [app, s] of input.apps) {
    counters.push(counter(`app:${app}:num_predictions`, s.queries));
    ratios.push(ratio(`app:${app}:default_prediction_ratio`, s.defaults, s.queries));
    meters.push(meter(appThroughputName(app), input.meter(appThroughputName(app))));
    histograms.push(histogram(`app:${app}:prediction_latency`, 'microseconds', s.latencyUs));
  }
  for (const m of input.models) {
    const id = `model:${m.name}:${m.version}`;
    counters.push(counter(`${id}:num_predictions`, m.scheduler.sentQueryCount));
    meters.push(meter(modelThroughputName(m), input.meter(modelThroughputName(m))));
    histograms.push(histogram(`${id}:prediction_latency`, 'microseconds', m.batchLatencyUs));
    histograms.push(histogram(`${id}:batch_size`, 'queries', m.batchSize));
  }
  return { counters, ratio_counters: ratios, meters, histograms };
}
