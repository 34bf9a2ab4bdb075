// POST /admin/upload_model: a client on another machine hands the server a model file (a pickled
// closure or estimator, a .py module, a data file next to them) as base64 in a JSON body. The server
// stores it under <models dir>/<model>/<version>/<file_name> (atomically: a temporary file renamed
// into place) and answers {"path": <absolute path on the server>}, which the client then names as
// the `entry` of an add_model container spec. The server's body limit bounds the file's size.

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ClipperError } from '../errors.js';
import { modelKey } from '../state/records.js';
import { jsonReply } from '../http/reply.js';
import type { AdminCore, AdminReply, AdminRoute } from './admin_core.js';
import { checkName, checkVersion, type BodyReader } from './admin_validate.js';

/** A plain base name: no path separators, no leading '.', so never '.', '..' or a hidden file. */
const kFileNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
/** Standard base64 (RFC 4648 §4) with its padding; no whitespace, no URL-safe alphabet. */
const kBase64Pattern = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Where uploaded model files live: $CLIPPER_MODELS_DIR, else ~/.clipper/models (as clipper_client.py). */
export function defaultModelsDir(): string {
  const fromEnv = process.env.CLIPPER_MODELS_DIR;
  return path.resolve(fromEnv !== undefined && fromEnv !== '' ? fromEnv : path.join(os.homedir(), '.clipper', 'models'));
}

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

async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.upload`);
  const handle = await open(tmp, 'wx', 0o644);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function uploadModel(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = checkName('model name', body.string('model_name'));
  const version = checkVersion('model version', body.string('model_version'));
  const fileName = checkFileName(body.string('file_name'));
  const bytes = decodeBase64Data(body.string('data'));
  // A registered version's replicas load these files (again on every restart or resize): replacing
  // them would make its replicas disagree. Upload under a new version instead.
  if (core.ctx.snapshot().models.has(modelKey(name, version))) {
    throw new ClipperError(
      'CLP_ERR_CONFLICT',
      `model with name '${name}' and version '${version}' is already registered; ` +
        'its files cannot be replaced. Upload them under a new version, or delete this version first',
    );
  }
  const dir = path.join(core.ctx.modelsDir ?? defaultModelsDir(), name, version);
  const file = path.join(dir, fileName);
  try {
    await mkdir(dir, { recursive: true });
    await writeAtomically(file, bytes);
  } catch (err) {
    throw new ClipperError(
      'CLP_ERR_INTERNAL',
      `could not store ${fileName} for model ${modelKey(name, version)} under ${dir}: ${err instanceof Error ? err.message : String(err)}`,
      undefined,
      { cause: err },
    );
  }
  return jsonReply({ path: file, bytes: bytes.length });
}

export const kUploadRoutes: Readonly<Record<string, AdminRoute>> = {
  upload_model: {
    mutates: false,
    run: uploadModel,
    schema: '{"model_name" := string, "model_version" := string, "file_name" := string, "data" := string (base64)}',
  },
};
