// What the management API and the query frontend answer, as the TypeScript client
// (admin_client.ts) returns it: the wire's snake_case keys, as clipper_admin's dicts have them.

import type { PipelinePlan, PipelineSpec } from '../pipeline_spec.js';
import type { ContainerSpec } from '../state/records.js';
import type { TensorSpec } from '../tensor_spec.js';

export interface AppInfo {
  name: string;
  input_type: string;
  default_output: string;
  latency_slo_micros: number;
  linked_models: string[];
  selection_policy?: string;
  /** Selection policy parameters (docs/selection_policies.md); absent = defaults. */
  policy_params?: Record<string, unknown>;
  overload_response?: 'status_429' | 'default_output';
  /** Pipeline apps (docs/pipelines.md): the graph of stages, and the plan stored for it. */
  pipeline?: PipelineSpec;
  pipeline_plan?: PipelinePlan;
}

export interface ModelInfo {
  model_name: string;
  model_version: string;
  input_type: string;
  labels: string[];
  container_name: string;
  model_data_path: string;
  is_current_version: boolean;
  batch_size?: number;
  num_replicas?: number;
  container?: ContainerSpec | null;
  /** Declared Open Inference Protocol tensors (absent: inferred from input_type). */
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
}

export interface ContainerInfo {
  model_id: string;
  model_name: string;
  model_version: string;
  model_replica_id: number;
  input_type: string | null;
  connected?: boolean;
  state?: string;
  pid?: number | null;
  host?: string;
  port?: number;
  restart_count?: number;
  manager?: 'local' | 'docker' | 'kubernetes';
  container_id?: string | null;
  image?: string | null;
  health?: string;
}

export interface ReplicaLogsInfo {
  model_name: string;
  model_version: string;
  model_replica_id: number;
  container_id: string | null;
  logs: string;
}

export interface PredictResult {
  query_id: number;
  output: unknown;
  default: boolean;
  default_explanation?: string;
  /** Apps with several linked models: the model(s) whose output(s) made this answer. */
  models?: string[];
  /** Exp4 apps: the weight share of the contributing models that agree with the answer. */
  confidence?: number;
  /** Pipeline apps answered with a stage's best so far: which stage failed and why (docs/pipelines.md). */
  fallback?: string;
}

export interface FeedbackResult {
  query_id: number;
  feedback_received: boolean;
  /** The models whose predictions on the input were scored, and their losses (null: no prediction). */
  models?: string[];
  losses?: Array<number | null>;
}

export interface BatchPredictResult {
  batch_predictions: PredictResult[];
}

// A pipeline app's per-stage counters (/admin/get_pipeline_stats, docs/pipelines.md "Metrics"): the
// server's own report types, so that the two cannot drift apart.
export type { PipelineStageReport as PipelineStageStats, PipelineStatsReport as PipelineStats } from '../query/stage_stats.js';
