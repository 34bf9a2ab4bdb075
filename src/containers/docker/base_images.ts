// The base images model images are built FROM, made locally (nothing is pulled):
//   node:   this machine's node binary, its shared libraries and /bin/sh, in an otherwise empty root;
//   python: a Debian bookworm minbase from mmdebstrap with python3, msgpack, numpy, scikit-learn and
//           cloudpickle (apt kept, so model builds can apt-get install more).
// Tags carry a hash of the recipe (`clipper-ts/node-base:<hash12>`): a changed recipe makes a new
// tag, and an existing tag is used as is.

import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { promises as fs, createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { ClipperError } from '../../errors.js';
import {
  assembleRootfs,
  closureOf,
  imageExists,
  importDirectory,
  importTar,
  kDefaultPath,
  kMinimalEtc,
  pipeLines,
  rootfsHash,
  type LogFn,
  type RootfsFile,
} from './rootfs.js';

export type ModelRuntime = 'node' | 'python';

/** Label on base images naming their runtime. */
export const kLabelBaseRuntime = 'ai.clipper.base';

const kPythonSuite = 'bookworm';
const kPythonPackages = ['python3', 'python3-msgpack', 'python3-numpy', 'python3-sklearn', 'python3-cloudpickle'];
const kRecipeVersion = '1';

const building = new Map<string, Promise<string>>();

/**
 * The tag of the local base image for `runtime`, building it first when the engine lacks it.
 * Concurrent calls for the same base share one build.
 */
export async function ensureBaseImage(docker: Docker, runtime: ModelRuntime, log: LogFn = () => {}): Promise<string> {
  const plan = runtime === 'node' ? await nodeBasePlan() : pythonBasePlan();
  const pending = building.get(plan.tag);
  if (pending !== undefined) return pending;
  const build = (async () => {
    if (await imageExists(docker, plan.tag)) return plan.tag;
    const startMs = Date.now();
    log(`building base image ${plan.tag}`);
    await plan.build(docker, log);
    log(`built base image ${plan.tag} in ${((Date.now() - startMs) / 1000).toFixed(1)} s`);
    return plan.tag;
  })();
  building.set(plan.tag, build);
  try {
    return await build;
  } finally {
    building.delete(plan.tag);
  }
}

interface BasePlan {
  tag: string;
  build: (docker: Docker, log: LogFn) => Promise<void>;
}

function importChanges(runtime: ModelRuntime, env: readonly string[]): string[] {
  return [`ENV PATH=${kDefaultPath}`, ...env.map((e) => `ENV ${e}`), 'WORKDIR /', `LABEL ${kLabelBaseRuntime}=${runtime}`];
}

async function nodeBasePlan(): Promise<BasePlan> {
  const files = await closureOf([
    { src: process.execPath, dest: '/usr/local/bin/node' },
    { src: '/bin/sh', dest: '/bin/sh' },
  ]);
  const hash = await rootfsHash([`node-base ${kRecipeVersion}`, process.version], files, kMinimalEtc);
  return { tag: `clipper-ts/node-base:${hash}`, build: (docker, log) => buildNodeBase(docker, `clipper-ts/node-base:${hash}`, files, log) };
}

async function buildNodeBase(docker: Docker, tag: string, files: RootfsFile[], log: LogFn): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clipper-node-base-'));
  try {
    await assembleRootfs(dir, files, kMinimalEtc, [
      { dest: '/tmp', mode: 0o1777 },
      { dest: '/root', mode: 0o700 },
    ]);
    log(`node base: ${files.length} files (node ${process.version}), importing`);
    await importDirectory(docker, dir, tag, importChanges('node', []), log);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function pythonBasePlan(): BasePlan {
  const recipe = `python-base ${kRecipeVersion} mmdebstrap minbase ${kPythonSuite} ${kPythonPackages.join(',')}`;
  const hash = createHash('sha256').update(recipe).digest('hex').slice(0, 12);
  const tag = `clipper-ts/python-base:${hash}`;
  return { tag, build: (docker, log) => buildPythonBase(docker, tag, log) };
}

async function buildPythonBase(docker: Docker, tag: string, log: LogFn): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clipper-python-base-'));
  const tarPath = path.join(dir, 'rootfs.tar');
  try {
    await runMmdebstrap(tarPath, log);
    log(`python base: importing ${((await fs.stat(tarPath)).size / 1e6).toFixed(0)} MB`);
    await importTar(
      docker,
      createReadStream(tarPath),
      tag,
      importChanges('python', ['LANG=C.UTF-8', 'PYTHONUNBUFFERED=1', 'DEBIAN_FRONTEND=noninteractive']),
      log,
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function runMmdebstrap(tarPath: string, log: LogFn): Promise<void> {
  const args = ['--variant=minbase', `--include=${kPythonPackages.join(',')}`, kPythonSuite, tarPath];
  log(`mmdebstrap ${args.join(' ')}`);
  const tail: string[] = [];
  const keep = (line: string): void => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    log(line);
  };
  return new Promise((resolve, reject) => {
    const child = spawn('mmdebstrap', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    pipeLines(child.stdout, keep);
    pipeLines(child.stderr, keep);
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new ClipperError(
              'CLP_ERR_IMAGE_BUILD_FAILED',
              'the Python base image needs mmdebstrap, which is not installed (install it with `apt-get install -y mmdebstrap`)',
            )
          : new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `mmdebstrap failed to start: ${err.message}`),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `mmdebstrap exited with ${code}:\n${tail.join('\n')}`));
    });
  });
}
