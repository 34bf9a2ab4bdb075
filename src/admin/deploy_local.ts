// Building model and app records and deploying them through the state store: what the quickstart,
// the benchmarks and the tests do without going through the management API.

import type { AdminContext } from './admin_context.js';
import type { InputType } from '../input_types.js';
import type { AppRecord, ContainerSpec, ModelRecord } from '../state/records.js';

/** A model version run by the Node runner from `entry` (one replica, adaptive batching). */
export function nodeModelRecord(
  name: string,
  version: string,
  inputType: InputType,
  entry: string,
  extra: Partial<ModelRecord> = {},
  options: ContainerSpec['options'] = { isolate: 'inline' },
): ModelRecord {
  return {
    model_name: name,
    model_version: version,
    input_type: inputType,
    labels: [],
    container_name: 'node-runner',
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    container: { runtime: 'node', entry, options },
    num_replicas: 1,
    ...extra,
  };
}

export function appRecordOf(name: string, inputType: InputType, linked: string[], extra: Partial<AppRecord> = {}): AppRecord {
  return {
    name,
    input_type: inputType,
    default_output: '-1.0',
    latency_slo_micros: 100_000,
    linked_models: linked,
    selection_policy: 'default',
    overload_response: 'default_output',
    ...extra,
  };
}

/** Register a model version, wait until its replicas serve, and make it current. */
export async function deployRecord(ctx: AdminContext, model: ModelRecord, makeCurrent = true): Promise<void> {
  await ctx.store.putModel(model);
  await ctx.waitForDeploy(model.model_name, model.model_version);
  if (makeCurrent) await ctx.store.setCurrentVersion(model.model_name, model.model_version);
}
