// POST /admin/upload_model: a client on another machine hands the server a model file (a pickled
// closure or estimator, a .py module, a data file next to them) as base64 in a JSON body. The server
// stores it in a directory of its own, <models dir>/<model>/<version>/upload-<id>/<file_name>
// (upload_store.ts: created exclusively, the file published without replacing anything), and answers
// {"path": <absolute path on the server>, "bytes"}, which the client then names as the `entry` of an
// add_model container spec: the upload becomes the model's only when add_model accepts it. Further
// files of the same model folder name the first one's `upload_id` (the directory's name). A client
// whose add_model was refused removes its upload with POST /admin/discard_upload. The server's body
// limit bounds the file's size.

import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ClipperError } from '../errors.js';
import { isInsideDir, uploadsDirDefault, uploadsDirOf } from '../model_dirs.js';
import { kRepoRoot } from '../paths.js';
import { modelKey } from '../state/records.js';
import { jsonReply } from '../http/reply.js';
import type { AdminCore, AdminReply, AdminRoute } from './admin_core.js';
import { checkName, checkVersion, type BodyReader } from './admin_validate.js';
import { discardUpload, kNodeUploadFs, storeUpload, uploadDirOf } from './upload_store.js';

/** A plain base name: no path separators, no leading '.', so never '.', '..' or a hidden file. */
const kFileNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
/** Standard base64 (RFC 4648 §4) with its padding; no whitespace, no URL-safe alphabet. */
const kBase64Pattern = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Where uploaded model files live by default: $CLIPPER_MODELS_DIR, else ~/.clipper/models (as clipper_client.py). */
export const defaultModelsDir = uploadsDirDefault;

function invalid(message: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', message);
}

export function checkFileName(value: string): string {
  if (!kFileNamePattern.test(value)) {
    throw invalid(
      `Invalid file_name supplied: ${JSON.stringify(value)}. It must be a plain file name (no directories) of ` +
        "1 to 255 letters, digits, '.', '_' or '-', starting with a letter or digit, such as \"func.pkl\"",
    );
  }
  return value;
}

export function decodeBase64Data(value: string): Buffer {
  if (value.length === 0) throw invalid("data is empty: give the file's bytes, base64-encoded");
  if (value.length % 4 !== 0 || !kBase64Pattern.test(value)) {
    throw invalid(
      `data is not valid base64 (standard alphabet A-Z a-z 0-9 + /, '=' padding to a multiple of 4 ` +
        `characters, no whitespace); got ${value.length} characters`,
    );
  }
  return Buffer.from(value, 'base64');
}

function registeredConflict(name: string, version: string): ClipperError {
  return new ClipperError(
    'CLP_ERR_CONFLICT',
    `model with name '${name}' and version '${version}' is already registered; ` +
      'its files cannot be replaced. Upload them under a new version, or delete this version first',
  );
}

function versionDirOf(core: AdminCore, name: string, version: string): string {
  return path.join(core.ctx.modelsDir ?? uploadsDirOf(core.ctx.modelDirs), name, version);
}

async function uploadModel(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = checkName('model name', body.string('model_name'));
  const version = checkVersion('model version', body.string('model_version'));
  const fileName = checkFileName(body.string('file_name'));
  const uploadId = body.has('upload_id') ? body.string('upload_id') : undefined;
  const bytes = decodeBase64Data(body.string('data'));
  // A registered version's replicas load its files (again on every restart or resize): its files
  // never change. A new upload lands in a new directory anyway, so one racing a registration (or a
  // second upload of the same version) can never replace the files the registered model reads.
  if (core.ctx.snapshot().models.has(modelKey(name, version))) throw registeredConflict(name, version);
  const target = { versionDir: versionDirOf(core, name, version), fileName, ...(uploadId === undefined ? {} : { uploadId }) };
  const file = await storeUpload(kNodeUploadFs, target, bytes);
  return jsonReply({ path: file, bytes: bytes.length });
}

/** A path as the container managers resolve it (relative to the package root), symlinks resolved where it exists. */
function realOf(p: string): string {
  const resolved = path.resolve(kRepoRoot, p);
  try {
    return realpathSync(resolved);
  } catch {
    return resolved;
  }
}

/** True when a registered model's entry, folder or data path lies inside `dir` (compared as real paths). */
function referenced(core: AdminCore, dir: string): boolean {
  const realDir = realOf(dir);
  const inside = (p: string | undefined): boolean => p !== undefined && p !== '' && isInsideDir(realOf(p), realDir);
  for (const model of core.ctx.snapshot().models.values()) {
    const c = model.container;
    if (inside(model.model_data_path) || inside(c?.folder) || inside(c?.entry)) return true;
  }
  return false;
}

async function discardUploadRoute(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = checkName('model name', body.string('model_name'));
  const version = checkVersion('model version', body.string('model_version'));
  const file = body.string('path');
  const dir = uploadDirOf(versionDirOf(core, name, version), file);
  // Serialised with add_model's check-then-write steps: a directory is never removed between a
  // registration's check and its write.
  const removed = await core.exclusive(async () => {
    if (referenced(core, dir)) {
      throw new ClipperError('CLP_ERR_CONFLICT', `${dir} holds the files of a registered model: it is not removed`);
    }
    return discardUpload(kNodeUploadFs, dir);
  });
  return jsonReply({ removed: removed ? dir : null });
}

export const kUploadRoutes: Readonly<Record<string, AdminRoute>> = {
  upload_model: {
    mutates: false,
    run: uploadModel,
    schema:
      '{"model_name" := string, "model_version" := string, "file_name" := string, "data" := string (base64), ' +
      '"upload_id" := string (optional: add the file to that earlier upload)}',
  },
  discard_upload: {
    mutates: false,
    run: discardUploadRoute,
    schema: '{"model_name" := string, "model_version" := string, "path" := string (a path upload_model answered)}',
  },
};
