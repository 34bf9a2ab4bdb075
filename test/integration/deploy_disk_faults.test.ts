// Item 4c of the reliability suite: the disk fills up or turns read-only while a model is deployed.
// A real 256 KiB tmpfs is the models dir: filled, an upload is a 507 (CLP_ERR_STORAGE_FULL);
// remounted read-only, a 503 (CLP_ERR_STORAGE_UNWRITABLE); each body names the directory, the cause
// and what to do, and nothing is left (no temporary file, no upload directory). The notebook client's
// local save says the same and leaves nothing either. Back to read-write with space, an upload works.
// Needs root and mount(8) (skipped, saying why, without them); unmounted in `finally`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { kRepoRoot } from '../../src/paths.js';
import { postJson, startTestCluster } from '../helpers/cluster.js';
import { missingPythonModules, runPythonAsync } from './python_harness.js';

const kPythonDir = path.join(kRepoRoot, 'containers', 'python');
const kPythonMissing = missingPythonModules(['cloudpickle']);

function sh(cmd: string, args: string[]): { ok: boolean; why: string } {
  const run = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: run.status === 0, why: `${cmd} ${args.join(' ')}: ${run.stderr || run.error?.message || `exit ${run.status}`}`.trim() };
}

/** Mount a 256 KiB tmpfs at a fresh directory; null (and why) when this machine does not allow it. */
function mountTmpfs(t: TestContext): string | { why: string } {
  if (process.getuid?.() !== 0) return { why: 'not running as root: mount(8) needs it' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-disk-faults-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const mnt = path.join(dir, 'models');
  mkdirSync(mnt);
  const mounted = sh('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', mnt]);
  return mounted.ok ? mnt : { why: `mounting a tmpfs is not permitted here (${mounted.why})` };
}

/** Write until the file system is full (ENOSPC); the filler stays until removed. */
function fill(mnt: string): void {
  try {
    writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(1024 * 1024, 1));
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    return;
  }
  assert.fail('a 1 MiB file fitted in a 256 KiB tmpfs');
}

const kUpload = { model_name: 'm', model_version: '1', file_name: 'func.pkl', data: Buffer.alloc(48 * 1024, 7).toString('base64') };

const kSaveScript = `
import json, sys
sys.path.insert(0, sys.argv[1])
import clipper_client as cc
conn = cc.ClipperConnection('http://127.0.0.1:9', 'http://127.0.0.1:9')
try:
    conn.deploy_python_closure('m', '1', 'doubles', lambda xs: [b'x' * 65536 for _ in xs])
    print(json.dumps(None))
except cc.ClipperException as err:
    print(json.dumps(str(err)))
`;

/** The notebook client's local save into `mnt` (port 9: nothing listens; the save comes first). */
async function clientSave(mnt: string): Promise<string | null> {
  const run = await runPythonAsync(['-c', kSaveScript, kPythonDir], { CLIPPER_MODELS_DIR: mnt });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as string | null;
}

function leftovers(mnt: string): string[] {
  const versionDir = path.join(mnt, 'm', '1');
  return existsSync(versionDir) ? readdirSync(versionDir) : [];
}

test('disk full or read-only while deploying: 507 / 503 naming the directory, nothing half-written', { timeout: 120_000 }, async (t) => {
  const mnt = mountTmpfs(t);
  if (typeof mnt !== 'string') {
    t.diagnostic(`skipped: ${mnt.why}`);
    t.skip(mnt.why);
    return;
  }
  const saved = process.env.CLIPPER_MODELS_DIR;
  process.env.CLIPPER_MODELS_DIR = mnt; // the server's upload dir (read per request)
  try {
    const cluster = await startTestCluster(t, { modelDirs: [mnt] }, { startAdmin: startAdminServer });
    fill(mnt);
    const full = await postJson(cluster.adminPort, '/admin/upload_model', kUpload);
    assert.equal(full.status, 507, JSON.stringify(full.body));
    assert.equal(full.body.code, 'CLP_ERR_STORAGE_FULL');
    assert.equal(full.body.error, 'Insufficient storage');
    assert.match(full.body.cause, new RegExp(`under ${mnt}/m/1/upload-[0-9a-f]{16}: the file system is full \\(ENOSPC`));
    assert.match(full.body.cause, /Free space or raise the quota/);
    assert.deepEqual(leftovers(mnt), [], 'no temporary file, no upload directory');
    if (kPythonMissing.length === 0) {
      assert.match((await clientSave(mnt)) ?? 'saved', /could not save the model under .*\(ENOSPC: .*the file system is full/);
      assert.deepEqual(leftovers(mnt), [], 'the client left nothing either');
    } else {
      t.diagnostic(`the client-side save was not tried: /usr/bin/python3 lacks ${kPythonMissing.join(', ')}`);
    }

    const ro = sh('mount', ['-o', 'remount,ro', mnt]);
    assert.ok(ro.ok, ro.why);
    const readOnly = await postJson(cluster.adminPort, '/admin/upload_model', kUpload);
    assert.equal(readOnly.status, 503, JSON.stringify(readOnly.body));
    assert.equal(readOnly.body.code, 'CLP_ERR_STORAGE_UNWRITABLE');
    assert.match(readOnly.body.cause, new RegExp(`under ${mnt}/m/1: the directory is not writable \\(EROFS`));
    assert.match(readOnly.body.cause, /Remount that file system read-write/);
    if (kPythonMissing.length === 0) {
      assert.match((await clientSave(mnt)) ?? 'saved', /could not save the model under .*\(EROFS: .*remount it read-write/);
    }
    assert.deepEqual(leftovers(mnt), []);

    const rw = sh('mount', ['-o', 'remount,rw', mnt]);
    assert.ok(rw.ok, rw.why);
    rmSync(path.join(mnt, 'filler'));
    const ok = await postJson(cluster.adminPort, '/admin/upload_model', kUpload);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.bytes, 48 * 1024);
    assert.deepEqual(readdirSync(path.dirname(ok.body.path)), ['func.pkl']);
  } finally {
    if (saved === undefined) delete process.env.CLIPPER_MODELS_DIR;
    else process.env.CLIPPER_MODELS_DIR = saved;
    const unmounted = sh('umount', [mnt]);
    if (!unmounted.ok) sh('umount', ['-l', mnt]);
  }
});
