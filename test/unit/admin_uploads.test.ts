// POST /admin/upload_model and /admin/discard_upload through AdminService: each upload lands in a
// new directory of its own, <models dir>/<name>/<version>/upload-<id>/, never over another file,
// with no temporary file left; every bad input is a JSON 400 that names the field.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { AdminService } from '../../src/admin/admin_service.js';
import { defaultModelsDir } from '../../src/admin/admin_uploads.js';
import { FakeAdminContext } from '../helpers/fake_admin_context.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'clipper-uploads-'));
after(() => rmSync(root, { recursive: true, force: true }));

let modelsDir = '';
let service: AdminService;
let caseNo = 0;

beforeEach(async () => {
  modelsDir = path.join(root, `models-${caseNo++}`);
  const ctx = await FakeAdminContext.create();
  Object.assign(ctx, { modelsDir, modelDirs: [root] });
  service = new AdminService(ctx);
});

const kBytes = Buffer.from([0x80, 0x05, 0x00, 0xff, 0x10, 0x41]);
const kUpload = { model_name: 'sum', model_version: '1', file_name: 'func.pkl', data: kBytes.toString('base64') };

const kModel = {
  model_name: 'sum',
  model_version: '1',
  labels: [],
  input_type: 'doubles',
  container_name: 'x',
  model_data_path: 'DEPRECATED',
  batch_size: -1,
};

function fails(body: unknown, status: number, code: string): Promise<string> {
  return failsOn('upload_model', body, status, code);
}

async function failsOn(route: string, body: unknown, status: number, code: string): Promise<string> {
  const reply = await service.handle(route, body);
  assert.equal(reply.contentType, 'application/json');
  const parsed = JSON.parse(reply.body) as { cause: string; code: string };
  assert.equal(reply.status, status, reply.body);
  assert.equal(parsed.code, code, reply.body);
  return parsed.cause;
}

describe('upload_model', () => {
  it('stores the decoded bytes in a new upload directory and answers the absolute path', async () => {
    const reply = await service.handle('upload_model', kUpload);
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.contentType, 'application/json');
    const { path: file, bytes } = JSON.parse(reply.body) as { path: string; bytes: number };
    assert.equal(bytes, kBytes.length);
    assert.ok(path.isAbsolute(file));
    assert.equal(path.basename(file), 'func.pkl');
    const uploadDir = path.dirname(file);
    assert.equal(path.dirname(uploadDir), path.join(modelsDir, 'sum', '1'));
    assert.match(path.basename(uploadDir), /^upload-[0-9a-f]{16}$/);
    assert.deepEqual(readFileSync(file), kBytes);
    assert.deepEqual(readdirSync(uploadDir), ['func.pkl'], 'no temporary file is left behind');
  });

  it('gives every upload its own directory: a second upload of the same file replaces nothing', async () => {
    const first = JSON.parse((await service.handle('upload_model', kUpload)).body) as { path: string };
    const second = Buffer.from('second');
    const reply = await service.handle('upload_model', { ...kUpload, data: second.toString('base64') });
    assert.equal(reply.status, 200, reply.body);
    const other = JSON.parse(reply.body) as { path: string };
    assert.notEqual(path.dirname(other.path), path.dirname(first.path));
    assert.deepEqual(readFileSync(first.path), kBytes, 'the first upload is untouched');
    assert.deepEqual(readFileSync(other.path), second);
    assert.equal(readdirSync(path.join(modelsDir, 'sum', '1')).length, 2);
  });

  it('adds a file next to an earlier upload given its upload_id, and never replaces one there', async () => {
    const first = JSON.parse((await service.handle('upload_model', kUpload)).body) as { path: string };
    const uploadId = path.basename(path.dirname(first.path));
    const helper = await service.handle('upload_model', {
      ...kUpload,
      file_name: 'helper.py',
      upload_id: uploadId,
      data: Buffer.from('x = 1\n').toString('base64'),
    });
    assert.equal(helper.status, 200, helper.body);
    assert.equal((JSON.parse(helper.body) as { path: string }).path, path.join(path.dirname(first.path), 'helper.py'));
    assert.deepEqual(readdirSync(path.dirname(first.path)).sort(), ['func.pkl', 'helper.py']);
    const again = Buffer.from('again').toString('base64');
    assert.match(
      await fails({ ...kUpload, upload_id: uploadId, data: again }, 400, 'CLP_ERR_CONFLICT'),
      /func\.pkl was already uploaded to .*files are never replaced/,
    );
    assert.deepEqual(readFileSync(first.path), kBytes);
    assert.deepEqual(readdirSync(path.dirname(first.path)).sort(), ['func.pkl', 'helper.py'], 'no temporary file is left behind');
    for (const bad of ['upload-0000000000000000', '../1', 'x', uploadId.toUpperCase()]) {
      assert.match(await fails({ ...kUpload, upload_id: bad }, 400, 'CLP_ERR_INVALID_ARG'), /upload_id .* names no earlier upload/, bad);
    }
    assert.match(
      await fails({ ...kUpload, model_version: '2', upload_id: uploadId }, 400, 'CLP_ERR_INVALID_ARG'),
      /names no earlier upload of this model version/,
    );
  });

  it('discard_upload removes an unregistered upload directory, and refuses one a registered model reads', async () => {
    const kept = JSON.parse((await service.handle('upload_model', kUpload)).body) as { path: string };
    const refused = JSON.parse((await service.handle('upload_model', kUpload)).body) as { path: string };
    const add = await service.handle('add_model', { ...kModel, container: { runtime: 'python', entry: kept.path } });
    assert.equal(add.status, 200, add.body);
    const discard = await service.handle('discard_upload', { model_name: 'sum', model_version: '1', path: refused.path });
    assert.equal(discard.status, 200, discard.body);
    assert.deepEqual(JSON.parse(discard.body), { removed: path.dirname(refused.path) });
    assert.ok(!existsSync(path.dirname(refused.path)));
    const gone = await service.handle('discard_upload', { model_name: 'sum', model_version: '1', path: refused.path });
    assert.deepEqual(JSON.parse(gone.body), { removed: null });
    assert.match(
      await failsOn('discard_upload', { model_name: 'sum', model_version: '1', path: kept.path }, 400, 'CLP_ERR_CONFLICT'),
      /holds the files of a registered model/,
    );
    assert.deepEqual(readFileSync(kept.path), kBytes);
    for (const bad of [
      path.join(modelsDir, 'sum', '1'),
      path.join(modelsDir, 'sum', '2', 'x'),
      '/etc/passwd',
      path.join(modelsDir, 'sum', '1', '..', '..'),
    ]) {
      assert.match(
        await failsOn('discard_upload', { model_name: 'sum', model_version: '1', path: bad }, 400, 'CLP_ERR_INVALID_ARG'),
        /is not inside an upload directory of this model version/,
        bad,
      );
    }
  });

  it('refuses to replace the files of a registered model version', async () => {
    const uploaded = JSON.parse((await service.handle('upload_model', kUpload)).body) as { path: string };
    const add = await service.handle('add_model', { ...kModel, container: { runtime: 'python', entry: uploaded.path } });
    assert.equal(add.status, 200, add.body);
    assert.match(await fails(kUpload, 400, 'CLP_ERR_CONFLICT'), /model with name 'sum' and version '1' is already registered/);
    assert.deepEqual(readdirSync(path.join(modelsDir, 'sum', '1')), [path.basename(path.dirname(uploaded.path))], 'nothing new');
    const other = await service.handle('upload_model', { ...kUpload, model_version: '2' });
    assert.equal(other.status, 200, other.body);
  });

  it('names each missing or mistyped key', async () => {
    for (const key of ['model_name', 'model_version', 'file_name', 'data']) {
      const body: Record<string, unknown> = { ...kUpload };
      delete body[key];
      assert.match(await fails(body, 400, 'CLP_ERR_JSON_SCHEMA'), new RegExp(`does not have required key: ${key}\\b`));
      assert.match(
        await fails({ ...kUpload, [key]: 7 }, 400, 'CLP_ERR_JSON_SCHEMA'),
        new RegExp(`JSON key ${key} expected type String but found type Number`),
      );
    }
    assert.match(await fails([kUpload], 400, 'CLP_ERR_JSON_SCHEMA'), /must be a JSON object/);
  });

  it('validates the model name and version like add_model', async () => {
    for (const name of ['', 'Sum', 'a/b', '../x', 'a:b', '-x', 'x'.repeat(64)]) {
      assert.match(await fails({ ...kUpload, model_name: name }, 400, 'CLP_ERR_INVALID_ARG'), /Invalid model name supplied/, name);
    }
    for (const version of ['', '..', '.', '1/2', '1:2', 'a,b', '../1', 'v'.repeat(65)]) {
      assert.match(
        await fails({ ...kUpload, model_version: version }, 400, 'CLP_ERR_INVALID_ARG'),
        /Invalid model version supplied/,
        version,
      );
    }
  });

  it('accepts only plain base names for file_name', async () => {
    for (const fileName of [
      '',
      '.',
      '..',
      '.hidden',
      'a/b.pkl',
      '../func.pkl',
      '/etc/passwd',
      'a\\b',
      'sp ace.pkl',
      'nul\0.pkl',
      'é.pkl',
      'x'.repeat(256),
    ]) {
      assert.match(await fails({ ...kUpload, file_name: fileName }, 400, 'CLP_ERR_INVALID_ARG'), /Invalid file_name supplied/, fileName);
    }
    assert.deepEqual(
      readdirSync(root).filter((d) => d === path.basename(modelsDir)),
      [],
      'nothing was written',
    );
  });

  it('refuses empty data and data that is not standard padded base64', async () => {
    assert.match(await fails({ ...kUpload, data: '' }, 400, 'CLP_ERR_INVALID_ARG'), /data is empty/);
    for (const data of ['abc', 'ab=c', 'a===', '====', 'YWJj\n', 'YW Jj', 'YWJj-_8=', '%%%%', 'YQ==YQ==']) {
      assert.match(await fails({ ...kUpload, data }, 400, 'CLP_ERR_INVALID_ARG'), /data is not valid base64/, data);
    }
  });

  it('defaults the models dir to $CLIPPER_MODELS_DIR, else ~/.clipper/models', () => {
    const saved = process.env.CLIPPER_MODELS_DIR;
    try {
      process.env.CLIPPER_MODELS_DIR = '/srv/models';
      assert.equal(defaultModelsDir(), '/srv/models');
      delete process.env.CLIPPER_MODELS_DIR;
      assert.equal(defaultModelsDir(), path.join(os.homedir(), '.clipper', 'models'));
    } finally {
      if (saved === undefined) delete process.env.CLIPPER_MODELS_DIR;
      else process.env.CLIPPER_MODELS_DIR = saved;
    }
  });
});
