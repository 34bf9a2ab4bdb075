// The build context of a model image: the runner (compiled Node runner plus what it imports, or the
// Python package), the model file(s) and a Dockerfile, assembled in a temp dir.

import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { ClipperError } from '../../errors.js';
import { frameworkArgs, isFramework, kFrameworkRules, kFrameworks, runtimeOfFramework, type Framework } from '../../frameworks.js';
import { confineModelFiles, isInsideDir } from '../../model_dirs.js';
import { kRepoRoot } from '../../paths.js';
import { checkOptionsApply, checkRuntimeOption, kDebianPackagePattern, runtimeOptionArgs } from '../../runtime_options.js';
import type { ModelRuntime } from './base_images.js';

export const kContainerPort = 7000;
export const kAliveFile = '/tmp/clipper_alive';
const kHealthStamp = '/tmp/clipper_hc';
/** Runner flags the image sets itself (name, version, input type come from the environment). */
const kReservedFlags = new Set([
  'model',
  'function',
  'host',
  'port',
  'watch-stdin',
  'alive-file',
  'name',
  'version',
  'input-type',
  'framework',
]);

/** What a model image holds. */
export interface ModelContextSpec {
  /** Image tag `<model>:<version>`; names are [a-z0-9-], versions [A-Za-z0-9._-]. */
  model: string;
  version: string;
  runtime: ModelRuntime;
  /** The model's framework (src/frameworks.ts): the runner gets `--framework`, the image its Debian packages. */
  framework?: Framework;
  /** The model file (Node ES module, .py file or pickle): absolute, or relative to the repo root (or to `folder`). */
  entry: string;
  /** A folder copied whole to /model; `entry` is then relative to it (or an absolute path inside it). */
  folder?: string;
  /** Default 'predict'. */
  function?: string;
  /** Baked as ENV CLIPPER_INPUT_TYPE (the manager may override it at run time). */
  inputType?: string;
  /** Extra runner flags, `--key value`. */
  options?: Record<string, string | number | boolean>;
  /** Debian packages apt-get installs at build time (Python models only; Clipper's pkgs_to_install). */
  pkgsToInstall?: string[];
  /** When set (a cluster building for a deploy), `folder` and `entry` must lie inside these (src/model_dirs.ts). */
  modelDirs?: readonly string[];
}

function invalid(message: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', message);
}

/** Rejects names, versions, flags and package names that cannot go into a tag or a Dockerfile. */
export function validateContextSpec(spec: ModelContextSpec): void {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(spec.model)) throw invalid(`model name '${spec.model}' must match [a-z0-9-]+`);
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(spec.version))
    throw invalid(`model version '${spec.version}' must match [A-Za-z0-9._-]+`);
  if (spec.runtime !== 'node' && spec.runtime !== 'python')
    throw invalid(`runtime must be 'node' or 'python' (got '${String(spec.runtime)}')`);
  if (spec.framework !== undefined) {
    if (!isFramework(spec.framework)) throw invalid(`framework must be one of ${kFrameworks.join(', ')} (got '${String(spec.framework)}')`);
    const runtime = runtimeOfFramework(spec.framework);
    if (runtime !== spec.runtime) throw invalid(`framework '${spec.framework}' runs in the ${runtime} runtime, not ${spec.runtime}`);
  }
  if (spec.function !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(spec.function))
    throw invalid(`function '${spec.function}' is not an identifier`);
  if (spec.inputType !== undefined && !/^[a-z]+$/.test(spec.inputType)) throw invalid(`input type '${spec.inputType}' is not valid`);
  for (const [key, value] of Object.entries(spec.options ?? {})) {
    if (kReservedFlags.has(key)) throw invalid(`option '${key}' is set by the image itself`);
    checkRuntimeOption(key, value);
  }
  checkOptionsApply(spec.options, spec.framework);
  const pkgs = spec.pkgsToInstall ?? [];
  if (pkgs.length > 0 && spec.runtime !== 'python') {
    throw invalid('pkgsToInstall (Debian packages installed with apt-get) is for Python models only');
  }
  for (const pkg of pkgs) {
    if (typeof pkg !== 'string' || !kDebianPackagePattern.test(pkg)) throw invalid(`'${pkg}' is not a valid Debian package name`);
  }
}

/** The model's files: the folder copied whole, or the entry file alone; entry relative to /model. */
export async function resolveModelFiles(spec: ModelContextSpec): Promise<{ source: string; isFolder: boolean; entryInModel: string }> {
  if (spec.modelDirs !== undefined) await confineModelFiles(spec, spec.modelDirs);
  if (spec.folder === undefined) {
    const file = path.resolve(kRepoRoot, spec.entry);
    if (!(await isFile(file))) throw invalid(`model entry file not found: ${file}`);
    return { source: file, isFolder: false, entryInModel: path.basename(file) };
  }
  const folder = path.resolve(kRepoRoot, spec.folder);
  if (!(await fs.stat(folder).catch(() => null))?.isDirectory()) throw invalid(`model folder not found: ${folder}`);
  const file = path.resolve(folder, spec.entry);
  const inside = path.relative(folder, file);
  if (inside.startsWith('..') || path.isAbsolute(inside)) throw invalid(`model entry ${file} is not inside the model folder ${folder}`);
  if (!(await isFile(file))) throw invalid(`model entry file not found: ${file}`);
  return { source: folder, isFolder: true, entryInModel: inside.split(path.sep).join('/') };
}

async function isFile(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => null))?.isFile() ?? false;
}

/** Writes Dockerfile, clipper/ (→ /opt/clipper) and model/ (→ /model) under `dir`. */
export async function assembleContext(dir: string, spec: ModelContextSpec, baseTag: string, labels: Record<string, string>): Promise<void> {
  const files = await resolveModelFiles(spec);
  const modelDir = path.join(dir, 'model');
  if (files.isFolder) {
    // A symlink in the folder that leads out of it is not followed into the image.
    const folderReal = await fs.realpath(files.source);
    const within = async (src: string): Promise<boolean> => isInsideDir(await fs.realpath(src).catch(() => ''), folderReal);
    await fs.cp(files.source, modelDir, { recursive: true, dereference: true, filter: within });
  } else {
    await fs.mkdir(modelDir);
    await fs.copyFile(files.source, path.join(modelDir, files.entryInModel));
    // A lone .js module is an ES module (README: "A Node model is an ES module").
    if (spec.runtime === 'node') await fs.writeFile(path.join(modelDir, 'package.json'), '{"type":"module"}\n');
  }
  const clipperDir = path.join(dir, 'clipper');
  if (spec.runtime === 'node') await copyNodeRunner(clipperDir);
  else await copyPythonRunner(clipperDir);
  await fs.writeFile(path.join(dir, 'Dockerfile'), renderDockerfile(spec, baseTag, files.entryInModel, labels));
}

/** The compiled runner, the dist modules it imports (transitively) and the npm packages they name. */
async function copyNodeRunner(dest: string): Promise<void> {
  const dist = path.join(kRepoRoot, 'dist');
  const roots = ['containers/node/runner.js', 'containers/node/model_host.js'].map((f) => path.join(dist, f));
  for (const root of roots) {
    if (!existsSync(root)) throw new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `${root} is missing: run \`npm run build\` first`);
  }
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await fs.readFile(file, 'utf8');
    for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
      const spec = match[1]!;
      if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(packageNameOf(spec));
    }
  }
  for (const file of seen) {
    const target = path.join(dest, 'dist', path.relative(dist, file));
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(file, target);
  }
  await copyPackages([...packages], dest);
  await fs.writeFile(path.join(dest, 'package.json'), '{"name":"clipper-ts-runner","private":true,"type":"module"}\n');
}

function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Copies npm packages (and their dependencies) from the repo's node_modules. */
async function copyPackages(names: string[], dest: string): Promise<void> {
  const done = new Set<string>();
  while (names.length > 0) {
    const name = names.pop()!;
    if (done.has(name)) continue;
    done.add(name);
    const source = path.join(kRepoRoot, 'node_modules', name);
    if (!existsSync(source))
      throw new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `the runner needs npm package ${name}, missing from ${source}`);
    await fs.cp(source, path.join(dest, 'node_modules', name), { recursive: true, dereference: true });
    const manifest = JSON.parse(await fs.readFile(path.join(source, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    names.push(...Object.keys(manifest.dependencies ?? {}));
  }
}

async function copyPythonRunner(dest: string): Promise<void> {
  const source = path.join(kRepoRoot, 'containers', 'python', 'clipper_container');
  await fs.cp(source, path.join(dest, 'clipper_container'), {
    recursive: true,
    filter: (src) => !src.includes('__pycache__') && !src.endsWith('.pyc'),
  });
}

/** The runner command line, exec form. */
export function commandOf(spec: ModelContextSpec, entryInModel: string): string[] {
  const runner =
    spec.runtime === 'node'
      ? ['/usr/local/bin/node', '/opt/clipper/dist/containers/node/runner.js']
      : ['/usr/bin/python3', '/opt/clipper/clipper_container/runner.py'];
  // With a framework the runner's own default applies when the spec names no function (onnx: its first output).
  const fn = spec.function ?? (spec.framework === undefined ? 'predict' : undefined);
  const flags = [
    '--model',
    `/model/${entryInModel}`,
    ...(fn === undefined ? [] : ['--function', fn]),
    '--host',
    '0.0.0.0',
    '--port',
    String(kContainerPort),
    '--watch-stdin',
    'no',
    '--alive-file',
    kAliveFile,
  ];
  flags.push(...frameworkArgs(spec.framework), ...runtimeOptionArgs(spec.options));
  return [...runner, ...flags];
}

/**
 * Healthy while the runner's loop touches the alive file (every second): it must be newer than the
 * stamp the previous check left. The first check has no stamp (dash's -nt is false then), and passes
 * once the file exists.
 */
export const kHealthcheck =
  'HEALTHCHECK --interval=5s --timeout=2s --start-period=30s --retries=3 ' +
  `CMD ${JSON.stringify([
    '/bin/sh',
    '-c',
    `if [ -e ${kHealthStamp} ]; then [ ${kAliveFile} -nt ${kHealthStamp} ]; else [ -e ${kAliveFile} ]; fi; r=$?; : > ${kHealthStamp}; exit $r`,
  ])}`;

export function renderDockerfile(spec: ModelContextSpec, baseTag: string, entryInModel: string, labels: Record<string, string>): string {
  const lines = [`FROM ${baseTag}`];
  // A framework's own packages (python3-torch, python3-xgboost) come with it, before the spec's.
  const own = spec.framework === undefined ? [] : kFrameworkRules[spec.framework].debianPackages;
  const pkgs = [...new Set([...own, ...(spec.pkgsToInstall ?? [])])];
  // Checked here too: these words go into a shell command (the RUN line).
  for (const pkg of pkgs) if (!kDebianPackagePattern.test(pkg)) throw invalid(`'${pkg}' is not a valid Debian package name`);
  if (pkgs.length > 0) {
    lines.push(
      `RUN apt-get update && apt-get install -y --no-install-recommends ${pkgs.join(' ')}` +
        ' && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin',
    );
  }
  lines.push(`COPY clipper/ /opt/clipper/`, `COPY model/ /model/`);
  const env = [`CLIPPER_MODEL_NAME=${spec.model}`, `CLIPPER_MODEL_VERSION=${spec.version}`];
  if (spec.inputType !== undefined) env.push(`CLIPPER_INPUT_TYPE=${spec.inputType}`);
  if (spec.runtime === 'python') env.push('PYTHONUNBUFFERED=1');
  lines.push(`ENV ${env.join(' ')}`, 'WORKDIR /model', `EXPOSE ${kContainerPort}`, 'STOPSIGNAL SIGTERM', kHealthcheck);
  lines.push(
    `LABEL ${Object.entries(labels)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ')}`,
  );
  lines.push(`CMD ${JSON.stringify(commandOf(spec, entryInModel))}`);
  return `${lines.join('\n')}\n`;
}
