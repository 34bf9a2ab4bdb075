// What the query core knows of one app on the hot path (its route), and the per-app counters that
// outlive route rebuilds. The cluster rebuilds routes on configuration changes.

import { ClipperError } from '../errors.js';
import type { Placement } from '../batching/protocol.js';
import type { InputType, InputTypeCode } from '../input_types.js';
import { newBucketHistogram, observeBucket, type BucketHistogram } from '../lib/bucket_histogram.js';
import type { AppSelection } from '../selection/app_selection.js';
import type { CompiledPipeline } from './stage_graph.js';

/** Upper bounds (µs) of the end-to-end latency buckets kept per app; the last bucket is +Inf. */
export const kAppLatencyUsBuckets = [250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

/**
 * Why an app answered its default output: the indexes of AppStats.defaultKinds (kDefaultKindNames
 * names them, e.g. for the dashboard's reasons). Counted on the default path only.
 */
export const DefaultKind = {
  Slo: 0,
  Shed: 1,
  NoModel: 2,
  ModelError: 3,
  ReplicaFailed: 4,
  SloInfeasible: 5,
  Shutdown: 6,
  LowConfidence: 7,
  NoAnswer: 8,
  Other: 9,
} as const;
export type DefaultKind = (typeof DefaultKind)[keyof typeof DefaultKind];
export const kDefaultKindNames = [
  'slo',
  'shed',
  'no_model',
  'model_error',
  'replica_failed',
  'slo_infeasible',
  'shutdown',
  'low_confidence',
  'no_answer',
  'other',
] as const;

/** Per-app counters, kept across configuration changes (one object per app name). */
export interface AppStats {
  queries: number;
  defaults: number;
  sloMisses: number;
  /** End-to-end latency of answered queries, µs, over kAppLatencyUsBuckets. */
  latencyUs: BucketHistogram;
  /** Default answers by DefaultKind (their sum is `defaults`). */
  defaultKinds: number[];
  /** Answers refused for overload (shed): a 429 for status_429 apps, else the default output. */
  shed: number;
  /** Queries looked up in the prediction cache (the cache on for their model), and those it answered. */
  cacheLookups: number;
  cacheHits: number;
}

/** What one app needs on the hot path; rebuilt when the configuration changes. */
export interface AppRoute {
  readonly name: string;
  readonly stats: AppStats;
  /** Where its cache lookups and hits are counted, when not in `stats`: an Exp4 sub-query's app (selection_route.ts). */
  readonly cacheStats?: AppStats;
  readonly inputType: InputType;
  readonly typeCode: InputTypeCode;
  /** The default output as JSON text (Clipper nests it when it is valid JSON). */
  readonly defaultJson: string;
  readonly sloMs: number;
  /** The first linked model's name (the one `version` pins). */
  readonly modelName: string | null;
  /** Placement of the first linked model's current version, or null if none is deployed. */
  readonly placement: Placement | null;
  /** Placements of every deployed version of the first linked model, for `version` pinning. */
  readonly versions: ReadonlyMap<string, Placement>;
  readonly overloadResponse: 'status_429' | 'default_output';
  /** The selection policy over several linked models; null with one linked model (or none). */
  readonly selection?: AppSelection | null;
  /** A pipeline app's compiled graph (stage_graph.ts): its queries run there; null or absent: not a pipeline. */
  readonly pipeline?: CompiledPipeline | null;
}

/** The placement a query goes to: the current version, or the pinned `version` (400 if unknown). */
export function pinnedPlacement(route: AppRoute, version: string | null): Placement | null {
  if (version === null) return route.placement;
  if (route.modelName === null) {
    throw new ClipperError('CLP_ERR_QUERY_PROCESSING', `Requested version: ${version} but application '${route.name}' has no linked model`);
  }
  const pinned = route.versions.get(version);
  if (pinned === undefined) {
    throw new ClipperError('CLP_ERR_QUERY_PROCESSING', `Requested version: ${version} does not exist for model: ${route.modelName}`);
  }
  return pinned;
}

export function newAppStats(): AppStats {
  return {
    queries: 0,
    defaults: 0,
    sloMisses: 0,
    latencyUs: newBucketHistogram(kAppLatencyUsBuckets),
    defaultKinds: new Array<number>(kDefaultKindNames.length).fill(0),
    shed: 0,
    cacheLookups: 0,
    cacheHits: 0,
  };
}

/** Count one default answer in an app's stats (its kind, and whether it was shed). */
export function countDefault(stats: AppStats, kind: DefaultKind, shed: boolean): void {
  stats.defaults++;
  stats.defaultKinds[kind]!++;
  if (shed) stats.shed++;
  if (kind === DefaultKind.Slo) stats.sloMisses++;
}

export function observeLatency(stats: AppStats, latencyMs: number): void {
  observeBucket(stats.latencyUs, latencyMs * 1000);
}
