// `clipper build`: turns a model (a Node module, a Python file or pickle, or a folder) into a Docker
// image `<model>:<version>` with the runner inside, on a base image built from this machine's own
// files (src/containers/docker/base_images.ts); with --registry, also tags and pushes it there.
// It needs a Docker engine, not a running cluster.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { connectDocker, dockerHostOf } from '../containers/docker/engine.js';
import { buildModelImage, pushImage } from '../containers/docker/images.js';
import { ClipperError } from '../errors.js';
import { isFramework, kFrameworks, runtimeOfFramework } from '../frameworks.js';

export const kBuildUsage = `  build     build a model's Docker image <model>:<version> from local files (no registry pulls)
            --name M --version V --runtime node|python --entry FILE [--folder DIR (copied whole;
            --entry is inside it)] [--function F] [--input-type T] [--pkg DEBIAN_PACKAGE ...]
            [--framework F (pytorch, xgboost, onnx, ...: the runner loads the file with it, the image
            gets its packages; it implies --runtime)]
            [--registry HOST:PORT (also tag and push there)] [--docker-host URL]
`;

export async function runBuild(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      name: { type: 'string' },
      version: { type: 'string' },
      runtime: { type: 'string' },
      entry: { type: 'string' },
      folder: { type: 'string' },
      function: { type: 'string' },
      'input-type': { type: 'string' },
      pkg: { type: 'string', multiple: true },
      framework: { type: 'string' },
      registry: { type: 'string' },
      'docker-host': { type: 'string' },
    },
  });
  const required = (key: 'name' | 'version' | 'runtime' | 'entry'): string => {
    const value = values[key];
    if (value === undefined || value === '') throw new ClipperError('CLP_ERR_INVALID_ARG', `--${key} is required`);
    return value;
  };
  const framework = values.framework;
  if (framework !== undefined && !isFramework(framework)) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `--framework must be one of ${kFrameworks.join(', ')} (got ${framework})`);
  }
  const runtime = values.runtime === undefined && framework !== undefined ? runtimeOfFramework(framework) : required('runtime');
  if (runtime !== 'node' && runtime !== 'python')
    throw new ClipperError('CLP_ERR_INVALID_ARG', `--runtime must be node or python (got ${runtime})`);
  const docker = await connectDocker(dockerHostOf(values['docker-host'] ?? ''));
  const folder = values.folder === undefined ? undefined : path.resolve(values.folder);
  const entry = folder === undefined ? path.resolve(required('entry')) : required('entry');
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const { tag } = await buildModelImage(
    docker,
    {
      model: required('name'),
      version: required('version'),
      runtime,
      entry,
      ...(folder !== undefined ? { folder } : {}),
      ...(values.function !== undefined ? { function: values.function } : {}),
      ...(values['input-type'] !== undefined ? { inputType: values['input-type'] } : {}),
      ...(values.pkg !== undefined ? { pkgsToInstall: values.pkg } : {}),
      ...(framework !== undefined ? { framework } : {}),
    },
    log,
  );
  let pushed: string | null = null;
  if (values.registry !== undefined) pushed = await pushImage(docker, tag, values.registry, log);
  process.stdout.write(`${pushed ?? tag}\n`);
  return 0;
}
