// The clipper_ts package (containers/python) against a real cluster: a Clipper-style script that
// changes only its import lines registers apps, deploys closures, a directory and an estimator
// (uploaded through POST /admin/upload_model, not written to the client's disk), rolls versions
// back and forward, resizes, reads logs and metrics, and stops everything. The package is
// installed into a throwaway venv (Debian's pip, offline); if that cannot work here, the test puts
// containers/python on PYTHONPATH instead and says so.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { kPythonInterpreter, kRepoRoot } from '../../src/paths.js';
import { postJson, startTestCluster } from '../helpers/cluster.js';
import { missingPythonModules } from './python_harness.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

const kMissing = missingPythonModules(['msgpack', 'numpy', 'sklearn', 'cloudpickle']);
const skip = kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')} (run npm run setup)` : false;
const kPythonDir = path.join(kRepoRoot, 'containers', 'python');
const kScript = path.join(kRepoRoot, 'test', 'fixtures', 'python', 'clipper_style_script.py');

/** A venv seeing Debian's packages, with clipper-ts installed offline; null (and why) when that fails. */
function installPackage(dir: string): { python: string } | { python: null; why: string } {
  const source = path.join(dir, 'src');
  cpSync(kPythonDir, source, { recursive: true, filter: (p) => !p.includes('__pycache__') && !p.endsWith('.egg-info') });
  const venv = path.join(dir, 'venv');
  const steps: string[][] = [
    [kPythonInterpreter, '-m', 'venv', '--system-site-packages', venv],
    [path.join(venv, 'bin', 'python'), '-m', 'pip', 'install', '--no-index', '--no-build-isolation', '--no-deps', '--quiet', source],
  ];
  for (const [cmd, ...args] of steps) {
    const run = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) return { python: null, why: `${[cmd, ...args].join(' ')} failed: ${run.stderr || run.error?.message}` };
  }
  return { python: path.join(venv, 'bin', 'python') };
}

function runScript(python: string, args: string[], env: Record<string, string>, cwd: string): Promise<ProcessResult> {
  return runProcess(python, [kScript, ...args], { env, cwd, timeoutMs: 300_000 });
}

/** The path of an uploaded file: <models dir>/<name>/<version>/upload-<id>/<file>. */
function uploadedAs(name: string, version: string, file: string): RegExp {
  return new RegExp(`/${name}/${version}/upload-[0-9a-f]{16}/${file.replace('.', '\\.')}$`);
}

test('a Clipper script with only its imports changed runs against clipper-ts', { skip, timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-ts-py-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const serverModels = path.join(dir, 'server-models');
  const clientModels = path.join(dir, 'client-models');
  const savedModelsDir = process.env.CLIPPER_MODELS_DIR;
  process.env.CLIPPER_MODELS_DIR = serverModels; // the server's upload dir (read per request)
  t.after(() => {
    if (savedModelsDir === undefined) delete process.env.CLIPPER_MODELS_DIR;
    else process.env.CLIPPER_MODELS_DIR = savedModelsDir;
  });

  const installed = installPackage(dir);
  let python = kPythonInterpreter;
  const env: Record<string, string> = { CLIPPER_MODELS_DIR: clientModels };
  if (installed.python === null) {
    t.diagnostic(`installing the package failed, using PYTHONPATH=containers/python: ${installed.why}`);
    env.PYTHONPATH = kPythonDir;
  } else {
    python = installed.python;
  }

  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const scratch = path.join(dir, 'scratch');
  const run = await runScript(python, [String(cluster.adminPort), String(cluster.queryPort), scratch], env, dir);
  assert.equal(run.status, 0, run.stderr);
  // biome-ignore lint/suspicious/noExplicitAny: the script's JSON report, indexed freely by the assertions below
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, any>;

  if (installed.python !== null) assert.ok(out.clipper_ts_file.startsWith(path.join(dir, 'venv')), out.clipper_ts_file);
  assert.match(out.unconnected, /No connection to Clipper cluster/);
  assert.equal(out.query_addr, `127.0.0.1:${cluster.queryPort}`);

  assert.deepEqual(out.apps, ['hello-world']);
  assert.equal(out.app_info.name, 'hello-world');
  assert.equal(out.app_info.input_type, 'doubles');
  assert.equal(out.no_app_info, null);
  assert.match(out.link_unknown, /^Received error status code: 400 and message: .*not-a-model/);
  assert.deepEqual(out.linked, ['sum-model']);

  // Versions: 2 becomes current on deploy; rollback to 1 and forward again route immediately.
  const answer = (p: { output: unknown; default: unknown }): unknown => ({ output: p.output, default: p.default });
  assert.deepEqual(answer(out.v1), { output: 6, default: false });
  assert.deepEqual(answer(out.v2), { output: 60, default: false });
  assert.deepEqual(answer(out.rolled_back), { output: 6, default: false });
  assert.equal(out.current_after_rollback, '1');
  assert.deepEqual(answer(out.rolled_forward), { output: 60, default: false });
  assert.match(out.bad_version, /^Received error status code: 400 and message: .*non-existent version '9'/);

  assert.equal(out.num_replicas_v2, 2);
  assert.equal(out.num_replicas_v2_after, 3);
  assert.equal(out.num_replicas_v1, 1);
  assert.deepEqual(out.models, ['sum-model:1', 'sum-model:2']);
  assert.equal(out.model_info.is_current_version, true);
  assert.deepEqual(out.model_info.labels, ['scaled']);
  assert.equal(out.model_info.container.runtime, 'python');
  assert.match(out.model_info.container.entry, uploadedAs('sum-model', '2', 'func.pkl'));
  assert.equal(out.no_model_info, null);
  assert.deepEqual(out.replicas, ['sum-model:1:0', 'sum-model:2:0', 'sum-model:2:1', 'sum-model:2:2']);
  assert.equal(out.replica_info.model_name, 'sum-model');
  assert.equal(out.no_replica_info, null);
  assert.deepEqual(out.status.apps[0].linked_models, [{ model_name: 'sum-model', current_version: '2' }]);
  assert.deepEqual(
    out.status.models.map((m: Record<string, unknown>) => [m.model_version, m.replicas_wanted]),
    [
      ['1', 1],
      ['2', 3],
    ],
  );
  assert.equal(out.status.ready, out.status.problems.length === 0);

  // The uploads landed in the server's models dir; the client wrote nothing to its own.
  // Each deploy's files are in an upload directory of their own (a folder's files in one).
  const uploads = (name: string, version: string): string[] => readdirSync(path.join(serverModels, name, version));
  for (const version of ['1', '2']) {
    assert.equal(uploads('sum-model', version).length, 1, version);
    assert.ok(existsSync(path.join(serverModels, 'sum-model', version, uploads('sum-model', version)[0]!, 'func.pkl')));
  }
  const folder = path.join(serverModels, 'count-model', 'a1', uploads('count-model', 'a1')[0]!);
  assert.deepEqual(readdirSync(folder).sort(), ['func.pkl', 'notes.txt']);
  assert.equal(readFileSync(path.join(folder, 'notes.txt'), 'utf8'), 'uploaded too');
  assert.ok(!existsSync(clientModels), 'the client did not write models locally');

  assert.deepEqual(answer(out.built), { output: 4, default: false });
  assert.deepEqual(out.unlinked, []);
  assert.equal(out.sk.default, false);
  (out.sk.output as number[]).forEach((p, i) => {
    assert.ok(Math.abs(p - out.sk_expected[i]) < 1e-9, `${p} vs ${out.sk_expected[i]}`);
  });

  // One log file per replica; metrics as a dict.
  const logs = out.log_files as string[];
  assert.equal(logs.length, 4 + 1 + 1); // sum-model (1 + 3), count-model, lr
  for (const file of logs) {
    assert.ok(file.startsWith(path.join(scratch, 'clipper_logs')) && existsSync(file), file);
    assert.match(path.basename(file), /^(sum-model|count-model|lr)-[a-z0-9]+-replica-\d+-\d{8}-\d{6}\.log$/);
  }
  assert.equal(out.metrics_type, 'dict');
  assert.deepEqual(out.metrics_keys, ['counters', 'histograms', 'meters', 'ratio_counters']); // Clipper's JSON shape

  assert.deepEqual(out.after_stop_inactive, ['count-model:a1', 'lr:1', 'sum-model:2']);
  assert.deepEqual(out.after_stop_models, ['lr:1', 'sum-model:2']);
  assert.deepEqual(out.apps_left, ['hello-world']);

  const [regOnly, regImage] = out.registered as Array<Record<string, unknown>>;
  assert.deepEqual(
    [regOnly!.container_name, regOnly!.num_replicas, regOnly!.labels, regOnly!.is_current_version],
    ['NO_CONTAINER', 0, ['a'], true],
  );
  assert.deepEqual([regImage!.container_name, regImage!.num_replicas, regImage!.batch_size], ['example/noop:1', 0, 4]);
  assert.match(
    out.resize_containerless,
    /^Received error status code: 400 and message: .*Cannot resize the replica set for containerless model reg-only:1/,
  );

  // stop_all_model_containers deletes every version, the current version of the linked sum-model
  // included (as Clipper). A server that refuses to delete a linked current version answers 400.
  if (out.stop_all_error === null) {
    assert.deepEqual(out.after_stop_all, []);
    assert.deepEqual(answer(out.hello_after_stop_all), { output: -1, default: true });
  } else {
    t.diagnostic(`the server refused to delete a linked current version: ${out.stop_all_error}`);
    assert.match(out.stop_all_error, /^Received error status code: 400 and message: .*current version/);
    assert.deepEqual(out.after_stop_all, ['sum-model:2']);
  }
  assert.deepEqual(out.apps_end, []);
  assert.deepEqual(out.models_end, []);
  assert.deepEqual(cluster.replicas().length, 0);
});

test('an upload over the body limit is refused with 413 before it is stored', { skip }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-ts-upload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cluster = await startTestCluster(t, { bodyBytesMax: 4096 }, { startAdmin: startAdminServer });
  const big = Buffer.alloc(8192, 7).toString('base64');
  const refused = await postJson(cluster.adminPort, '/admin/upload_model', {
    model_name: 'm',
    model_version: '1',
    file_name: 'f.pkl',
    data: big,
  });
  assert.equal(refused.status, 413);
  assert.equal(refused.body.code, 'CLP_ERR_BODY_TOO_LARGE');
  const bad = await postJson(cluster.adminPort, '/admin/upload_model', {
    model_name: 'm',
    model_version: '1',
    file_name: '../f.pkl',
    data: 'AAAA',
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body.cause, /Invalid file_name supplied/);
});

test('start_clipper and connect without a server say to run `clipper start`', { skip }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-ts-noserver-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = `
import json
from clipper_ts import ClipperConnection, DockerContainerManager, ClipperException
# Port 9 (discard) on 127.0.0.1: nothing listens there in a test environment.
conn = ClipperConnection(DockerContainerManager(docker_ip_address='127.0.0.1', clipper_query_port=9,
                                                clipper_management_port=9, redis_ip='r', docker_network='n'))
out = {}
for method in ('start_clipper', 'connect'):
    try:
        getattr(conn, method)()
        out[method] = None
    except ClipperException as e:
        out[method] = str(e)
print(json.dumps(out))
`;
  const run = spawnSync(kPythonInterpreter, ['-c', script], {
    encoding: 'utf8',
    cwd: dir,
    env: { ...process.env, PYTHONPATH: kPythonDir },
  });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout) as Record<string, string | null>;
  for (const method of ['start_clipper', 'connect']) {
    assert.match(out[method] ?? '', /No clipper-ts server answers at http:\/\/127\.0\.0\.1:9 \(management\).*clipper start/, method);
  }
});
