// The records the state store keeps. Field names follow Clipper's admin API (snake_case on the wire).

import type { Framework } from '../frameworks.js';
import type { InputType } from '../input_types.js';
import type { PipelinePlan, PipelineSpec } from '../pipeline_spec.js';
import type { TensorSpec } from '../tensor_spec.js';

export interface AppRecord {
  name: string;
  input_type: InputType;
  /** Raw default output string, as Clipper stores it ("-1.0"). */
  default_output: string;
  latency_slo_micros: number;
  linked_models: string[];
  /** Selection policy name (src/selection/policies/params.ts: default, exp3, exp4, epsilon_greedy, ucb1,
   * weighted_split; Clipper's DefaultOutputSelectionPolicy reads as default). */
  selection_policy: string;
  /** The policy's parameters as given to the admin API (validated there; absent = all defaults). The
   * loss kind, Exp4's minimum confidence and the personalisation flag are parameters too
   * (`loss`, `confidenceMin`, `personalized`): docs/selection_policies.md. */
  policy_params?: Record<string, unknown>;
  /** What to do when a model queue is full: answer 429 or the default output. */
  overload_response: 'status_429' | 'default_output';
  /** A pipeline app (docs/pipelines.md): the graph of model stages it serves; its linked_models are []. */
  pipeline?: PipelineSpec;
  /** The plan `clipper plan --apply` stored for the pipeline (the reactive tuner reads it). */
  pipeline_plan?: PipelinePlan;
}

/**
 * How a replica runs. `manager` picks the container manager (absent: the cluster's default,
 * config.containers). The local manager runs `runtime` + `entry` as a child process; the Docker
 * manager runs `image`, or first builds `<model>:<version>` from `runtime` + `entry` (+ `folder`,
 * `pkgs_to_install`). The Kubernetes manager runs `image`, else `<kubernetesRegistry>/<model>:<version>`
 * as `clipper build --registry` pushed it (it builds nothing); `cpus`/`memory_mb` apply to both.
 */
export interface ContainerSpec {
  manager?: 'local' | 'docker' | 'kubernetes';
  runtime?: 'node' | 'python';
  /** The model's framework (src/frameworks.ts); it implies the runtime, which add_model then stores too. */
  framework?: Framework;
  /** Model file: a JS module for node; a .py file or a pickle for python (relative to `folder` when given). */
  entry?: string;
  /** Function to call in the entry (default `predict`). */
  function?: string;
  /** Runtime-specific options, e.g. { isolate: 'inline' } for node. */
  options?: Record<string, string | number | boolean>;
  /** Docker: an image to run as it is (it speaks containers/PROTOCOL.md on port 7000). */
  image?: string;
  /** Docker: a folder copied whole into the image. */
  folder?: string;
  /** Docker, python: Debian packages installed into the image at build time (Clipper's pkgs_to_install). */
  pkgs_to_install?: string[];
  /** Docker: CPU limit of each replica (cores, may be fractional). */
  cpus?: number;
  /** Docker: memory limit of each replica. */
  memory_mb?: number;
}

export interface ModelRecord {
  model_name: string;
  model_version: string;
  input_type: InputType;
  labels: string[];
  container_name: string;
  model_data_path: string;
  /** > 0 fixed maximum batch size; -1 adaptive. */
  batch_size: number;
  container: ContainerSpec | null;
  num_replicas: number;
  /** Prediction cache on for this version (default true; false for non-deterministic models). */
  cache_enabled?: boolean;
  /**
   * The input and output tensors as the Open Inference Protocol's model metadata shows them
   * (one each; the first dimension is the batch). Absent: inferred from input_type.
   */
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
}

/** Clipper's container_name of a spec: its image, or `<runtime or framework>:<entry>`. */
export function containerNameOf(spec: ContainerSpec): string {
  return spec.image ?? `${spec.runtime ?? spec.framework}:${spec.entry}`;
}

export function modelKey(name: string, version: string): string {
  return `${name}:${version}`;
}

/** A whole cluster's configuration. */
export interface StateSnapshot {
  apps: Map<string, AppRecord>;
  /** Keyed by modelKey(name, version). */
  models: Map<string, ModelRecord>;
  /** Model name → its current version. */
  currentVersions: Map<string, string>;
}

export function emptySnapshot(): StateSnapshot {
  return { apps: new Map(), models: new Map(), currentVersions: new Map() };
}
