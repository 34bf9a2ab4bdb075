// What the management API needs from the running cluster. The admin service writes only to the
// state store; the cluster's Deployments (control/deployments.ts) apply every change heard from the store
// (starting replicas, placing models, updating routes), so the same path serves changes made
// through another frontend.

import type { ReplicaInfo, ReplicaLogs } from '../containers/container_manager.js';
import type { DashboardSources } from '../dashboard/snapshot_types.js';
import type { PipelineStatsReport } from '../query/stage_stats.js';
import type { StateSnapshot } from '../state/records.js';
import type { StateStore } from '../state/state_store.js';

export interface ReplicaStatus extends ReplicaInfo {
  /** True while this frontend's batching worker holds a ready connection to the replica. */
  connected: boolean;
  /** While not connected: why the worker's last connection failed (e.g. "authentication failed: ..."). */
  connectionError?: string;
}

export interface AdminContext {
  readonly store: StateStore;
  /** The cluster's current configuration (read-only view, updated from store changes). */
  snapshot(): StateSnapshot;
  /**
   * Resolves once the replicas the latest record of this model version asks for are started (at
   * least one listening when any are wanted); rejects with the container's error (a ClipperError
   * CLP_ERR_DEPLOY_FAILED) when they cannot start. Call it after a putModel().
   */
  waitForDeploy(name: string, version: string): Promise<void>;
  replicas(): ReplicaStatus[];
  /** The last `tailLines` lines of output of each replica of a model version. */
  replicaLogs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]>;
  /**
   * Cluster defaults the admin API fills in (replica count; where replicas run when a spec does not
   * say) and the largest fixed batch size its schedulers take (config.batchSizeMax; absent: no bound
   * but add_model's).
   */
  readonly defaults: { numReplicas: number; containers?: 'local' | 'docker' | 'kubernetes'; batchSizeMax?: number };
  /** Where POST /admin/upload_model stores files; absent: $CLIPPER_MODELS_DIR or ~/.clipper/models. */
  readonly modelsDir?: string;
  /**
   * The directories a container spec's files must lie in (config.modelDirs, src/model_dirs.ts);
   * absent: the defaults (the upload dir and the package's examples).
   */
  readonly modelDirs?: readonly string[];
  /** What the live dashboard (GET /dashboard on the admin port) reads; absent: no dashboard. */
  readonly dashboard?: DashboardSources;
  /**
   * A pipeline app's per-stage counters on this frontend (admin get_pipeline_stats), or null when it
   * has none yet; absent: the cluster keeps none (an all-zero report).
   */
  pipelineStats?(app: string): Promise<PipelineStatsReport | null>;
}
