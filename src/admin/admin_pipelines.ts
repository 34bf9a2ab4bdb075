// /admin/* endpoints for pipeline apps (docs/pipelines.md): set_app_pipeline and set_pipeline_plan,
// and the rules the other endpoints apply to them: a pipeline app links no models and keeps the
// default selection policy; the current version of a model a pipeline calls cannot be deleted, nor
// replaced by one of another input type. Specs are checked by src/pipeline_spec.ts.

import { isDeepStrictEqual } from 'node:util';
import { ClipperError } from '../errors.js';
import { textReply } from '../http/reply.js';
import type { InputType } from '../input_types.js';
import {
  pipelineModels,
  stagesUsingModel,
  validatePipeline,
  validatePlan,
  type ModelInfo,
  type PipelinePlan,
  type PipelineSpec,
} from '../pipeline_spec.js';
import { modelKey, type AppRecord, type StateSnapshot } from '../state/records.js';
import type { AdminCore, AdminReply, AdminRoute } from './admin_core.js';
import type { BodyReader } from './admin_validate.js';

/** A model's input type as a pipeline sees it: its current version's; undefined without one. */
export function modelLookup(snapshot: StateSnapshot): (model: string) => ModelInfo | undefined {
  return (model) => {
    const version = snapshot.currentVersions.get(model);
    const record = version === undefined ? undefined : snapshot.models.get(modelKey(model, version));
    return record === undefined ? undefined : { inputType: record.input_type };
  };
}

/** A submitted pipeline for an app of `inputType`, checked against the models as they are now. */
export function readPipeline(core: AdminCore, raw: unknown, inputType: InputType): PipelineSpec {
  return validatePipeline(raw, inputType, modelLookup(core.ctx.snapshot()));
}

function stageList(spec: PipelineSpec): string {
  return spec.stages.map((s) => `'${s.name}'`).join(', ');
}

/** Link and selection-policy calls do not apply to a pipeline app: a 400 naming its pipeline. */
export function refuseIfPipeline(app: AppRecord, doing: string): void {
  if (app.pipeline === undefined) return;
  throw new ClipperError(
    'CLP_ERR_INVALID_ARG',
    `application '${app.name}' serves a pipeline (stages ${stageList(app.pipeline)}, output '${app.pipeline.output}'): ` +
      `${doing} does not apply to it; change its models with set_app_pipeline`,
  );
}

/** The pipeline apps that call `modelName`, with the stages that call it. */
function pipelineUsers(snapshot: StateSnapshot, modelName: string): Array<{ app: AppRecord; stages: string[] }> {
  const out: Array<{ app: AppRecord; stages: string[] }> = [];
  for (const app of snapshot.apps.values()) {
    const stages = app.pipeline === undefined ? [] : stagesUsingModel(app.pipeline, modelName);
    if (stages.length > 0) out.push({ app, stages });
  }
  return out;
}

function usedBy(user: { app: AppRecord; stages: string[] }): string {
  const stages = user.stages.map((s) => `'${s}'`).join(', ');
  return `pipeline stage${user.stages.length > 1 ? 's' : ''} ${stages} of application '${user.app.name}'`;
}

/** Deleting the current version of a model a pipeline calls is refused (CLP_ERR_CONFLICT) naming the app and stage. */
export function refuseIfPipelineModel(snapshot: StateSnapshot, modelName: string, version: string): void {
  const user = pipelineUsers(snapshot, modelName)[0];
  if (user === undefined) return;
  throw new ClipperError(
    'CLP_ERR_CONFLICT',
    `model '${modelName}' version '${version}' serves ${usedBy(user)}: ` +
      'change the pipeline (set_app_pipeline) or delete the application first',
  );
}

/** A new current version of `modelName` must take the input type each pipeline calling it feeds it. */
export function checkPipelinesAccept(snapshot: StateSnapshot, modelName: string, inputType: InputType): void {
  const lookup = modelLookup(snapshot);
  for (const user of pipelineUsers(snapshot, modelName)) {
    try {
      validatePipeline(user.app.pipeline, user.app.input_type, (m) => (m === modelName ? { inputType } : lookup(m)));
    } catch (err) {
      throw new ClipperError(
        'CLP_ERR_CONFLICT',
        `Model with name '${modelName}' serves ${usedBy(user)}, and input type '${inputType}' does not fit it: ${(err as Error).message}`,
      );
    }
  }
}

function noApp(name: string): ClipperError {
  return new ClipperError('CLP_ERR_NOT_FOUND', `No app with name '${name}' exists.`);
}

/** The stored plan, kept when it still fits the new pipeline (the same models and stages), else dropped. */
function planFor(plan: PipelinePlan | undefined, spec: PipelineSpec): PipelinePlan | undefined {
  if (plan === undefined) return undefined;
  try {
    return validatePlan(plan, spec);
  } catch {
    return undefined;
  }
}

/** Sets (or with `"pipeline": null` removes) an app's pipeline; the app's routes follow the store. */
async function setAppPipeline(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('name');
  const raw = body.raw('pipeline') === null ? null : body.object('pipeline');
  return core.exclusive(async () => {
    const app = core.app(name);
    if (app === undefined) throw noApp(name);
    const updated: AppRecord = { ...app };
    delete updated.pipeline;
    delete updated.pipeline_plan;
    let note = '';
    if (raw !== null) {
      refuseLinkedApp(app);
      updated.pipeline = readPipeline(core, raw, app.input_type);
      const plan = planFor(app.pipeline_plan, updated.pipeline);
      if (plan !== undefined) updated.pipeline_plan = plan;
      else if (app.pipeline_plan !== undefined) note = '; its stored plan no longer fits and was cleared';
    }
    await core.write(`setting the pipeline of '${name}'`, () => core.ctx.store.putApp(updated));
    if (updated.pipeline === undefined) return textReply(`Successfully removed the pipeline of application '${name}'`);
    const models = pipelineModels(updated.pipeline).map((m) => `'${m}'`);
    return textReply(
      `Successfully set the pipeline of application '${name}': ${updated.pipeline.stages.length} stage(s), models ${models.join(', ')}${note}`,
    );
  });
}

/** An app with links or a selection policy of its own cannot become a pipeline app. */
export function refuseLinkedApp(app: AppRecord): void {
  if (app.linked_models.length > 0) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `pipeline: application '${app.name}' links models (${app.linked_models.join(', ')}); unlink them before giving it a pipeline`,
    );
  }
  if (app.selection_policy !== 'default' || app.policy_params !== undefined) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `pipeline: application '${app.name}' has the selection policy '${app.selection_policy}'; a pipeline app keeps 'default' and no policy_params`,
    );
  }
}

/**
 * With `"envelope_only": true` (the reactive tuner's writes): the new plan may differ from the stored
 * one in envelope_qps only, checked under the write lock, so that a plan stored, cleared or replaced
 * meanwhile (e.g. by `clipper plan --apply`) is never overwritten by one sized for the old plan.
 */
function refuseIfNotEnvelopeOnly(app: AppRecord, plan: PipelinePlan): void {
  const stored = app.pipeline_plan;
  const why =
    stored === undefined
      ? 'it has no stored plan (cleared meanwhile?)'
      : isDeepStrictEqual({ ...stored, envelope_qps: null }, { ...plan, envelope_qps: null })
        ? null
        : 'its stored plan differs in more than envelope_qps (re-planned meanwhile?)';
  if (why !== null) {
    throw new ClipperError(
      'CLP_ERR_CONFLICT',
      `set_pipeline_plan with envelope_only: application '${app.name}': ${why}; nothing was stored`,
    );
  }
}

/** Stores (or with `"plan": null` clears) a pipeline app's plan; it changes no replica count itself. */
async function setPipelinePlan(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('name');
  const raw = body.raw('plan') === null ? null : body.object('plan');
  const envelopeOnly = body.has('envelope_only') ? body.bool('envelope_only') : false;
  if (envelopeOnly && raw === null)
    throw new ClipperError('CLP_ERR_INVALID_ARG', 'envelope_only moves the envelope of a plan: give one, not null');
  return core.exclusive(async () => {
    const app = core.app(name);
    if (app === undefined) throw noApp(name);
    if (app.pipeline === undefined) {
      throw new ClipperError('CLP_ERR_INVALID_ARG', `application '${name}' has no pipeline: set one (set_app_pipeline) before its plan`);
    }
    const updated: AppRecord = { ...app };
    delete updated.pipeline_plan;
    if (raw !== null) {
      updated.pipeline_plan = validatePlan(raw, app.pipeline); // replicas_max at most kPlanReplicasMax (pipeline_plan_check.ts)
      if (envelopeOnly) refuseIfNotEnvelopeOnly(app, updated.pipeline_plan);
    }
    await core.write(`setting the pipeline plan of '${name}'`, () => core.ctx.store.putApp(updated));
    return textReply(
      raw === null
        ? `Successfully cleared the pipeline plan of application '${name}'`
        : `Successfully stored the pipeline plan of application '${name}'`,
    );
  });
}

export const kPipelineRoutes: Readonly<Record<string, AdminRoute>> = {
  set_app_pipeline: {
    mutates: true,
    run: setAppPipeline,
    schema: '{"name" := string, "pipeline" := object | null (docs/pipelines.md; null: a plain app again)}',
  },
  set_pipeline_plan: {
    mutates: true,
    run: setPipelinePlan,
    schema:
      '{"name" := string, "plan" := object | null (what `clipper plan` computes; null: clear it), ' +
      '"envelope_only" := bool (optional: refused unless the stored plan differs only in envelope_qps)}',
  },
};
