// `clipper` subcommands that change a running cluster's models and applications: set-version,
// unlink, delete-app, delete-model, scale. Each prints the server's answer; a refusal surfaces as a
// ClipperClientError that runAdminCommand (cli/admin.ts) prints with the server's cause.

import { intValue, parse, say, stringValue } from './admin_args.js';
import { ClipperError } from '../errors.js';

export const kManageUsage = `  set-version  make a model version current (roll back or forward); waits until its replicas run
            --model M --version V
  unlink    unlink a model from an application: --app A --model M
  delete-app  delete an application (its route goes; its models stay): --name A
  delete-model  delete a model version (and stop its replicas): --name M --version V
  scale     set the replica count of a model version: --model M [--version V (default: current)]
            --replicas N
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
  let version = stringValue(values.version);
  if (version === undefined) {
    // The server scales a named version; without one, the current version, which needs a model.
    const versions = (await connection.getAllModels(true)).filter((m) => m.model_name === model);
    version = versions.find((m) => m.is_current_version)?.model_version;
    if (version === undefined) {
      throw new ClipperError(
        'CLP_ERR_NOT_FOUND',
        versions.length === 0
          ? `No model with name '${model}' exists.`
          : `model '${model}' has no current version: name one with --version`,
      );
    }
  }
  say(await connection.setNumReplicas(model, replicas, version));
}

export const kManageCommands: Readonly<Record<string, (argv: string[]) => Promise<void>>> = {
  'set-version': setVersion,
  unlink,
  'delete-app': deleteApp,
  'delete-model': deleteModel,
  scale,
};
