// Model directories: the files a replica loads and runs (a container spec's `entry` and `folder`)
// must lie inside one of the configured directories (config.modelDirs), checked after resolving
// symlinks on both sides, with a prefix test that respects path separators (/models-evil is not
// inside /models). The admin API checks a spec before it is stored; the Docker manager checks again
// before copying files into an image. docs/reliability.md, "Model directories and runtime options".

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClipperError } from './errors.js';
import { kRepoRoot } from './paths.js';

/** The upload dir: $CLIPPER_MODELS_DIR, else ~/.clipper/models (as admin_uploads.ts and clipper_client.py). */
export function uploadsDirDefault(): string {
  const fromEnv = process.env.CLIPPER_MODELS_DIR;
  return path.resolve(fromEnv !== undefined && fromEnv !== '' ? fromEnv : path.join(os.homedir(), '.clipper', 'models'));
}

/**
 * Where POST /admin/upload_model stores files: the upload dir when it lies in a model directory (the
 * default), else the first model directory (so that, with --model-dirs /srv/models, an uploaded
 * model lies where add_model accepts it).
 */
export function uploadsDirOf(modelDirs: readonly string[] | undefined): string {
  const uploads = uploadsDirDefault();
  const first = modelDirs?.[0];
  if (first === undefined || modelDirs!.some((dir) => isInsideDir(uploads, path.resolve(dir)))) return uploads;
  return path.resolve(first);
}

/** The default of config.modelDirs: the upload dir and the example models this package ships. */
export function defaultModelDirs(): string[] {
  return [
    uploadsDirDefault(),
    path.join(kRepoRoot, 'containers', 'node', 'examples'),
    path.join(kRepoRoot, 'containers', 'python', 'examples'),
  ];
}

/** Splits a list given as text (a flag, an environment variable): on ',' and the path delimiter. */
export function splitDirList(text: string): string[] {
  return text
    .split(/[,]/)
    .flatMap((part) => part.split(path.delimiter))
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/** `child` (a resolved path) is `dir` itself or below it: a separator-aware prefix test. */
export function isInsideDir(child: string, dir: string): boolean {
  if (child === dir) return true;
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  return child.startsWith(prefix);
}

function refuse(field: string, given: string, detail: string, dirs: readonly string[]): never {
  throw new ClipperError(
    'CLP_ERR_INVALID_ARG',
    `container.${field} ${JSON.stringify(given)} ${detail}. Model files must lie inside a model directory ` +
      `(${dirs.join(', ')}); change them with the modelDirs option (--model-dirs, CLIPPER_MODEL_DIRS)`,
    { field, allowed: [...dirs] },
  );
}

async function realDirs(dirs: readonly string[]): Promise<string[]> {
  // A directory that does not exist (yet) holds nothing: its resolved path is compared as is.
  return Promise.all(dirs.map((dir) => fs.realpath(dir).catch(() => path.resolve(dir))));
}

/**
 * The real path of a model file or folder that lies inside one of `dirs` (after symlinks), or a
 * 400 naming the path, the directories and the option. Relative paths are relative to `base` (the
 * package root, as the container managers resolve them).
 */
export async function confineModelPath(
  field: string,
  given: string,
  dirs: readonly string[],
  kind: 'file' | 'directory',
  base = kRepoRoot,
): Promise<string> {
  const resolved = path.resolve(base, given);
  let real: string;
  try {
    real = await fs.realpath(resolved);
  } catch {
    refuse(field, given, `does not exist (resolved to ${resolved})`, dirs);
  }
  const inside = (await realDirs(dirs)).some((dir) => isInsideDir(real, dir));
  if (!inside) refuse(field, given, `is not inside a model directory (resolved to ${real})`, dirs);
  const stat = await fs.stat(real);
  if (kind === 'file' ? !stat.isFile() : !stat.isDirectory()) refuse(field, given, `is not a ${kind} (resolved to ${real})`, dirs);
  return real;
}

/** What of a container spec names files on this machine. */
export interface ModelFilesSpec {
  entry?: string | undefined;
  folder?: string | undefined;
  image?: string | undefined;
}

/**
 * Checks every file a container spec names: `folder` (Docker: copied whole) and `entry` (relative
 * to the folder when there is one, and then inside it too). A spec that runs a given image names none.
 */
export async function confineModelFiles(spec: ModelFilesSpec, dirs: readonly string[]): Promise<void> {
  if (spec.folder !== undefined) {
    const folder = await confineModelPath('folder', spec.folder, dirs, 'directory');
    if (spec.entry !== undefined) await confineModelPath('entry', spec.entry, [folder], 'file', folder);
    return;
  }
  if (spec.entry !== undefined && spec.image === undefined) await confineModelPath('entry', spec.entry, dirs, 'file');
}
