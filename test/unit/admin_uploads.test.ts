// POST /admin/upload_model through AdminService: files land under <models dir>/<name>/<version>/,
// atomically, and every bad input is a JSON 400 that names the field.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
  Object.assign(ctx, { modelsDir });
  service = new AdminService(ctx);
});

const kBytes = Buffer.from([0x80, 0x05, 0x00, 0xff, 0x10, 0x41]);
const kUpload = { model_name: 'sum', model_version: '1', file_name: 'func.pkl', data: kBytes.toString('base64') };

async function fails(body: unknown, status: number, code: string): Promise<string> {
  const reply = await service.handle('upload_model', body);
  assert.equal(reply.contentType, 'application/json');
  const parsed = JSON.parse(reply.body) as { cause: string; code: string };
  assert.equal(reply.status, status, reply.body);
  assert.equal(parsed.code, code, reply.body);
  return parsed.cause;
}

describe('upload_model', () => {
  it('stores the decoded bytes under <models dir>/<name>/<version>/<file_name> and answers the absolute path', async () => {
    const reply = await service.handle('upload_model', kUpload);
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.contentType, 'application/json');
    const file = path.join(modelsDir, 'sum', '1', 'func.pkl');
    assert.deepEqual(JSON.parse(reply.body), { path: file, bytes: kBytes.length });
    assert.ok(path.isAbsolute(file));
    assert.deepEqual(readFileSync(file), kBytes);
    assert.deepEqual(readdirSync(path.dirname(file)), ['func.pkl'], 'no temporary file is left behind');
  });

  it('replaces an earlier upload of the same file while the version is not registered', async () => {
    await service.handle('upload_model', kUpload);
    const second = Buffer.from('second');
    const reply = await service.handle('upload_model', { ...kUpload, data: second.toString('base64') });
    assert.equal(reply.status, 200, reply.body);
    assert.deepEqual(readFileSync(path.join(modelsDir, 'sum', '1', 'func.pkl')), second);
    const other = await service.handle('upload_model', {
      ...kUpload,
      file_name: 'helper.py',
      data: Buffer.from('x = 1\n').toString('base64'),
    });
    assert.equal(other.status, 200, other.body);
    assert.deepEqual(readdirSync(path.join(modelsDir, 'sum', '1')).sort(), ['func.pkl', 'helper.py']);
  });

  it('refuses to replace the files of a registered model version', async () => {
    const add = await service.handle('add_model', {
      model_name: 'sum',
      model_version: '1',
      labels: [],
      input_type: 'doubles',
      container_name: 'x',
      model_data_path: 'DEPRECATED',
      batch_size: -1,
      container: { runtime: 'python', entry: '/m/func.pkl' },
    });
    assert.equal(add.status, 200, add.body);
    assert.match(await fails(kUpload, 400, 'CLP_ERR_CONFLICT'), /model with name 'sum' and version '1' is already registered/);
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
