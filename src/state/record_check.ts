// Checking the records read back from a durable store (Redis hashes and change messages). Stored
// state is not trusted blindly: a value that is corrupt or hand-edited into the wrong shape is
// reported as a ClipperError CLP_ERR_STATE_CORRUPT naming the record and the field, never handed on
// to crash the control loop, the routing table or the admin API later.

import { ClipperError } from '../errors.js';
import { isFramework, runtimeOfFramework } from '../frameworks.js';
import { kInputTypes } from '../input_types.js';
import { checkPipelineShape, validatePlan } from '../pipeline_spec.js';
import { isOipDatatype, type TensorSpec } from '../tensor_spec.js';
import { modelKey, type AppRecord, type ContainerSpec, type ModelRecord } from './records.js';
import type { StateChange } from './state_store.js';

function corrupt(where: string, what: string): ClipperError {
  return new ClipperError('CLP_ERR_STATE_CORRUPT', `state store: ${where} ${what}`);
}

type Fields = Record<string, unknown>;

function objectAt(value: unknown, where: string): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw corrupt(where, 'is not a JSON object');
  return value as Fields;
}

function str(o: Fields, key: string, where: string, fallback?: string): string {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string') throw corrupt(where, `has no string field "${key}"`);
  return v;
}

function int(o: Fields, key: string, where: string, min: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw corrupt(where, `field "${key}" is not an integer >= ${min}`);
  return v;
}

function strings(o: Fields, key: string, where: string, fallback?: string[]): string[] {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw corrupt(where, `field "${key}" is not an array of strings`);
  return v as string[];
}

function inputType(o: Fields, where: string): AppRecord['input_type'] {
  const v = o.input_type;
  if (typeof v !== 'string' || !(kInputTypes as readonly string[]).includes(v)) throw corrupt(where, 'has no valid "input_type"');
  return v as AppRecord['input_type'];
}

/** An app record read back from the store under `field` (its name). */
export function readAppRecord(value: unknown, field: string): AppRecord {
  const where = `app "${field}"`;
  const o = objectAt(value, where);
  const name = str(o, 'name', where);
  if (name !== field) throw corrupt(where, `is stored under "${field}" but names itself "${name}"`);
  const overload = o.overload_response ?? 'default_output';
  if (overload !== 'status_429' && overload !== 'default_output') throw corrupt(where, 'field "overload_response" is not a known choice');
  const app: AppRecord = {
    name,
    input_type: inputType(o, where),
    default_output: str(o, 'default_output', where),
    latency_slo_micros: int(o, 'latency_slo_micros', where, 1),
    linked_models: strings(o, 'linked_models', where),
    selection_policy: str(o, 'selection_policy', where, 'default'),
    overload_response: overload,
  };
  if (o.policy_params !== undefined) app.policy_params = objectAt(o.policy_params, `${where} field "policy_params"`);
  if (o.pipeline !== undefined) readPipeline(o, app, where);
  return app;
}

/** A pipeline app's graph and plan: their shape (src/pipeline_spec.ts; models are checked when they change). */
function readPipeline(o: Fields, app: AppRecord, where: string): void {
  try {
    app.pipeline = checkPipelineShape(o.pipeline);
    if (o.pipeline_plan !== undefined) app.pipeline_plan = validatePlan(o.pipeline_plan, app.pipeline);
  } catch (err) {
    throw corrupt(where, `field "${app.pipeline === undefined ? 'pipeline' : 'pipeline_plan'}": ${(err as Error).message}`);
  }
}

function tensors(o: Fields, key: string, where: string): TensorSpec[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw corrupt(where, `field "${key}" is not an array`);
  return v.map((t: unknown, i) => {
    const at = `${where} ${key}[${i}]`;
    const s = objectAt(t, at);
    const shape = s.shape;
    if (typeof s.name !== 'string' || !isOipDatatype(s.datatype)) throw corrupt(at, 'needs a string "name" and a known "datatype"');
    if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < -1)) {
      throw corrupt(at, 'field "shape" is not an array of integers >= -1');
    }
    return { name: s.name, datatype: s.datatype, shape: shape as number[] };
  });
}

const kContainerStrings = ['entry', 'function', 'image', 'folder'] as const;

function containerSpec(value: unknown, where: string): ContainerSpec | null {
  if (value === null || value === undefined) return null;
  const at = `${where} field "container"`;
  const c = objectAt(value, at);
  if (c.manager !== undefined && c.manager !== 'local' && c.manager !== 'docker' && c.manager !== 'kubernetes') {
    throw corrupt(at, 'has an unknown "manager"');
  }
  if (c.runtime !== undefined && c.runtime !== 'node' && c.runtime !== 'python') throw corrupt(at, 'has an unknown "runtime"');
  const framework = c.framework;
  if (framework !== undefined && (!isFramework(framework) || (c.runtime !== undefined && runtimeOfFramework(framework) !== c.runtime))) {
    throw corrupt(at, 'has an unknown "framework", or one its "runtime" cannot run');
  }
  for (const key of kContainerStrings)
    if (c[key] !== undefined && typeof c[key] !== 'string') throw corrupt(at, `field "${key}" is not a string`);
  if (c.pkgs_to_install !== undefined) strings(c, 'pkgs_to_install', at);
  for (const key of ['cpus', 'memory_mb'] as const) {
    if (c[key] !== undefined && (typeof c[key] !== 'number' || !Number.isFinite(c[key]) || c[key] <= 0)) {
      throw corrupt(at, `field "${key}" is not a positive number`);
    }
  }
  if (c.options !== undefined) {
    const options = objectAt(c.options, `${at} field "options"`);
    for (const [k, v] of Object.entries(options)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw corrupt(at, `option "${k}" is not a scalar`);
    }
  }
  return c as ContainerSpec;
}

/** A model record read back from the store under `field` (`name:version`). */
export function readModelRecord(value: unknown, field: string): ModelRecord {
  const where = `model "${field}"`;
  const o = objectAt(value, where);
  const name = str(o, 'model_name', where);
  const version = str(o, 'model_version', where);
  if (modelKey(name, version) !== field) throw corrupt(where, `is stored under "${field}" but names itself "${modelKey(name, version)}"`);
  const batchSize = int(o, 'batch_size', where, -1);
  if (batchSize === 0) throw corrupt(where, 'field "batch_size" is 0 (it is -1 for adaptive, or a positive maximum)');
  if (o.cache_enabled !== undefined && typeof o.cache_enabled !== 'boolean') throw corrupt(where, 'field "cache_enabled" is not a boolean');
  const model: ModelRecord = {
    model_name: name,
    model_version: version,
    input_type: inputType(o, where),
    labels: strings(o, 'labels', where, []),
    container_name: str(o, 'container_name', where, ''),
    model_data_path: str(o, 'model_data_path', where, ''),
    batch_size: batchSize,
    container: containerSpec(o.container, where),
    num_replicas: int(o, 'num_replicas', where, 0),
  };
  if (o.cache_enabled !== undefined) model.cache_enabled = o.cache_enabled as boolean;
  const inputs = tensors(o, 'inputs', where);
  const outputs = tensors(o, 'outputs', where);
  if (inputs !== undefined) model.inputs = inputs;
  if (outputs !== undefined) model.outputs = outputs;
  return model;
}

function parseText(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw corrupt(where, 'is not valid JSON');
  }
}

/** An app record's stored JSON text; CLP_ERR_STATE_CORRUPT when it is not JSON or not an app record. */
export function parseStoredApp(field: string, text: string): AppRecord {
  return readAppRecord(parseText(text, `app "${field}"`), field);
}

/** A model record's stored JSON text; CLP_ERR_STATE_CORRUPT when it is not JSON or not a model record. */
export function parseStoredModel(field: string, text: string): ModelRecord {
  return readModelRecord(parseText(text, `model "${field}"`), field);
}

/** A change published by a writer (all kinds but resync, which is never published). */
export function readStateChange(value: unknown): Exclude<StateChange, { kind: 'resync' }> {
  const o = objectAt(value, 'change');
  switch (o.kind) {
    case 'app_put': {
      const app = objectAt(o.app, 'change app_put');
      return { kind: 'app_put', app: readAppRecord(app, typeof app.name === 'string' ? app.name : '') };
    }
    case 'app_deleted':
      return { kind: 'app_deleted', name: str(o, 'name', 'change app_deleted') };
    case 'model_put': {
      const m = objectAt(o.model, 'change model_put');
      const key = typeof m.model_name === 'string' && typeof m.model_version === 'string' ? modelKey(m.model_name, m.model_version) : '';
      return { kind: 'model_put', model: readModelRecord(m, key) };
    }
    case 'model_deleted':
      return { kind: 'model_deleted', name: str(o, 'name', 'change model_deleted'), version: str(o, 'version', 'change model_deleted') };
    case 'current_version': {
      const version = o.version === null ? null : str(o, 'version', 'change current_version');
      return { kind: 'current_version', name: str(o, 'name', 'change current_version'), version };
    }
    default:
      throw corrupt('change', 'has an unknown "kind"');
  }
}

/** A change message as the write script publishes it: `{"seq", "writer", "change"}`. */
export interface StoredChangeMessage {
  seq: number;
  writer: string;
  change: StateChange;
}

/** A published change message's text; CLP_ERR_STATE_CORRUPT when it is not one (the store resyncs). */
export function readChangeMessage(text: string): StoredChangeMessage {
  const o = objectAt(parseText(text, 'change message'), 'change message');
  const seq = int(o, 'seq', 'change message', 1);
  return { seq, writer: str(o, 'writer', 'change message'), change: readStateChange(o.change) };
}
