// What `/v2/models/{m}[/versions/{v}]` names. {m} is an app (through its route and selection
// policy, as Clipper's /{app}/predict) or else a model by name (its current version, or {v}); an
// app name wins over a model of the same name. With an app, {v} pins a version of its first linked
// model, as Clipper's `version` field does. An unknown name or version is a 404.

import type { ModelRoute, ModelVersionInfo } from '../../control/model_routes.js';
import { inputTypeCode, type InputType } from '../../input_types.js';
import type { AppRoute } from '../../query/app_route.js';
import type { QueryPipeline } from '../../query/pipeline.js';
import { modelTensorSpec, type ModelTensorSpec } from './metadata_spec.js';
import { oipNotFound } from './oip_errors.js';

export interface OipTarget {
  /** The name the request used ({m}). */
  readonly name: string;
  readonly isApp: boolean;
  /** What the pipeline takes: the app's route, or the model's (for a pinned version of another
   * input type than the current one, a copy with that version's type). */
  readonly route: AppRoute;
  /** The model behind it: the model itself, or the app's first linked model; null when none. */
  readonly model: ModelRoute | null;
  /** The pinned version ({v}); null: the current one (or the app's selection). */
  readonly version: string | null;
  /** The pinned version's record, else the current version's; null when there is none. */
  readonly info: ModelVersionInfo | null;
}

/** The app or model `name` names, at `version`; a 404 naming what is missing. */
export function resolveTarget(
  pipeline: QueryPipeline,
  models: ReadonlyMap<string, ModelRoute>,
  name: string,
  version: string | null,
): OipTarget {
  let route: AppRoute;
  let model: ModelRoute | null;
  const isApp = pipeline.has(name);
  if (isApp) {
    route = pipeline.route(name);
    model = route.modelName === null ? null : (models.get(route.modelName) ?? null);
  } else {
    model = models.get(name) ?? null;
    if (model === null) throw oipNotFound(`no model or application named '${name}'`);
    route = model;
  }
  if (version === null) {
    const current = model?.currentVersion ?? null;
    return { name, isApp, route, model, version, info: current === null ? null : (model!.infos.get(current) ?? null) };
  }
  if (model === null) throw oipNotFound(`application '${name}' has no linked model, so no version '${version}'`);
  const info = model.infos.get(version);
  if (info === undefined) throw oipNotFound(`model '${model.name}' has no version '${version}'`);
  if (!isApp && info.record.input_type !== route.inputType) {
    route = { ...route, inputType: info.record.input_type, typeCode: inputTypeCode(info.record.input_type) };
  }
  return { name, isApp, route, model, version, info };
}

/** The version a target's queries go to now: the pinned one, else the model's current; null: none. */
export function servingVersion(target: OipTarget): string | null {
  return target.version ?? target.model?.currentVersion ?? null;
}

/** Tensor specs per model record (or route, for an app with no model) and input type: built once,
 * not per request; records and routes are replaced on every configuration change. */
const kSpecs = new WeakMap<object, Map<InputType, ModelTensorSpec>>();

/**
 * The target's tensors: the version's declared ones (modelTensorSpec), else inferred from the input
 * type the target takes (an app's own; its model's declared input only when the types agree).
 * Shared between requests: read it, do not change it.
 */
export function targetTensorSpec(target: OipTarget): ModelTensorSpec {
  const record = target.info?.record;
  const inputType = target.route.inputType;
  const key: object = record ?? target.route;
  let byType = kSpecs.get(key);
  if (byType === undefined) {
    byType = new Map();
    kSpecs.set(key, byType);
  }
  let spec = byType.get(inputType);
  if (spec === undefined) {
    const sameType = record !== undefined && record.input_type === inputType;
    spec = modelTensorSpec({ input_type: inputType, inputs: sameType ? record.inputs : undefined, outputs: record?.outputs });
    byType.set(inputType, spec);
  }
  return spec;
}
