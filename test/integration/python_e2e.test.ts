// Python models end to end through the real frontend: a cluster with its management API, Python
// replicas started by the local-process manager, queries over HTTP. Covers the notebook client's
// closure deploy, a pickled sklearn model, model exceptions, a predict longer than the liveness
// timeout, a model that fails at import, and the CLI's deploy path. Skips (saying which modules
// are missing) when /usr/bin/python3 lacks them.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperClientError, ClipperConnection } from '../../src/client/admin_client.js';
import type { Cluster } from '../../src/cluster.js';
import type { ClipperConfig } from '../../src/config.js';
import { kRepoRoot } from '../../src/paths.js';
import { postJson, startTestCluster } from '../helpers/cluster.js';
import { missingPythonModules, runPythonAsync } from './python_harness.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

const kMissing = missingPythonModules(['msgpack', 'numpy', 'sklearn', 'cloudpickle']);
const skip = kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')} (run npm run setup)` : false;
const kPythonDir = path.join(kRepoRoot, 'containers', 'python');

interface Setup {
  cluster: Cluster;
  conn: ClipperConnection;
  dir: string;
  adminUrl: string;
  queryUrl: string;
}

async function setUp(t: TestContext, config: Partial<ClipperConfig> = {}): Promise<Setup> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-py-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cluster = await startTestCluster(t, config, { startAdmin: startAdminServer });
  const adminUrl = `http://127.0.0.1:${cluster.adminPort}`;
  const queryUrl = `http://127.0.0.1:${cluster.queryPort}`;
  return { cluster, conn: new ClipperConnection({ adminUrl, queryUrl, timeoutMs: 120_000 }), dir, adminUrl, queryUrl };
}

/** Register `app`, deploy `file`'s `fn` as model `name` version 1 with one Python replica, link them. */
async function deployPython(s: Setup, app: string, name: string, file: string, fn: string, sloMicros: number): Promise<void> {
  await s.conn.registerApplication({ name: app, inputType: 'doubles', defaultOutput: 'fallback', sloMicros });
  await s.conn.deployModel({
    name,
    version: '1',
    inputType: 'doubles',
    numReplicas: 1,
    container: { runtime: 'python', entry: file, function: fn },
  });
  await s.conn.linkModelToApp(app, name);
}

function runNode(args: string[]): Promise<ProcessResult> {
  return runProcess(process.execPath, args);
}

test('a closure deployed from the Python client answers queries through the frontend', { skip }, async (t) => {
  const s = await setUp(t);
  const script = `
import json, sys
sys.path.insert(0, sys.argv[3])
from clipper_client import ClipperConnection, deploy_python_closure, link_model_to_app, predict, register_application
conn = ClipperConnection(sys.argv[1], sys.argv[2])
scale = 3.0  # captured by the closure
def scaled_sum(inputs):
    return [float(row.sum()) * scale for row in inputs]
register_application(conn, 'closure-app', 'doubles', '-1.0', 2000000)
deploy_python_closure(conn, 'scaled-sum', '1', 'doubles', scaled_sum)
link_model_to_app(conn, 'closure-app', 'scaled-sum')
print(json.dumps(predict(conn, 'closure-app', [1.0, 2.0, 4.5])))
`;
  const run = await runPythonAsync(['-c', script, s.adminUrl, s.queryUrl, kPythonDir], { CLIPPER_MODELS_DIR: s.dir });
  assert.equal(run.status, 0, run.stderr);
  const answer = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { output: unknown; default: boolean };
  assert.deepEqual({ output: answer.output, default: answer.default }, { output: 22.5, default: false });
  const models = await s.conn.getAllModels(true);
  assert.equal(models.length, 1);
  assert.equal(models[0]!.container?.runtime, 'python');
  assert.ok(models[0]!.container?.entry?.startsWith(s.dir), 'the closure was pickled under CLIPPER_MODELS_DIR');
  // The frontend serves it to other clients too.
  const direct = await postJson(s.cluster.queryPort, '/closure-app/predict', { input: [10, 20] });
  assert.equal(direct.body.output, 90);
});

test('a pickled sklearn digits model answers a batch exactly as it does locally', { skip }, async (t) => {
  const s = await setUp(t);
  const pickle = path.join(s.dir, 'digits.pkl');
  const train = await runPythonAsync([path.join(kPythonDir, 'examples', 'train_digits.py'), pickle]);
  assert.equal(train.status, 0, train.stderr);
  // Every 7th row of the data set: 257 rows covering all ten classes, predicted locally.
  const local = await runPythonAsync([
    '-c',
    `
import json, pickle, sys
from sklearn.datasets import load_digits
model = pickle.load(open(sys.argv[1], 'rb'))
X = load_digits().data[::7]
print(json.dumps({'X': X.tolist(), 'labels': model.predict(X).tolist()}))
`,
    pickle,
  ]);
  assert.equal(local.status, 0, local.stderr);
  const expected = JSON.parse(local.stdout) as { X: number[][]; labels: number[] };
  assert.equal(new Set(expected.labels).size, 10, 'the rows cover all ten digits');

  await deployPython(s, 'digits', 'digits-lr', pickle, 'predict', 5_000_000);
  const answer = await s.conn.predictBatch('digits', expected.X);
  assert.equal(answer.batch_predictions.length, expected.X.length);
  assert.ok(
    answer.batch_predictions.every((p) => !p.default),
    'no query got the default output',
  );
  assert.deepEqual(
    answer.batch_predictions.map((p) => p.output),
    expected.labels,
  );
  const one = await postJson(s.cluster.queryPort, '/digits/predict', { input: expected.X[3] });
  assert.equal(one.body.output, expected.labels[3]);
});

test("an exception in predict answers the default output with Python's error, and the next query works", { skip }, async (t) => {
  const s = await setUp(t);
  const file = path.join(s.dir, 'flaky.py');
  await writeFile(
    file,
    `
def predict(inputs):
    if inputs[0][0] == 13:
        raise ValueError('unlucky input %r' % inputs[0][0])
    return [float(x.sum()) for x in inputs]
`,
  );
  await deployPython(s, 'flaky', 'flaky', file, 'predict', 2_000_000);
  const failed = await postJson(s.cluster.queryPort, '/flaky/predict', { input: [13, 1] });
  assert.equal(failed.status, 200);
  assert.equal(failed.body.default, true);
  assert.equal(failed.body.output, 'fallback');
  assert.match(failed.body.default_explanation, /ValueError: unlucky input 13/);
  const next = await postJson(s.cluster.queryPort, '/flaky/predict', { input: [2, 3] });
  assert.deepEqual({ output: next.body.output, default: next.body.default }, { output: 5, default: false });
  const [replica] = await s.conn.getAllContainers(true);
  assert.equal(replica!.restart_count, 0, 'a model exception does not restart the replica');
});

test('a predict longer than the liveness timeout is answered without restarting the replica', { skip }, async (t) => {
  // heartbeatMs 200 → a replica is declared dead after 1 s without frames; predict takes 1.5 s.
  const s = await setUp(t, { heartbeatMs: 200 });
  const file = path.join(s.dir, 'slow.py');
  await writeFile(
    file,
    `
import time
def predict(inputs):
    time.sleep(1.5)
    return [float(x.sum()) for x in inputs]
`,
  );
  await deployPython(s, 'slow', 'slow', file, 'predict', 5_000_000);
  const [before] = await s.conn.getAllContainers(true);
  const answer = await postJson(s.cluster.queryPort, '/slow/predict', { input: [1, 2] });
  assert.equal(answer.status, 200);
  assert.deepEqual(
    { output: answer.body.output, default: answer.body.default },
    { output: 3, default: false },
    JSON.stringify(answer.body),
  );
  const [after] = await s.conn.getAllContainers(true);
  assert.equal(after!.pid, before!.pid, 'the same replica process');
  assert.equal(after!.restart_count, 0);
  assert.equal(after!.connected, true);
});

test('a Python model that raises at import fails the deploy fast with its error and leaves nothing behind', { skip }, async (t) => {
  const s = await setUp(t);
  const file = path.join(s.dir, 'broken.py');
  await writeFile(file, "raise RuntimeError('the weights file is missing: /nowhere/w.bin')\ndef predict(inputs):\n    return inputs\n");
  await s.conn.registerApplication({ name: 'broken-app', inputType: 'doubles', defaultOutput: '-1', sloMicros: 100_000 });
  await assert.rejects(
    s.conn.deployModel({ name: 'broken', version: '1', inputType: 'doubles', container: { runtime: 'python', entry: file } }),
    (err: unknown) => {
      assert.ok(err instanceof ClipperClientError);
      assert.equal(err.status, 400);
      assert.equal(err.code, 'CLP_ERR_DEPLOY_FAILED');
      assert.match(err.cause, /RuntimeError: the weights file is missing: \/nowhere\/w\.bin/);
      return true;
    },
  );
  assert.deepEqual(await s.conn.getAllModels(), []);
  assert.deepEqual(await s.conn.getAllContainers(), []);
  assert.equal(s.cluster.replicas().length, 0);
  assert.equal(await s.conn.getCurrentModelVersion('broken'), null);
});

test('the CLI registers, deploys and links a Python model, and reports refusals with the cause', { skip }, async (t) => {
  const s = await setUp(t);
  const file = path.join(s.dir, 'cli_model.py');
  await writeFile(file, 'def triple_max(inputs):\n    return [3 * float(x.max()) for x in inputs]\n');
  const urls = ['--admin-url', s.adminUrl, '--query-url', s.queryUrl];
  const cli = (...args: string[]) => runNode([path.join(kRepoRoot, 'bin', 'clipper.js'), ...args, ...urls]);

  const registered = await cli(
    'register-app',
    '--name',
    'cli-app',
    '--input-type',
    'doubles',
    '--slo-micros',
    '2000000',
    '--default-output',
    '-1',
  );
  assert.equal(registered.status, 0, registered.stderr);
  assert.equal((await s.conn.getAppInfo('cli-app'))?.default_output, '-1');
  const noApp = await cli(
    'deploy',
    '--name',
    'triple',
    '--version',
    '1',
    '--input-type',
    'doubles',
    '--runtime',
    'python',
    '--entry',
    file,
    '--function',
    'triple_max',
    '--app',
    'cli-ap',
  );
  assert.equal(noApp.status, 1);
  assert.match(noApp.stderr, /no application named 'cli-ap'/);
  assert.deepEqual(await s.conn.getAllModels(), [], 'a wrong --app is refused before deploying');
  const deployed = await cli(
    'deploy',
    '--name',
    'triple',
    '--version',
    '1',
    '--input-type',
    'doubles',
    '--runtime',
    'python',
    '--entry',
    file,
    '--function',
    'triple_max',
    '--app',
    'cli-app',
  );
  assert.equal(deployed.status, 0, deployed.stderr);
  assert.match(deployed.stdout, /Successfully added model with name 'triple'/);
  assert.deepEqual(await s.conn.getLinkedModels('cli-app'), ['triple']);

  const served = await postJson(s.cluster.queryPort, '/cli-app/predict', { input: [1, 7, 2] });
  assert.deepEqual({ output: served.body.output, default: served.body.default }, { output: 21, default: false });
  const predicted = await cli('predict', '--app', 'cli-app', '--input', '[[4, 5], [0.5]]', '--batch');
  assert.equal(predicted.status, 0, predicted.stderr);
  assert.deepEqual(
    (JSON.parse(predicted.stdout) as { batch_predictions: Array<{ output: unknown }> }).batch_predictions.map((p) => p.output),
    [15, 1.5],
  );

  const refused = await cli('link', '--app', 'no-such-app', '--model', 'triple');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /HTTP \d+, CLP_ERR_\w+\).*no-such-app/);
  const badImport = path.join(s.dir, 'bad_import.py');
  await writeFile(badImport, 'import no_such_module_anywhere\n');
  const failed = await cli(
    'deploy',
    '--name',
    'bad',
    '--version',
    '1',
    '--input-type',
    'doubles',
    '--runtime',
    'python',
    '--entry',
    badImport,
  );
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, /CLP_ERR_DEPLOY_FAILED.*No module named 'no_such_module_anywhere'/s);
});
