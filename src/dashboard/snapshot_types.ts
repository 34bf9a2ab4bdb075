// The live dashboard's data on the server side: what the sampler reads to build a snapshot
// (DashboardSources, given by the cluster), and the snapshot types themselves, re-exported from the
// one place they are written, ui/types.ts (the page codes against the same file; the stream at
// GET /dashboard/stream sends them, dashboard_routes.ts). Nothing here runs per query.

import type { ReplicaStatus } from '../admin/admin_context.js';
import type { ModelActorStats } from '../batching/protocol.js';
import type { AppStats } from '../query/app_route.js';
import type { StateSnapshot } from '../state/records.js';

export type { AppSnapshot, HistoryEvent, ModelSnapshot, ReplicaSnapshot, Snapshot } from './ui/types.js';

/** What the sampler reads; the cluster gives it (cluster.ts). Only `modelStats` asks another thread. */
export interface DashboardSources {
  /** The configuration: apps, models, current versions. */
  state(): StateSnapshot;
  /** Each app's cumulative counters (the query path's own). */
  appStats(): ReadonlyMap<string, AppStats>;
  /** Each model actor's cumulative counters (one request to every batching worker). */
  modelStats(): Promise<ModelActorStats[]>;
  replicas(): ReplicaStatus[];
  /** A multi-model app's current policy weights (one per linked model), or null. */
  selectionWeights(app: string): { models: readonly string[]; weights: ArrayLike<number> } | null;
}
