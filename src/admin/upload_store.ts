// Where POST /admin/upload_model puts a file, and what a failed write leaves behind: nothing.
// Every upload gets a directory of its own, <models dir>/<model>/<version>/<upload id>/, created
// exclusively (so no two uploads ever share one, and none lands in a directory a registered model
// reads), unless it names the upload id of an earlier upload to add a file next to it (a model
// folder of several files). A file is written under a temporary name, flushed, and published with
// link(), which never replaces an existing file. On any failure the temporary file, and a directory
// this upload created, are removed; ENOSPC/EDQUOT and EROFS/EACCES/EPERM become coded errors that
// name the directory, the cause and what to do. The file system is a port, so tests inject faults.

import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ClipperError } from '../errors.js';

/** The file-system calls an upload makes (node:fs/promises in production, a faulty fake in tests). */
export interface UploadFs {
  /** mkdir; with recursive, no error when it exists. */
  mkdir(dir: string, recursive: boolean): Promise<void>;
  /** Create `file` exclusively (EEXIST if present), write `bytes`, fsync, close. */
  writeNew(file: string, bytes: Uint8Array): Promise<void>;
  /** A second name for `existing` (EEXIST if `newPath` exists): publishes without replacing. */
  link(existing: string, newPath: string): Promise<void>;
  /** Remove a file or a tree; no error when absent. */
  remove(target: string): Promise<void>;
  isDirectory(target: string): Promise<boolean>;
  /** A fresh random suffix for upload ids and temporary names. */
  randomHex(): string;
}

async function writeNew(file: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(file, 'wx', 0o644);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export const kNodeUploadFs: UploadFs = {
  mkdir: async (dir, recursive) => {
    await mkdir(dir, { recursive, mode: 0o755 });
  },
  writeNew,
  link: (existing, newPath) => link(existing, newPath),
  remove: (target) => rm(target, { recursive: true, force: true }),
  isDirectory: async (target) => {
    try {
      return (await stat(target)).isDirectory();
    } catch {
      return false;
    }
  },
  randomHex: () => randomBytes(8).toString('hex'),
};

/** An upload id: the name of the directory an upload created (returned inside its path). */
export const kUploadIdPattern = /^upload-[0-9a-f]{16}$/;

export interface UploadTarget {
  /** <models dir>/<model>/<version>: the parent of every upload directory of this version. */
  versionDir: string;
  fileName: string;
  /** Add the file to this earlier upload's directory; absent: a new directory. */
  uploadId?: string;
}

const kFullCodes = new Set(['ENOSPC', 'EDQUOT']);
const kUnwritableCodes = new Set(['EROFS', 'EACCES', 'EPERM']);

function errnoOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** A failed file-system call as the coded error a client can act on. */
export function storageError(err: unknown, dir: string, what: string): ClipperError {
  const errno = errnoOf(err);
  const cause = err instanceof Error ? err.message : String(err);
  const details = { directory: dir, errno };
  if (kFullCodes.has(errno)) {
    return new ClipperError(
      'CLP_ERR_STORAGE_FULL',
      `could not store ${what} under ${dir}: the file system is full (${errno}: ${cause}). Nothing was kept. ` +
        'Free space or raise the quota on that file system (or point $CLIPPER_MODELS_DIR elsewhere), then upload again',
      details,
      { cause: err },
    );
  }
  if (kUnwritableCodes.has(errno)) {
    return new ClipperError(
      'CLP_ERR_STORAGE_UNWRITABLE',
      `could not store ${what} under ${dir}: the directory is not writable (${errno}: ${cause}). Nothing was kept. ` +
        'Remount that file system read-write or fix its permissions (or point $CLIPPER_MODELS_DIR elsewhere), then upload again',
      details,
      { cause: err },
    );
  }
  return new ClipperError('CLP_ERR_INTERNAL', `could not store ${what} under ${dir}: ${cause}`, details, { cause: err });
}

/** Create a new, empty upload directory under `versionDir`; never one that exists. */
async function createUploadDir(fs: UploadFs, versionDir: string): Promise<string> {
  await fs.mkdir(versionDir, true);
  for (let attempt = 0; ; attempt++) {
    const dir = path.join(versionDir, `upload-${fs.randomHex()}`);
    try {
      await fs.mkdir(dir, false);
      return dir;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST' || attempt >= 8) throw err;
    }
  }
}

async function existingUploadDir(fs: UploadFs, versionDir: string, uploadId: string): Promise<string> {
  const dir = path.join(versionDir, uploadId);
  if (!kUploadIdPattern.test(uploadId) || !(await fs.isDirectory(dir))) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `upload_id ${JSON.stringify(uploadId)} names no earlier upload of this model version (under ${versionDir}): ` +
        'give the id from the path an upload_model of the same model name and version answered, or leave it out',
    );
  }
  return dir;
}

/** Write `bytes` as dir/fileName without ever replacing a file; on failure nothing new remains. */
async function publish(fs: UploadFs, dir: string, fileName: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, fileName);
  const tmp = path.join(dir, `.${fileName}.${fs.randomHex()}.upload`);
  try {
    await fs.writeNew(tmp, bytes);
    await fs.link(tmp, file);
  } catch (err) {
    await fs.remove(tmp).catch(() => undefined);
    if (errnoOf(err) === 'EEXIST' && (await fs.isDirectory(dir))) {
      throw new ClipperError(
        'CLP_ERR_CONFLICT',
        `${fileName} was already uploaded to ${dir}; files are never replaced. Upload it under a new upload (no upload_id)`,
      );
    }
    throw err;
  }
  await fs.remove(tmp);
  return file;
}

/** Store one uploaded file; returns its absolute path. Throws a coded ClipperError. */
export async function storeUpload(fs: UploadFs, target: UploadTarget, bytes: Uint8Array): Promise<string> {
  const what = target.fileName;
  let createdDir: string | undefined;
  let where = target.versionDir;
  try {
    if (target.uploadId === undefined) {
      createdDir = await createUploadDir(fs, target.versionDir);
      where = createdDir;
    } else {
      where = await existingUploadDir(fs, target.versionDir, target.uploadId);
    }
    return await publish(fs, where, target.fileName, bytes);
  } catch (err) {
    if (createdDir !== undefined) await fs.remove(createdDir).catch(() => undefined);
    if (err instanceof ClipperError) throw err;
    throw storageError(err, where, what);
  }
}

/** The upload directory <versionDir>/<upload id> that `file` lies in; a 400 when it lies in none. */
export function uploadDirOf(versionDir: string, file: string): string {
  const relative = path.relative(versionDir, path.resolve(file));
  const uploadId = relative.split(path.sep)[0] ?? '';
  if (relative.startsWith('..') || path.isAbsolute(relative) || !kUploadIdPattern.test(uploadId)) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `path ${JSON.stringify(file)} is not inside an upload directory of this model version (${versionDir}/upload-<id>/)`,
    );
  }
  return path.join(versionDir, uploadId);
}

/** Remove an upload directory a refused deploy left behind; false when it was already gone. */
export async function discardUpload(fs: UploadFs, dir: string): Promise<boolean> {
  if (!(await fs.isDirectory(dir))) return false;
  try {
    await fs.remove(dir);
  } catch (err) {
    throw storageError(err, dir, 'the removal');
  }
  return true;
}
