// /admin/* endpoints for applications and their links (spec §2.1), with §12.2's fixes: names are
// validated, invalid input types answer 400, delete_app removes the app record (routes follow the
// store), and an app may link several models (the selection layer picks among them).

import { ClipperError } from '../errors.js';
import { parsePolicyConfig, parsePolicyName } from '../selection/policies/params.js';
import { modelKey, type AppRecord } from '../state/records.js';
import { jsonReply, textReply } from '../http/reply.js';
import type { AdminCore, AdminReply, AdminRoute } from './admin_core.js';
import { readPipeline, refuseIfPipeline, refuseLinkedApp } from './admin_pipelines.js';
import { checkInputType, checkIntRange, checkName, kSloMicrosMax, kSloMicrosMin, type BodyReader } from './admin_validate.js';

const kOverloadResponses = ['status_429', 'default_output'] as const;

/** The verbose application object (Clipper's keys, then ours). */
export function appJson(app: AppRecord): Record<string, unknown> {
  return {
    name: app.name,
    input_type: app.input_type,
    default_output: app.default_output,
    latency_slo_micros: app.latency_slo_micros,
    linked_models: [...app.linked_models],
    selection_policy: app.selection_policy,
    overload_response: app.overload_response,
    ...(app.policy_params === undefined ? {} : { policy_params: app.policy_params }),
    ...(app.pipeline === undefined ? {} : { pipeline: structuredClone(app.pipeline) }),
    ...(app.pipeline_plan === undefined ? {} : { pipeline_plan: structuredClone(app.pipeline_plan) }),
  };
}

/**
 * Validates a selection policy and its parameters (src/selection/policies/params.ts; errors name the
 * parameter). `modelCount` is the app's linked-model count; a `weighted_split` app that has no
 * linked models yet is checked against its own weights (they must match the links later, else the
 * app serves its first model: docs/selection.md).
 */
export function checkSelectionPolicy(
  policy: unknown,
  params: unknown,
  modelCount: number,
): { name: string; params: Record<string, unknown> | undefined } {
  const name = parsePolicyName(policy);
  let count = modelCount;
  if (count === 0 && name === 'weighted_split' && params !== null && typeof params === 'object' && !Array.isArray(params)) {
    const weights = (params as Record<string, unknown>).weights;
    if (Array.isArray(weights)) count = weights.length;
  }
  parsePolicyConfig(name, params, count);
  const stored = params === undefined || params === null ? undefined : { ...(params as Record<string, unknown>) };
  return { name, params: stored };
}

function optionalChoice<T extends string>(body: BodyReader, key: string, choices: readonly T[], fallback: T): T {
  if (!body.has(key)) return fallback;
  const value = body.string(key);
  if (!(choices as readonly string[]).includes(value)) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `${key} '${value}' is not supported. Expected one of: ${choices.map((c) => `'${c}'`).join(', ')}`,
    );
  }
  return value as T;
}

async function addApp(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = checkName('application name', body.string('name'));
  const inputType = checkInputType(body.string('input_type'));
  const defaultOutput = body.string('default_output');
  const sloMicros = checkIntRange('latency_slo_micros', body.int('latency_slo_micros'), kSloMicrosMin, kSloMicrosMax);
  const policy = checkSelectionPolicy(
    body.has('selection_policy') ? body.string('selection_policy') : 'default',
    body.raw('policy_params'),
    0,
  );
  const overloadResponse = optionalChoice(body, 'overload_response', kOverloadResponses, 'default_output');
  const pipeline = body.has('pipeline') ? body.object('pipeline') : undefined;
  return core.exclusive(async () => {
    if (core.app(name) !== undefined) {
      throw new ClipperError('CLP_ERR_CONFLICT', `application '${name}' already exists`);
    }
    const app: AppRecord = {
      name,
      input_type: inputType,
      default_output: defaultOutput,
      latency_slo_micros: sloMicros,
      linked_models: [],
      selection_policy: policy.name,
      overload_response: overloadResponse,
    };
    if (policy.params !== undefined) app.policy_params = policy.params;
    if (pipeline !== undefined) {
      refuseLinkedApp(app); // its selection policy
      app.pipeline = readPipeline(core, pipeline, inputType);
    }
    await core.write(`adding application '${name}'`, () => core.ctx.store.putApp(app));
    return textReply(`Successfully added application with name '${name}'`);
  });
}

/** Changes an app's selection policy; the app's learned state starts fresh (docs/selection.md). */
async function setSelectionPolicy(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const appName = body.string('app_name');
  const policyName = body.string('selection_policy');
  const params = body.raw('policy_params');
  return core.exclusive(async () => {
    const app = core.app(appName);
    if (app === undefined) throw noApp(appName, true);
    refuseIfPipeline(app, 'set_selection_policy');
    const policy = checkSelectionPolicy(policyName, params, app.linked_models.length);
    const updated: AppRecord = { ...app, selection_policy: policy.name };
    if (policy.params === undefined) delete updated.policy_params;
    else updated.policy_params = policy.params;
    await core.write(`setting the selection policy of '${appName}'`, () => core.ctx.store.putApp(updated));
    return textReply(`Successfully set the selection policy of application '${appName}' to '${policy.name}'`);
  });
}

/** Changes an app's latency SLO; every frontend applies it to the next query (routes follow the store). */
async function setAppSlo(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('name');
  const sloMicros = checkIntRange('slo_micros', body.int('slo_micros'), kSloMicrosMin, kSloMicrosMax);
  return core.exclusive(async () => {
    const app = core.app(name);
    if (app === undefined) throw noApp(name, true);
    await core.write(`setting the SLO of '${name}'`, () => core.ctx.store.putApp({ ...app, latency_slo_micros: sloMicros }));
    return textReply(`Successfully set the latency SLO of application '${name}' to ${sloMicros} microseconds`);
  });
}

async function deleteApp(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('name');
  return core.exclusive(async () => {
    if (core.app(name) === undefined) throw new ClipperError('CLP_ERR_NOT_FOUND', `Application '${name}' does not exist`);
    await core.write(`deleting application '${name}'`, () => core.ctx.store.deleteApp(name));
    return textReply(`Successfully deleted application with name '${name}'`);
  });
}

function noApp(appName: string, quoted: boolean): ClipperError {
  return new ClipperError('CLP_ERR_NOT_FOUND', quoted ? `No app with name '${appName}' exists.` : `No app with name ${appName} exists.`);
}

/**
 * Clipper's link checks (app exists, model has a current version, same input type, not already
 * linked), without its one-model-per-app limit. All names are checked before anything is written.
 */
async function addModelLinks(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const appName = body.string('app_name');
  const modelNames = body.stringArray('model_names');
  return core.exclusive(async () => {
    const app = core.app(appName);
    if (app === undefined) throw noApp(appName, true);
    refuseIfPipeline(app, 'add_model_links');
    if (modelNames.length === 0) {
      throw new ClipperError(
        'CLP_ERR_INVALID_ARG',
        `Please provide the name of the model that you want to link to the application '${appName}'`,
      );
    }
    const seen = new Set<string>();
    for (const modelName of modelNames) {
      if (seen.has(modelName)) throw new ClipperError('CLP_ERR_INVALID_ARG', `model_names lists '${modelName}' more than once`);
      seen.add(modelName);
      const version = core.currentVersion(modelName);
      const model = version === undefined ? undefined : core.ctx.snapshot().models.get(modelKey(modelName, version));
      if (model === undefined) throw new ClipperError('CLP_ERR_NOT_FOUND', `No model with name '${modelName}' exists.`);
      if (model.input_type !== app.input_type) {
        throw new ClipperError(
          'CLP_ERR_CONFLICT',
          `Model with name '${modelName}' has incompatible input_type ` +
            `'${model.input_type}'. Requested app to link to has input_type '${app.input_type}'.`,
        );
      }
      if (app.linked_models.includes(modelName)) {
        throw new ClipperError('CLP_ERR_CONFLICT', `The model with name '${modelName}' is already linked to '${appName}'`);
      }
    }
    const updated: AppRecord = { ...app, linked_models: [...app.linked_models, ...modelNames] };
    await core.write(`linking models to '${appName}'`, () => core.ctx.store.putApp(updated));
    return textReply(
      modelNames.length === 1
        ? `Successfully linked model with name '${modelNames[0]}' to application '${appName}'`
        : `Successfully linked models with names ${modelNames.map((m) => `'${m}'`).join(', ')} to application '${appName}'`,
    );
  });
}

async function deleteModelLinks(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const appName = body.string('app_name');
  const modelNames = body.stringArray('model_names');
  return core.exclusive(async () => {
    const app = core.app(appName);
    if (app === undefined) throw noApp(appName, false);
    for (const modelName of modelNames) {
      if (!app.linked_models.includes(modelName)) {
        throw new ClipperError('CLP_ERR_NOT_FOUND', `Cannot remove nonexistent link between app ${appName} and model ${modelName}`);
      }
    }
    const updated: AppRecord = { ...app, linked_models: app.linked_models.filter((m) => !modelNames.includes(m)) };
    await core.write(`deleting linked models from ${appName}`, () => core.ctx.store.putApp(updated));
    return textReply('Success!');
  });
}

/** `verbose` is required by Clipper; we default it to false when absent (a lenient superset). */
function verbose(body: BodyReader): boolean {
  return body.has('verbose') ? body.bool('verbose') : false;
}

async function getAllApplications(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const apps = [...core.ctx.snapshot().apps.values()];
  return jsonReply(verbose(body) ? apps.map(appJson) : apps.map((a) => a.name));
}

async function getApplication(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const app = core.app(body.string('name'));
  return jsonReply(app === undefined ? {} : appJson(app)); // Clipper answers {} for a missing app
}

async function getLinkedModels(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const appName = body.string('app_name');
  const app = core.app(appName);
  if (app === undefined) throw new ClipperError('CLP_ERR_NOT_FOUND', `No application with name '${appName}' exists.`);
  return jsonReply([...app.linked_models]);
}

/** Clipper returns the app's raw default output (not JSON-encoded), or '' for a missing app. */
async function getState(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const appName = body.string('app_name');
  if (body.has('uid')) body.int('uid'); // type-checked like Clipper; every uid reads the same state
  return textReply(core.app(appName)?.default_output ?? '');
}

export const kAppRoutes: Readonly<Record<string, AdminRoute>> = {
  add_app: {
    mutates: true,
    run: addApp,
    schema:
      '{"name" := string, "input_type" := string, "default_output" := string, "latency_slo_micros" := int, ' +
      '"selection_policy"? := "default" | "exp3" | "exp4" | "epsilon_greedy" | "ucb1" | "weighted_split", ' +
      '"policy_params"? := object, "overload_response"? := "status_429" | "default_output", ' +
      '"pipeline"? := object (docs/pipelines.md)}',
  },
  set_selection_policy: {
    mutates: true,
    run: setSelectionPolicy,
    schema: '{"app_name" := string, "selection_policy" := string, "policy_params"? := object}',
  },
  set_app_slo: { mutates: true, run: setAppSlo, schema: '{"name" := string, "slo_micros" := int}' },
  delete_app: { mutates: true, run: deleteApp, schema: '{"name" := string}' },
  add_model_links: { mutates: true, run: addModelLinks, schema: '{"app_name" := string, "model_names" := [string]}' },
  delete_model_links: { mutates: true, run: deleteModelLinks, schema: '{"app_name" := string, "model_names" := [string]}' },
  get_all_applications: { mutates: false, run: getAllApplications, schema: '{"verbose" := bool}' },
  get_application: { mutates: false, run: getApplication, schema: '{"name" := string}' },
  get_linked_models: { mutates: false, run: getLinkedModels, schema: '{"app_name" := string}' },
  get_state: { mutates: false, run: getState, schema: '{"app_name" := string, "uid" := int}' },
};
