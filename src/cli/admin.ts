// The `clipper` subcommands that drive a running cluster through its management API and query
// frontend (src/client/admin_client.ts): register-app, set-policy, deploy, link, predict, logs, and
// those of cli/admin_manage.ts, cli/admin_status.ts and cli/pipeline_commands.ts. Each prints the
// server's answer on stdout and returns 0; a refused request prints the server's cause on stderr
// and returns 1.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { ClipperClientError } from '../client/admin_client.js';
import { intValue, parse, say, stringValue, type Values } from './admin_args.js';
import { kManageCommands, kManageUsage } from './admin_manage.js';
import { kPipelineCommands, kPipelineUsage, readPipelineArg } from './pipeline_commands.js';
import { kStatusCommands, kStatusUsage } from './admin_status.js';
import { ClipperError } from '../errors.js';
import { checkFrameworkEntry, isFramework, kFrameworks, runtimeOfFramework } from '../frameworks.js';
import type { ContainerSpec } from '../state/records.js';

export const kAdminUsage = `  register-app  register an application (alias add-app)
            --name N --input-type T [--default-output S (default "-1.0")] [--slo-micros N (default 100000)]
            [--selection-policy P] [--policy-params JSON]
            [--pipeline FILE|JSON]  a pipeline app: its graph of model stages (docs/pipelines.md)
  set-policy change an application's selection policy (learned state starts fresh)
            --app A --selection-policy P [--policy-params JSON]   e.g. --policy-params '{"eta":0.1}'
  deploy    deploy a model version and wait until its replicas run
            --name M --version V --input-type T --entry FILE
            --framework pytorch|xgboost|onnx|sklearn|python|node   what loads FILE (it implies
                             the runtime), or --runtime python|node (a .py/.pkl or a Node module)
            [--function F]   a .py/.mjs file's function (default predict), or a pickled model's
                             method (.pkl: predict, predict_proba, ...), or an ONNX output's name
            [--option NAME=VALUE ...]  runtime options: device=cpu|cuda|auto (pytorch, onnx),
                             threads=N (pytorch, xgboost, onnx), isolate=thread|inline
            [--replicas N] [--batch-size N (-1: adaptive, default)] [--label L ...]
            [--app A]        also link the model to application A
            [--manager local|docker|kubernetes]  where replicas run (default: the cluster's --containers)
            docker, kubernetes: [--image IMG] (run an image instead of --runtime/--entry; in Docker
            unless --manager kubernetes) [--cpus N] [--memory-mb N]
            docker only: [--folder DIR] [--pkg DEBIAN_PACKAGE ...]
  logs      print the recent output of a model's replicas: MODEL[:VERSION] [--tail N (default 100)]
  link      link a model to an application: --app A --model M
  predict   query an application: --app A --input JSON [--batch (JSON is a list of inputs)]
            [--version V] [--slo-micros N]
${kManageUsage}${kPipelineUsage}${kStatusUsage}            these take --admin-url URL (default http://127.0.0.1:1338),
            --query-url URL (default http://127.0.0.1:1337), and the management API's token:
            --admin-token T or --admin-token-file F (default $CLIPPER_ADMIN_TOKEN)
`;

async function registerApp(argv: string[]): Promise<void> {
  const { values, required, connection } = parse(argv, {
    name: { type: 'string' },
    'input-type': { type: 'string' },
    'default-output': { type: 'string' },
    'slo-micros': { type: 'string' },
    'selection-policy': { type: 'string' },
    'policy-params': { type: 'string' },
    pipeline: { type: 'string' },
  });
  const pipeline = typeof values.pipeline === 'string' ? readPipelineArg('--pipeline', values.pipeline) : null;
  if (typeof values.pipeline === 'string' && pipeline === null) {
    // null is set-pipeline's way back to a plain app; here it would register a plain app silently.
    throw new ClipperError('CLP_ERR_INVALID_ARG', '--pipeline must be a pipeline object, not null: leave --pipeline out for a plain app');
  }
  say(
    await connection.registerApplication({
      name: required('name'),
      inputType: required('input-type'),
      defaultOutput: stringValue(values['default-output']) ?? '-1.0',
      sloMicros: intValue('slo-micros', values['slo-micros'], 100_000),
      selectionPolicy: stringValue(values['selection-policy']),
      policyParams: policyParams(values['policy-params']),
      ...(pipeline === null ? {} : { pipeline }),
    }),
  );
}

function policyParams(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `--policy-params is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', '--policy-params must be a JSON object, e.g. \'{"eta":0.1}\'');
  }
  return parsed as Record<string, unknown>;
}

async function setPolicy(argv: string[]): Promise<void> {
  const { values, required, connection } = parse(argv, {
    app: { type: 'string' },
    'selection-policy': { type: 'string' },
    'policy-params': { type: 'string' },
  });
  say(await connection.setSelectionPolicy(required('app'), required('selection-policy'), policyParams(values['policy-params'])));
}

async function deploy(argv: string[]): Promise<void> {
  const { values, required, connection } = parse(argv, {
    name: { type: 'string' },
    version: { type: 'string' },
    'input-type': { type: 'string' },
    runtime: { type: 'string' },
    framework: { type: 'string' },
    entry: { type: 'string' },
    function: { type: 'string' },
    option: { type: 'string', multiple: true },
    replicas: { type: 'string' },
    'batch-size': { type: 'string' },
    label: { type: 'string', multiple: true },
    app: { type: 'string' },
    manager: { type: 'string' },
    image: { type: 'string' },
    folder: { type: 'string' },
    pkg: { type: 'string', multiple: true },
    cpus: { type: 'string' },
    'memory-mb': { type: 'string' },
  });
  const container = deploySpec(values, required);
  const name = required('name');
  const app = stringValue(values.app);
  // Refuse before deploying, so that a typo in --app leaves no unlinked model behind.
  if (app !== undefined && (await connection.getAppInfo(app)) === null) {
    throw new ClipperError('CLP_ERR_APP_NOT_FOUND', `--app: no application named '${app}' (clipper register-app first)`);
  }
  const replicas = values.replicas === undefined ? undefined : intValue('replicas', values.replicas, 1);
  say(
    await connection.deployModel({
      name,
      version: required('version'),
      inputType: required('input-type'),
      container,
      numReplicas: replicas,
      batchSize: intValue('batch-size', values['batch-size'], -1),
      labels: Array.isArray(values.label) ? values.label.map(String) : [],
    }),
  );
  if (app !== undefined) say(await connection.linkModelToApp(app, name));
}

const kManagers = ['local', 'docker', 'kubernetes'];

/** The container spec of `clipper deploy` (the server validates it again and names what is wrong). */
function deploySpec(values: Values, required: (name: string) => string): ContainerSpec {
  const container: ContainerSpec = {};
  const manager = stringValue(values.manager);
  if (manager !== undefined) {
    if (!kManagers.includes(manager))
      throw new ClipperError('CLP_ERR_INVALID_ARG', `--manager must be ${kManagers.join(', ')} (got ${manager})`);
    container.manager = manager as NonNullable<ContainerSpec['manager']>;
  }
  const image = stringValue(values.image);
  if (image !== undefined) {
    // An image runs in Docker unless --manager says otherwise (kubernetes).
    container.manager ??= 'docker';
    container.image = image;
  } else {
    Object.assign(container, runtimeSpec(values, required));
  }
  const fn = stringValue(values.function);
  if (fn !== undefined) container.function = fn;
  if (Array.isArray(values.option)) container.options = optionValues(values.option.map(String));
  if (Array.isArray(values.pkg)) container.pkgs_to_install = values.pkg.map(String);
  if (values.cpus !== undefined) {
    const cpus = Number(values.cpus);
    if (typeof values.cpus !== 'string' || values.cpus.trim() === '' || !Number.isFinite(cpus)) {
      throw new ClipperError('CLP_ERR_INVALID_ARG', `--cpus must be a number of cores (got ${String(values.cpus)})`);
    }
    container.cpus = cpus;
  }
  if (values['memory-mb'] !== undefined) container.memory_mb = intValue('memory-mb', values['memory-mb'], 0);
  return container;
}

function invalidFlag(message: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', message);
}

/** --framework and/or --runtime, and the entry file (absolute: the server may run elsewhere than here). */
function runtimeSpec(values: Values, required: (name: string) => string): ContainerSpec {
  const spec: ContainerSpec = {};
  const framework = stringValue(values.framework);
  const runtime = stringValue(values.runtime);
  if (framework === undefined && runtime === undefined) {
    throw invalidFlag(`--framework (${kFrameworks.join(', ')}) or --runtime (python, node) is required`);
  }
  // Checked here for messages that name the flags; the server checks the spec again.
  if (framework !== undefined) {
    if (!isFramework(framework)) throw invalidFlag(`--framework must be one of ${kFrameworks.join(', ')} (got "${framework}")`);
    spec.framework = framework;
  }
  if (runtime !== undefined) {
    if (runtime !== 'python' && runtime !== 'node') throw invalidFlag(`--runtime must be python or node (got ${runtime})`);
    const implied = spec.framework === undefined ? runtime : runtimeOfFramework(spec.framework);
    if (implied !== runtime) {
      throw invalidFlag(
        `--runtime ${runtime} cannot run --framework ${framework}, which runs in the ${implied} runtime: leave --runtime out`,
      );
    }
    // Sent only when given: the server derives it from the framework.
    spec.runtime = runtime;
  }
  // The server runs (or builds an image of) the file on this machine; an absolute path keeps it
  // independent of the server's working directory.
  const folder = stringValue(values.folder);
  if (folder !== undefined) spec.folder = path.resolve(folder);
  spec.entry = folder === undefined ? path.resolve(required('entry')) : required('entry');
  const file = folder === undefined ? spec.entry : path.resolve(spec.folder!, spec.entry);
  if (!existsSync(file)) throw new ClipperError('CLP_ERR_INVALID_ARG', `--entry ${file} does not exist`);
  if (spec.framework !== undefined) checkFrameworkEntry(spec.framework, spec.entry, '--entry');
  return spec;
}

/** `--option NAME=VALUE` (repeatable) → container.options; the server checks names and values. */
function optionValues(pairs: string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ClipperError('CLP_ERR_INVALID_ARG', `--option must be NAME=VALUE, e.g. --option threads=2 (got ${pair})`);
    options[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return options;
}

async function logs(argv: string[]): Promise<void> {
  const target = argv[0] !== undefined && !argv[0].startsWith('--') ? argv[0] : undefined;
  const { values, connection } = parse(target === undefined ? argv : argv.slice(1), { tail: { type: 'string' } });
  if (target === undefined) throw new ClipperError('CLP_ERR_INVALID_ARG', 'usage: clipper logs MODEL[:VERSION] [--tail N]');
  const colon = target.indexOf(':');
  const name = colon < 0 ? target : target.slice(0, colon);
  const version = colon < 0 ? undefined : target.slice(colon + 1);
  const replicas = await connection.getLogs(name, version, intValue('tail', values.tail, 100));
  for (const r of replicas) {
    const where = r.container_id === null ? '' : ` (container ${r.container_id.slice(0, 12)})`;
    say(`==> ${r.model_name}:${r.model_version} replica ${r.model_replica_id}${where} <==`);
    if (r.logs !== '') say(r.logs);
  }
}

async function link(argv: string[]): Promise<void> {
  const { required, connection } = parse(argv, { app: { type: 'string' }, model: { type: 'string' } });
  say(await connection.linkModelToApp(required('app'), required('model')));
}

async function predict(argv: string[]): Promise<void> {
  const { values, required, connection } = parse(argv, {
    app: { type: 'string' },
    input: { type: 'string' },
    batch: { type: 'boolean', default: false },
    version: { type: 'string' },
    'slo-micros': { type: 'string' },
  });
  const app = required('app');
  let input: unknown;
  try {
    input = JSON.parse(required('input'));
  } catch (err) {
    if (err instanceof ClipperError) throw err;
    throw new ClipperError('CLP_ERR_INVALID_ARG', `--input is not JSON: ${(err as Error).message}`);
  }
  const opts = {
    version: stringValue(values.version),
    sloMicros: values['slo-micros'] === undefined ? undefined : intValue('slo-micros', values['slo-micros'], 0),
  };
  if (values.batch === true) {
    if (!Array.isArray(input)) throw new ClipperError('CLP_ERR_INVALID_ARG', 'with --batch, --input must be a JSON list of inputs');
    say(JSON.stringify(await connection.predictBatch(app, input, opts)));
  } else {
    say(JSON.stringify(await connection.predict(app, input, opts)));
  }
}

/** A command resolves with its exit code, or with nothing for 0. */
const kCommands: Readonly<Record<string, (argv: string[]) => Promise<unknown>>> = {
  'register-app': registerApp,
  'add-app': registerApp,
  'set-policy': setPolicy,
  deploy,
  link,
  predict,
  logs,
  ...kManageCommands,
  ...kStatusCommands,
  ...kPipelineCommands,
};

export function isAdminCommand(command: string | undefined): boolean {
  return command !== undefined && Object.hasOwn(kCommands, command);
}

/** Runs one of the commands above; 0 on success, 1 (after printing why) on any failure. */
export async function runAdminCommand(command: string, argv: string[]): Promise<number> {
  try {
    const code = await kCommands[command]!(argv);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    if (err instanceof ClipperClientError) {
      const where = err.status === 0 ? '' : ` (HTTP ${err.status}${err.code === null ? '' : `, ${err.code}`})`;
      process.stderr.write(`clipper ${command}: failed${where}: ${err.cause}\n`);
    } else {
      process.stderr.write(`clipper ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    return 1;
  }
}
