// A TypeScript counterpart of clipper_admin's ClipperConnection (spec §7.1) for a running cluster:
// the management API (/admin/*) and predictions on the query port. It speaks only HTTP (Node 20's
// global fetch), so it also works against Clipper's own management frontend for the endpoints Clipper
// has. Returned info objects keep the wire's snake_case keys, as clipper_admin's dicts do.

import type { PipelinePlan, PipelineSpec } from '../pipeline_spec.js';
import { containerNameOf, type ContainerSpec } from '../state/records.js';
import type { TensorSpec } from '../tensor_spec.js';
import { ClipperClientError } from './client_error.js';
import type {
  AppInfo,
  BatchPredictResult,
  ContainerInfo,
  FeedbackResult,
  ModelInfo,
  PipelineStats,
  PredictResult,
  ReplicaLogsInfo,
} from './client_types.js';

export { ClipperClientError } from './client_error.js';
export type {
  AppInfo,
  BatchPredictResult,
  ContainerInfo,
  FeedbackResult,
  ModelInfo,
  PipelineStageStats,
  PipelineStats,
  PredictResult,
  ReplicaLogsInfo,
} from './client_types.js';

export interface ConnectionOptions {
  /** Management API base URL (default http://127.0.0.1:1338). */
  adminUrl?: string;
  /** Query frontend base URL (default http://127.0.0.1:1337). */
  queryUrl?: string;
  /** Per-request time limit; deploys wait for replicas to start (default 300000). */
  timeoutMs?: number;
  /**
   * The management API's token, sent as `Authorization: Bearer <token>` on admin requests only
   * (default: $CLIPPER_ADMIN_TOKEN; '' sends none). An https:// URL with a private CA needs
   * NODE_EXTRA_CA_CERTS=<ca.pem> (Node's fetch trusts only the system CAs and that file).
   */
  adminToken?: string;
}

export interface RegisterApplicationParams {
  name: string;
  inputType: string;
  defaultOutput: string;
  sloMicros: number;
  /** default | exp3 | exp4 | epsilon_greedy | ucb1 | weighted_split (docs/selection_policies.md). */
  selectionPolicy?: string;
  /** The policy's parameters, e.g. { eta: 0.1 } or { weights: [9, 1] }. */
  policyParams?: Record<string, unknown>;
  overloadResponse?: 'status_429' | 'default_output';
  /** A pipeline app: its graph of model stages (docs/pipelines.md); it then links no models. */
  pipeline?: PipelineSpec;
}

export interface DeployModelParams {
  name: string;
  version: string | number;
  inputType: string;
  /** How this runtime's container manager runs a replica; without it no replica can start. */
  container?: ContainerSpec;
  numReplicas?: number;
  /** > 0 fixed maximum batch size, -1 adaptive (default). */
  batchSize?: number;
  labels?: string[];
  /** Clipper's image name; informational here. */
  containerName?: string;
  /** Prediction cache for this version (default true; false for non-deterministic models). */
  cacheEnabled?: boolean;
  /** The input and output tensor the Open Inference Protocol's model metadata shows (one each). */
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
}

export interface PredictOptions {
  /** Pin a model version instead of the current one. */
  version?: string;
  /** User id: personalised selection (apps with the `personalized` policy parameter). */
  uid?: string | number;
  /** Per-request latency objective. */
  sloMicros?: number;
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

export class ClipperConnection {
  readonly #adminUrl: string;
  readonly #queryUrl: string;
  readonly #timeoutMs: number;
  readonly #adminToken: string;

  constructor(opts: ConnectionOptions = {}) {
    this.#adminUrl = trimSlash(opts.adminUrl ?? 'http://127.0.0.1:1338');
    this.#queryUrl = trimSlash(opts.queryUrl ?? 'http://127.0.0.1:1337');
    this.#timeoutMs = opts.timeoutMs ?? 300_000;
    this.#adminToken = opts.adminToken ?? process.env.CLIPPER_ADMIN_TOKEN ?? '';
    if (/[\r\n]/.test(this.#adminToken)) throw new TypeError('opts.adminToken must be one line');
    if (!Number.isInteger(this.#timeoutMs) || this.#timeoutMs <= 0) throw new TypeError('opts.timeoutMs must be a positive integer');
  }

  registerApplication(p: RegisterApplicationParams): Promise<string> {
    const body: Record<string, unknown> = {
      name: p.name,
      input_type: p.inputType,
      default_output: p.defaultOutput,
      latency_slo_micros: p.sloMicros,
    };
    if (p.selectionPolicy !== undefined) body.selection_policy = p.selectionPolicy;
    if (p.policyParams !== undefined) body.policy_params = p.policyParams;
    if (p.overloadResponse !== undefined) body.overload_response = p.overloadResponse;
    if (p.pipeline !== undefined) body.pipeline = p.pipeline;
    return this.#adminText('add_app', body);
  }

  /** registerApplication under the management API's own name (/admin/add_app), e.g. with a `pipeline`. */
  addApp(p: RegisterApplicationParams): Promise<string> {
    return this.registerApplication(p);
  }

  /** Set (or with null remove) a pipeline app's graph (/admin/set_app_pipeline); a plan that no longer fits is cleared. */
  setAppPipeline(appName: string, pipeline: PipelineSpec | null): Promise<string> {
    return this.#adminText('set_app_pipeline', { name: appName, pipeline });
  }

  /** Store (or with null clear) a pipeline app's plan (/admin/set_pipeline_plan); it changes no replica count itself. */
  setPipelinePlan(appName: string, plan: PipelinePlan | null): Promise<string> {
    return this.#adminText('set_pipeline_plan', { name: appName, plan });
  }

  /** Per-stage counters of a pipeline app (/admin/get_pipeline_stats). */
  getPipelineStats(appName: string): Promise<PipelineStats> {
    return this.#adminJson('get_pipeline_stats', { name: appName });
  }

  /** Change an app's selection policy (/admin/set_selection_policy); learned state starts fresh. */
  setSelectionPolicy(appName: string, selectionPolicy: string, policyParams?: Record<string, unknown>): Promise<string> {
    const body: Record<string, unknown> = { app_name: appName, selection_policy: selectionPolicy };
    if (policyParams !== undefined) body.policy_params = policyParams;
    return this.#adminText('set_selection_policy', body);
  }

  deleteApplication(name: string): Promise<string> {
    return this.#adminText('delete_app', { name });
  }

  /** clipper_admin's name for deleteApplication. */
  unregisterApplication(name: string): Promise<string> {
    return this.deleteApplication(name);
  }

  /** Registers a model version (/admin/add_model); resolves once its replicas run and it is current. */
  deployModel(p: DeployModelParams): Promise<string> {
    const body: Record<string, unknown> = {
      model_name: p.name,
      model_version: String(p.version),
      labels: p.labels ?? [],
      input_type: p.inputType,
      container_name: p.containerName ?? (p.container === undefined ? 'NO_CONTAINER' : containerNameOf(p.container)),
      model_data_path: 'DEPRECATED',
      batch_size: p.batchSize ?? -1,
    };
    if (p.container !== undefined) body.container = p.container;
    if (p.numReplicas !== undefined) body.num_replicas = p.numReplicas;
    if (p.cacheEnabled !== undefined) body.cache_enabled = p.cacheEnabled;
    if (p.inputs !== undefined) body.inputs = p.inputs;
    if (p.outputs !== undefined) body.outputs = p.outputs;
    return this.#adminText('add_model', body);
  }

  linkModelToApp(appName: string, modelName: string): Promise<string> {
    return this.#adminText('add_model_links', { app_name: appName, model_names: [modelName] });
  }

  unlinkModelFromApp(appName: string, modelName: string): Promise<string> {
    return this.#adminText('delete_model_links', { app_name: appName, model_names: [modelName] });
  }

  /**
   * Make `version` current. With `numReplicas`, that version is scaled first, so the switch happens
   * once its replicas run (clipper_admin switched first, then scaled).
   */
  async setModelVersion(name: string, version: string | number, numReplicas?: number): Promise<string> {
    if (numReplicas !== undefined) await this.setNumReplicas(name, numReplicas, version);
    return this.#adminText('set_model_version', { model_name: name, model_version: String(version) });
  }

  deleteVersionedModel(name: string, version: string | number): Promise<string> {
    return this.#adminText('delete_versioned_model', { model_name: name, model_version: String(version) });
  }

  /** Change an app's latency SLO (/admin/set_app_slo); the next query is held to it. */
  setAppSlo(appName: string, sloMicros: number): Promise<string> {
    return this.#adminText('set_app_slo', { name: appName, slo_micros: sloMicros });
  }

  /** A model version's batch size: -1 adaptive, N a fixed maximum (/admin/set_model_batch_size); replicas keep running. */
  setModelBatchSize(name: string, version: string | number, batchSize: number): Promise<string> {
    return this.#adminText('set_model_batch_size', { model_name: name, model_version: String(version), batch_size: batchSize });
  }

  /** Scale a model version (default: the current version). */
  async setNumReplicas(name: string, numReplicas: number, version?: string | number): Promise<string> {
    const resolved = version === undefined ? await this.getCurrentModelVersion(name) : String(version);
    if (resolved === null) throw new ClipperClientError(0, null, `model '${name}' has no current version`, '');
    return this.#adminText('set_num_replicas', { model_name: name, model_version: resolved, num_replicas: numReplicas });
  }

  async getNumReplicas(name: string, version?: string | number): Promise<number> {
    const resolved = version === undefined ? await this.getCurrentModelVersion(name) : String(version);
    if (resolved === null) return 0;
    return (await this.getAllContainers(true)).filter((c) => c.model_name === name && c.model_version === resolved).length;
  }

  async getCurrentModelVersion(name: string): Promise<string | null> {
    const model = (await this.getAllModels(true)).find((m) => m.model_name === name && m.is_current_version);
    return model?.model_version ?? null;
  }

  getAllApps(verbose?: false): Promise<string[]>;
  getAllApps(verbose: true): Promise<AppInfo[]>;
  getAllApps(verbose = false): Promise<string[] | AppInfo[]> {
    return this.#adminJson('get_all_applications', { verbose });
  }

  async getAppInfo(name: string): Promise<AppInfo | null> {
    return emptyToNull(await this.#adminJson<AppInfo | Record<string, never>>('get_application', { name }));
  }

  getLinkedModels(appName: string): Promise<string[]> {
    return this.#adminJson('get_linked_models', { app_name: appName });
  }

  getAllModels(verbose?: false): Promise<string[]>;
  getAllModels(verbose: true): Promise<ModelInfo[]>;
  getAllModels(verbose = false): Promise<string[] | ModelInfo[]> {
    return this.#adminJson('get_all_models', { verbose });
  }

  async getModelInfo(name: string, version: string | number): Promise<ModelInfo | null> {
    return emptyToNull(
      await this.#adminJson<ModelInfo | Record<string, never>>('get_model', { model_name: name, model_version: String(version) }),
    );
  }

  getAllContainers(verbose?: false): Promise<string[]>;
  getAllContainers(verbose: true): Promise<ContainerInfo[]>;
  getAllContainers(verbose = false): Promise<string[] | ContainerInfo[]> {
    return this.#adminJson('get_all_containers', { verbose });
  }

  async getContainer(name: string, version: string | number, replicaId: number): Promise<ContainerInfo | null> {
    return emptyToNull(
      await this.#adminJson<ContainerInfo | Record<string, never>>('get_container', {
        model_name: name,
        model_version: String(version),
        replica_id: replicaId,
      }),
    );
  }

  /** The app's raw default output (Clipper's get_state); '' for an unknown app. */
  getState(appName: string, uid = 0): Promise<string> {
    return this.#adminText('get_state', { app_name: appName, uid });
  }

  /** The recent output of each replica of a model version (the current one when `version` is absent). */
  getLogs(name: string, version?: string | number, tailLines?: number): Promise<ReplicaLogsInfo[]> {
    const body: Record<string, unknown> = { model_name: name };
    if (version !== undefined) body.model_version = String(version);
    if (tailLines !== undefined) body.tail_lines = tailLines;
    return this.#adminJson<ReplicaLogsInfo[]>('get_logs', body);
  }

  async ping(): Promise<string> {
    return (await this.#request('GET', `${this.#adminUrl}/admin/ping`, undefined, true)).text;
  }

  async predict(appName: string, input: unknown, opts: PredictOptions = {}): Promise<PredictResult> {
    return this.#predict(appName, { input }, opts) as Promise<PredictResult>;
  }

  async predictBatch(appName: string, inputs: unknown[], opts: PredictOptions = {}): Promise<BatchPredictResult> {
    return this.#predict(appName, { input_batch: inputs }, opts) as Promise<BatchPredictResult>;
  }

  /** Feedback for the app's selection policy: POST /<app>/update {"uid"?, "input", "label"}. */
  async update(appName: string, input: unknown, label: unknown, uid?: string | number): Promise<FeedbackResult> {
    const body: Record<string, unknown> = { input, label };
    if (uid !== undefined) body.uid = uid;
    const { text } = await this.#request('POST', `${this.#queryUrl}/${encodeURIComponent(appName)}/update`, body);
    return parseJson(text) as FeedbackResult;
  }

  async #predict(appName: string, body: Record<string, unknown>, opts: PredictOptions): Promise<unknown> {
    if (opts.version !== undefined) body.version = opts.version;
    if (opts.sloMicros !== undefined) body.slo_micros = opts.sloMicros;
    if (opts.uid !== undefined) body.uid = opts.uid;
    const { text } = await this.#request('POST', `${this.#queryUrl}/${encodeURIComponent(appName)}/predict`, body);
    return parseJson(text);
  }

  async #adminText(route: string, body: unknown): Promise<string> {
    return (await this.#request('POST', `${this.#adminUrl}/admin/${route}`, body, true)).text;
  }

  async #adminJson<T>(route: string, body: unknown): Promise<T> {
    return parseJson(await this.#adminText(route, body)) as T;
  }

  /** `admin`: a management API request, which carries the token (never sent to the query port). */
  async #request(method: 'GET' | 'POST', url: string, body: unknown, admin = false): Promise<{ text: string }> {
    const headers: Record<string, string> = body === undefined ? {} : { 'Content-Type': 'application/json' };
    if (admin && this.#adminToken !== '') headers.Authorization = `Bearer ${this.#adminToken}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw new ClipperClientError(0, null, `${method} ${url}: ${err instanceof Error ? err.message : String(err)}`, '');
    }
    if (response.status !== 200) {
      let code: string | null = null;
      let cause = text;
      try {
        const parsed = JSON.parse(text) as { code?: unknown; cause?: unknown };
        if (typeof parsed.code === 'string') code = parsed.code;
        if (typeof parsed.cause === 'string') cause = parsed.cause;
      } catch {
        // Clipper's own servers send plain-text errors
      }
      throw new ClipperClientError(response.status, code, cause, text);
    }
    return { text };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ClipperClientError(200, null, `the server sent a body that is not JSON: ${text.slice(0, 200)}`, text);
  }
}

function emptyToNull<T extends object>(value: T | Record<string, never>): T | null {
  return Object.keys(value).length === 0 ? null : (value as T);
}
