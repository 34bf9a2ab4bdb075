// `clipper` subcommands that change a running cluster's models and applications: set-version,
// unlink, delete-app, delete-model, scale, and the tuning ones: set-slo, set-batch-size. Each prints the server's answer; a refusal surfaces as a
// ClipperClientError that runAdminCommand (cli/admin.ts) prints with the server's cause.

import { intValue, parse, say, stringValue } from './admin_args.js';
import type { ClipperConnection } from '../client/admin_client.js';
import { ClipperError } from '../errors.js';

export const kManageUsage = `  set-version  make a model version current (roll back or forward); waits until its replicas run
            --model M --version V
  unlink    unlink a model from an application: --app A --model M
  delete-app  delete an application (its route goes; its models stay): --name A
  delete-model  delete a model version (and stop its replicas): --name M --version V
  scale     set the replica count of a model version: --model M [--version V (default: current)]
            --replicas N
  set-slo   change an application's latency SLO (the next query is held to it): --app A --slo-micros N
  set-batch-size  set a model version's batch size; its replicas keep running:
            --model M [--version V (default: current)] --batch-size N|adaptive (N: a fixed maximum)
`;

async function setVersion(argv: string[]): Promise<void> {
  const { required, connection } = parse(argv, { model: { type: 'string' }, version: { type: 'string' } });
  say(await connection.setModelVersion(required('model'), required('version')));
}

async function unlink(argv: string[]): Promise<void> {
  const { required, connection } = parse(argv, { app: { type: 'string' }, model: { type: 'string' } });
  say(await connection.unlinkModelFromApp(required('app'), required('model')));
}

async function deleteApp(argv: string[]): Promise<void> {
  const { required, connection } = parse(argv, { name: { type: 'string' } });
  say(await connection.deleteApplication(required('name')));
}

async function deleteModel(argv: string[]): Promise<void> {
  const { required, connection } = parse(argv, { name: { type: 'string' }, version: { type: 'string' } });
  say(await connection.deleteVersionedModel(required('name'), required('version')));
}

async function scale(argv: string[]): Promise<void> {
  const { values, required, connection } = parse(argv, {
    model: { type: 'string' },
    version: { type: 'string' },
    replicas: { type: 'string' },
  });
  const model = required('model');
  const replicas = intValue('replicas', required('replicas'), 0);
  const version = await versionOf(connection, model, stringValue(values.version));
  say(await connection.setNumReplicas(model, replicas, version));
}

/** `--version`, or the model's current version (the server changes a named version). */
async function versionOf(connection: ClipperConnection, model: string, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const versions = (await connection.getAllModels(true)).filter((m) => m.model_name === model);
  const version = versions.find((m) => m.is_current_version)?.model_version;
  if (version !== undefined) return version;
  throw new ClipperError(
    'CLP_ERR_NOT_FOUND',
    versions.length === 0 ? `No model with name '${model}' exists.` : `model '${model}' has no current version: name one with --version`,
  );
}

async function setSlo(argv: string[]): Promise<void> {
  const { required, connection } = parse(argv, { app: { type: 'string' }, 'slo-micros': { type: 'string' } });
  say(await connection.setAppSlo(required('app'), intValue('slo-micros', required('slo-micros'), 0)));
}

async function setBatchSize(argv: string[]): Promise<void> {
  const { values, required, connection } = parse(argv, {
    model: { type: 'string' },
    version: { type: 'string' },
    'batch-size': { type: 'string' },
  });
  const model = required('model');
  const text = required('batch-size');
  const batchSize = text === 'adaptive' ? -1 : intValue('batch-size', text, -1);
  const version = await versionOf(connection, model, stringValue(values.version));
  say(await connection.setModelBatchSize(model, version, batchSize));
}

export const kManageCommands: Readonly<Record<string, (argv: string[]) => Promise<void>>> = {
  'set-version': setVersion,
  unlink,
  'delete-app': deleteApp,
  'delete-model': deleteModel,
  scale,
  'set-slo': setSlo,
  'set-batch-size': setBatchSize,
};
