// /admin/* endpoints for models, versions, replicas and containers (spec §2.1, §6.3), with §12.2's
// fixes:
// - add_model makes the new version current only after its replicas started; when they cannot
//   start, the version is removed again and the caller gets CLP_ERR_DEPLOY_FAILED.
// - set_model_version waits until the target version's replicas run before switching to it.
// - delete_versioned_model never leaves a dangling current-version pointer: deleting the current
//   version clears it (no silent fallback to an old version). As in Clipper, a linked model's
//   current version can be deleted (clipper_admin's stop_* calls do it): its apps then answer the
//   default output, "No connected models", until a version is current again.
//   The current version of a model a pipeline app calls is the exception: deleting it is refused
//   (CLP_ERR_CONFLICT naming the app and stage, admin_pipelines.ts) until the pipeline changes.
// Added for this runtime: a `container` spec and `num_replicas` on add_model, and set_num_replicas.

import { ClipperError } from '../errors.js';
import { confineModelFiles, defaultModelDirs } from '../model_dirs.js';
import { modelKey, type ModelRecord } from '../state/records.js';
import type { ReplicaStatus } from './admin_context.js';
import { refuseIfPipelineModel } from './admin_pipelines.js';
import { jsonReply, textReply } from '../http/reply.js';
import type { AdminCore, AdminReply, AdminRoute } from './admin_core.js';
import {
  checkBatchSize,
  checkContainerSpec,
  checkInputType,
  checkIntRange,
  checkLabels,
  checkName,
  checkTensorSpecs,
  checkVersion,
  kReplicasMax,
  type BodyReader,
} from './admin_validate.js';
import { kTuningRoutes } from './admin_tuning.js';

export function modelJson(model: ModelRecord, isCurrent: boolean): Record<string, unknown> {
  return {
    model_name: model.model_name,
    model_version: model.model_version,
    input_type: model.input_type,
    labels: [...model.labels],
    container_name: model.container_name,
    model_data_path: model.model_data_path,
    is_current_version: isCurrent,
    batch_size: model.batch_size,
    num_replicas: model.num_replicas,
    cache_enabled: model.cache_enabled !== false,
    container: model.container === null ? null : structuredClone(model.container),
    ...(model.inputs === undefined ? {} : { inputs: structuredClone(model.inputs) }),
    ...(model.outputs === undefined ? {} : { outputs: structuredClone(model.outputs) }),
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function deployFailed(name: string, version: string, err: unknown): ClipperError {
  // An engine that cannot be reached is the server's trouble, not the request's: it stays a 503.
  const code = err instanceof ClipperError && err.code === 'CLP_ERR_DOCKER_UNAVAILABLE' ? err.code : 'CLP_ERR_DEPLOY_FAILED';
  return new ClipperError(code, `The replicas of model '${name}' version '${version}' could not start: ${errorMessage(err)}`, undefined, {
    cause: err,
  });
}

function noSuchVersion(name: string, version: string): ClipperError {
  return new ClipperError('CLP_ERR_NOT_FOUND', `model with name '${name}' and version '${version}' does not exist`);
}

/** The container_name of a model registered without one (our clients send it; nothing to run). */
const kNoContainer = 'NO_CONTAINER';

function readModelRecord(core: AdminCore, body: BodyReader): ModelRecord {
  const name = checkName('model name', body.string('model_name'));
  const version = checkVersion('model version', body.string('model_version'));
  const inputType = checkInputType(body.string('input_type'));
  const labels = checkLabels(body.has('labels') ? body.stringArray('labels') : []);
  const defaultManager = core.ctx.defaults.containers ?? 'local';
  let container = checkContainerSpec(body.raw('container'), defaultManager);
  const image = body.has('container_name') ? body.string('container_name') : '';
  if (container === null && image !== '' && image !== kNoContainer) {
    if (defaultManager !== 'local') {
      // Clipper's way: container_name is the image to run (built by `clipper build` or a registry's).
      container = checkContainerSpec({ image }, defaultManager);
    } else if (!(body.has('num_replicas') && body.int('num_replicas') === 0)) {
      throw new ClipperError(
        'CLP_ERR_INVALID_ARG',
        `model '${name}' version '${version}' names the image '${image}' (container_name), but this cluster runs ` +
          'replicas as local processes: start the server with --containers docker (or kubernetes) to run images, or give ' +
          `"container": {"manager": "docker", "image": "${image}"} (or {"runtime": "node"|"python", "entry": <file>}), ` +
          'or "num_replicas": 0 to register the model without replicas',
      );
    }
  }
  // Clipper requires batch_size (and clipper_admin always sends it); we default to -1 (adaptive).
  const batchSize = checkBatchSize(body.has('batch_size') ? body.int('batch_size') : -1);
  // Without a container spec there is nothing this runtime can start (Clipper's container_name is
  // a Docker image), so such a model gets no replicas unless a later add_model gives a spec.
  const numReplicas = body.has('num_replicas')
    ? checkIntRange('num_replicas', body.int('num_replicas'), 0, kReplicasMax)
    : container === null
      ? 0
      : core.ctx.defaults.numReplicas;
  if (numReplicas > 0 && container === null) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `num_replicas is ${numReplicas} but model '${name}' version '${version}' has no container spec: ` +
        'add "container": {"runtime": "node"|"python", "entry": <file>} to run replicas as local processes, or ' +
        '"container": {"manager": "docker", "image": <image>} to run an image',
    );
  }
  const containerName = body.has('container_name')
    ? body.string('container_name')
    : container === null
      ? kNoContainer
      : (container.image ?? `${container.runtime}:${container.entry}`);
  const modelDataPath = body.has('model_data_path') ? body.string('model_data_path') : 'DEPRECATED';
  // The prediction cache is on unless a model says its outputs are not a function of its input.
  const cacheEnabled = body.has('cache_enabled') ? body.bool('cache_enabled') : true;
  const inputs = checkTensorSpecs('inputs', body.raw('inputs'), inputType);
  const outputs = checkTensorSpecs('outputs', body.raw('outputs'), inputType);
  return {
    model_name: name,
    model_version: version,
    input_type: inputType,
    labels,
    container_name: containerName,
    model_data_path: modelDataPath,
    batch_size: batchSize,
    container,
    num_replicas: numReplicas,
    cache_enabled: cacheEnabled,
    ...(inputs === undefined ? {} : { inputs }),
    ...(outputs === undefined ? {} : { outputs }),
  };
}

/** validate → putModel → wait for replicas → set current (or roll back the record). */
async function addModel(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const record = readModelRecord(core, body);
  // The files a replica would load and run must lie in a model directory (400 naming them if not).
  if (record.container !== null) await confineModelFiles(record.container, core.ctx.modelDirs ?? defaultModelDirs());
  const { model_name: name, model_version: version } = record;
  const key = modelKey(name, version);
  await core.exclusive(async () => {
    if (core.ctx.snapshot().models.has(key)) {
      throw new ClipperError('CLP_ERR_CONFLICT', `model with name '${name}' and version '${version}' already exists`);
    }
    core.checkConsistentWithLinks(name, record.input_type);
    await core.write(`adding model ${key}`, () => core.ctx.store.putModel(record));
  });
  const rollBack = async (reason: ClipperError): Promise<never> => {
    await core.exclusive(async () => {
      if (!core.ctx.snapshot().models.has(key)) return;
      try {
        await core.ctx.store.deleteModel(name, version);
      } catch (err) {
        reason.message += ` (removing the model's record failed too: ${errorMessage(err)})`;
      }
    });
    throw reason;
  };
  try {
    await core.ctx.waitForDeploy(name, version);
  } catch (err) {
    return rollBack(deployFailed(name, version, err));
  }
  const problem = await core.exclusive(async () => {
    if (!core.ctx.snapshot().models.has(key)) {
      return new ClipperError(
        'CLP_ERR_CONFLICT',
        `model with name '${name}' and version '${version}' was deleted while its replicas were starting`,
      );
    }
    try {
      core.checkConsistentWithLinks(name, record.input_type); // links may have changed during the deploy
    } catch (err) {
      return err as ClipperError;
    }
    await core.write(`setting the current version of model '${name}'`, () => core.ctx.store.setCurrentVersion(name, version));
    return null;
  });
  if (problem !== null) return rollBack(problem);
  return textReply(`Successfully added model with name '${name}' and input type '${record.input_type}'`);
}

async function setModelVersion(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('model_name');
  const version = body.string('model_version');
  const check = (): void => {
    const versions = core.versions(name);
    if (versions.length === 0) throw new ClipperError('CLP_ERR_NOT_FOUND', `Cannot set version for nonexistent model '${name}'`);
    const record = versions.find((m) => m.model_version === version);
    if (record === undefined) {
      throw new ClipperError('CLP_ERR_NOT_FOUND', `Cannot set non-existent version '${version}' for model with name '${name}'`);
    }
    core.checkConsistentWithLinks(name, record.input_type);
  };
  await core.exclusive(async () => check());
  try {
    await core.ctx.waitForDeploy(name, version);
  } catch (err) {
    throw deployFailed(name, version, err);
  }
  await core.exclusive(async () => {
    check(); // the version may have been deleted while we waited
    await core.write(`setting the current version of model '${name}'`, () => core.ctx.store.setCurrentVersion(name, version));
  });
  return textReply(`Successfully set model with name '${name}' to version '${version}'`);
}

async function deleteVersionedModel(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('model_name');
  const version = body.string('model_version');
  return core.exclusive(async () => {
    if (!core.ctx.snapshot().models.has(modelKey(name, version))) throw noSuchVersion(name, version);
    if (core.currentVersion(name) === version) {
      refuseIfPipelineModel(core.ctx.snapshot(), name, version);
      // Clipper's stop_* flows delete every version, linked or not: the model goes, its links stay,
      // and its apps answer the default ("No connected models") until a version is current again.
      await core.write(`clearing the current version of model '${name}'`, () => core.ctx.store.setCurrentVersion(name, null));
    }
    await core.write(`deleting model ${name}:${version}`, () => core.ctx.store.deleteModel(name, version));
    return textReply(`Successfully deleted model with name '${name}' and version '${version}'`);
  });
}

/** putModel with the new count → wait for replicas; on failure the previous count is restored. */
async function setNumReplicas(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('model_name');
  const version = body.string('model_version');
  const count = checkIntRange('num_replicas', body.int('num_replicas'), 0, kReplicasMax);
  const key = modelKey(name, version);
  const previous = await core.exclusive(async () => {
    const record = core.ctx.snapshot().models.get(key);
    if (record === undefined) throw noSuchVersion(name, version);
    if (count > 0 && record.container === null) {
      throw new ClipperError('CLP_ERR_INVALID_ARG', `Cannot resize the replica set for containerless model ${key}`);
    }
    await core.write(`updating model ${key}`, () => core.ctx.store.putModel({ ...record, num_replicas: count }));
    return record;
  });
  try {
    await core.ctx.waitForDeploy(name, version);
  } catch (err) {
    const reason = deployFailed(name, version, err);
    await core.exclusive(async () => {
      const now = core.ctx.snapshot().models.get(key);
      if (now === undefined || now.num_replicas !== count) return; // changed by someone else since
      try {
        await core.ctx.store.putModel({ ...now, num_replicas: previous.num_replicas });
      } catch (restoreErr) {
        reason.message += ` (restoring ${previous.num_replicas} replicas failed too: ${errorMessage(restoreErr)})`;
      }
    });
    throw reason;
  }
  return textReply(`Successfully set the number of replicas of model '${name}' version '${version}' to ${count}`);
}

function verbose(body: BodyReader): boolean {
  return body.has('verbose') ? body.bool('verbose') : false;
}

async function getAllModels(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const snapshot = core.ctx.snapshot();
  const models = [...snapshot.models.values()];
  return jsonReply(
    verbose(body)
      ? models.map((m) => modelJson(m, snapshot.currentVersions.get(m.model_name) === m.model_version))
      : models.map((m) => modelKey(m.model_name, m.model_version)),
  );
}

async function getModel(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('model_name');
  const version = body.string('model_version');
  const snapshot = core.ctx.snapshot();
  const model = snapshot.models.get(modelKey(name, version));
  return jsonReply(model === undefined ? {} : modelJson(model, snapshot.currentVersions.get(name) === version));
}

function containerId(replica: ReplicaStatus): string {
  return `${replica.model}:${replica.version}:${replica.replicaId}`;
}

/** Clipper's verbose container object, plus where and how the replica runs. */
function containerJson(core: AdminCore, replica: ReplicaStatus): Record<string, unknown> {
  const model = core.ctx.snapshot().models.get(modelKey(replica.model, replica.version));
  return {
    model_id: modelKey(replica.model, replica.version),
    model_name: replica.model,
    model_version: replica.version,
    model_replica_id: replica.replicaId,
    input_type: model?.input_type ?? null,
    connected: replica.connected,
    ...(replica.connectionError === undefined ? {} : { connection_error: replica.connectionError }),
    state: replica.state,
    pid: replica.pid,
    host: replica.host,
    port: replica.port,
    restart_count: replica.restartCount,
    manager: replica.manager,
    container_id: replica.containerId,
    image: replica.image,
    health: replica.health,
  };
}

async function getAllContainers(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const replicas = core.ctx.replicas();
  return jsonReply(verbose(body) ? replicas.map((r) => containerJson(core, r)) : replicas.map(containerId));
}

async function getContainer(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('model_name');
  const version = body.string('model_version');
  const replicaId = body.int('replica_id');
  const replica = core.ctx.replicas().find((r) => r.model === name && r.version === version && r.replicaId === replicaId);
  return jsonReply(replica === undefined ? {} : containerJson(core, replica));
}

const kLogLinesMax = 10_000;

/** The recent output of each replica of a model version (its current version when none is named). */
async function getLogs(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('model_name');
  const snapshot = core.ctx.snapshot();
  const version = body.has('model_version') ? body.string('model_version') : snapshot.currentVersions.get(name);
  if (version === undefined || !snapshot.models.has(modelKey(name, version))) {
    throw new ClipperError(
      'CLP_ERR_NOT_FOUND',
      version === undefined
        ? `model '${name}' has no current version (name one with model_version)`
        : `model ${modelKey(name, version)} does not exist`,
    );
  }
  const tailLines = body.has('tail_lines') ? checkIntRange('tail_lines', body.int('tail_lines'), 1, kLogLinesMax) : 100;
  const logs = await core.ctx.replicaLogs(name, version, tailLines);
  return jsonReply(
    logs.map((l) => ({
      model_name: l.model,
      model_version: l.version,
      model_replica_id: l.replicaId,
      container_id: l.containerId,
      logs: l.text,
    })),
  );
}

const kVersionedSchema = '{"model_name" := string, "model_version" := string}';

export const kModelRoutes: Readonly<Record<string, AdminRoute>> = {
  add_model: {
    mutates: true,
    run: addModel,
    schema:
      '{"model_name" := string, "model_version" := string, "labels" := [string], "input_type" := string, ' +
      '"container_name" := string, "model_data_path" := string, "batch_size" := int, ' +
      '"container"? := {"manager"? := "local" | "docker", "runtime" := "node" | "python", "entry" := string, ' +
      '"framework"? := "python" | "node" | "sklearn" | "pytorch" | "xgboost" | "onnx" (implies the runtime), ' +
      '"function"? := string, "options"? := object, "image"? := string, "folder"? := string, "pkgs_to_install"? := [string], ' +
      '"cpus"? := number, "memory_mb"? := int}, ' +
      '"num_replicas"? := int, "cache_enabled"? := bool, ' +
      '"inputs"? := [{"name" := string, "datatype" := string, "shape" := [int]}], "outputs"? := [same]}',
  },
  set_model_version: { mutates: true, run: setModelVersion, schema: kVersionedSchema },
  delete_versioned_model: { mutates: true, run: deleteVersionedModel, schema: kVersionedSchema },
  set_num_replicas: {
    mutates: true,
    run: setNumReplicas,
    schema: '{"model_name" := string, "model_version" := string, "num_replicas" := int}',
  },
  ...kTuningRoutes,
  get_all_models: { mutates: false, run: getAllModels, schema: '{"verbose" := bool}' },
  get_model: { mutates: false, run: getModel, schema: kVersionedSchema },
  get_all_containers: { mutates: false, run: getAllContainers, schema: '{"verbose" := bool}' },
  get_logs: {
    mutates: false,
    run: getLogs,
    schema: '{"model_name" := string, "model_version"? := string, "tail_lines"? := int} (also GET with a query string)',
  },
  get_container: {
    mutates: false,
    run: getContainer,
    schema: '{"model_name" := string, "model_version" := string, "replica_id" := int}',
  },
};
