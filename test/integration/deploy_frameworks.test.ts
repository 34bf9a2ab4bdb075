// `clipper deploy --framework ...` and the TypeScript client's `container.framework`, end to end: each
// framework's model (made here, no downloads) deploys through the CLI or the client, answers through
// the real frontend what a reference computed without this system says, and a bad model file fails
// the deploy with the runner's reason. Frameworks whose packages this machine lacks are skipped,
// naming them.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperClientError, ClipperConnection } from '../../src/client/admin_client.js';
import type { Cluster } from '../../src/cluster.js';
import { kRepoRoot } from '../../src/paths.js';
import { kExampleModels, startTestCluster } from '../helpers/cluster.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';
import { missingPythonModules, runPythonAsync } from './python_harness.js';

const kCli = path.join(kRepoRoot, 'bin', 'clipper.js');
/** Generous: the first import of torch on a busy 2-core machine takes seconds. */
const kTestTimeoutMs = 240_000;

interface Case {
  file: string;
  inputs: number[][];
  expected: unknown[];
}

/** Builds each named framework's model in `dir` with /usr/bin/python3 and its reference answers. */
const kMakeModels = `
import json, os, pickle, sys
import numpy as np
out, which = sys.argv[1], sys.argv[2:]
rng = np.random.default_rng(7)
x = rng.normal(size=(6, 4))
x32 = x.astype(np.float32).astype(np.float64)   # what a float32 model sees of double inputs
cases = {}
if 'sklearn' in which:
    from sklearn.linear_model import LogisticRegression
    xt = rng.normal(size=(80, 4))
    clf = LogisticRegression().fit(xt, (xt[:, 0] + xt[:, 1] > 0).astype(int) + (xt[:, 2] > 0.8).astype(int))
    with open(os.path.join(out, 'clf.pkl'), 'wb') as f:
        pickle.dump(clf, f)
    # The reference from the coefficients, not from clf.predict.
    labels = clf.classes_[(x @ clf.coef_.T + clf.intercept_).argmax(axis=1)]
    cases['sklearn'] = {'file': 'clf.pkl', 'inputs': x.tolist(), 'expected': labels.tolist()}
if 'pytorch' in which:
    import torch
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    torch.jit.save(torch.jit.script(net), os.path.join(out, 'net.pt'))
    w1, b1, w2, b2 = [p.detach().numpy().astype(np.float64) for p in net.parameters()]
    ref = np.maximum(x32 @ w1.T + b1, 0) @ w2.T + b2
    cases['pytorch'] = {'file': 'net.pt', 'inputs': x.tolist(), 'expected': ref.tolist()}
    with open(os.path.join(out, 'broken.pt'), 'wb') as f:
        f.write(b'this is not a TorchScript archive')
if 'xgboost' in which:
    import xgboost as xgb
    xt = rng.normal(size=(120, 4))
    booster = xgb.train({'max_depth': 3, 'eta': 0.5, 'nthread': 1}, xgb.DMatrix(xt, label=2 * xt[:, 0] - xt[:, 3]), 8)
    booster.save_model(os.path.join(out, 'booster.json'))
    # The framework itself, called directly on the whole matrix.
    cases['xgboost'] = {'file': 'booster.json', 'inputs': x.tolist(),
                        'expected': booster.predict(xgb.DMatrix(x32.astype(np.float32))).astype(float).tolist()}
print(json.dumps(cases))
`;

async function makeModels(dir: string, frameworks: string[]): Promise<Record<string, Case>> {
  const r = await runPythonAsync(['-c', kMakeModels, dir, ...frameworks], {}, 180_000);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, Case>;
}

async function tempDir(t: TestContext): Promise<string> {
  // Under os.tmpdir(): one of the test cluster's model directories.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-frameworks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Cli {
  ok: (...args: string[]) => Promise<string>;
  refused: (cause: RegExp, ...args: string[]) => Promise<string>;
  conn: ClipperConnection;
}

function cliOf(cluster: Cluster | null): Cli {
  const admin = cluster === null ? 'http://127.0.0.1:1' : `http://127.0.0.1:${cluster.adminPort}`;
  const query = cluster === null ? 'http://127.0.0.1:1' : `http://127.0.0.1:${cluster.queryPort}`;
  const run = (args: string[]): Promise<ProcessResult> =>
    runProcess(process.execPath, [kCli, ...args, '--admin-url', admin, '--query-url', query], { timeoutMs: 180_000 });
  return {
    ok: async (...args) => {
      const r = await run(args);
      assert.equal(r.status, 0, `clipper ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    },
    refused: async (cause, ...args) => {
      const r = await run(args);
      assert.equal(r.status, 1, `clipper ${args.join(' ')} should fail: ${r.stdout}`);
      assert.match(r.stderr, cause);
      return r.stderr;
    },
    conn: new ClipperConnection({ adminUrl: admin, queryUrl: query }),
  };
}

async function registerApp(cli: Cli, app: string): Promise<void> {
  await cli.ok('register-app', '--name', app, '--input-type', 'doubles', '--default-output', '-1', '--slo-micros', '20000000');
}

/** Every input of a case through the frontend, one query each; each answer close to the reference. */
async function assertAnswers(cli: Cli, app: string, c: Case, tolerance = 1e-4): Promise<void> {
  for (const [i, input] of c.inputs.entries()) {
    const answer = await cli.conn.predict(app, input);
    assert.equal(answer.default, false, `${app} input ${i}: ${answer.default_explanation}`);
    assertClose(answer.output, c.expected[i], tolerance, `${app} input ${i}`);
  }
}

function assertClose(actual: unknown, expected: unknown, tolerance: number, what: string): void {
  if (Array.isArray(expected)) {
    assert.ok(
      Array.isArray(actual) && actual.length === expected.length,
      `${what}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`,
    );
    for (const [i, e] of expected.entries()) assertClose(actual[i], e, tolerance, `${what}[${i}]`);
  } else if (typeof expected === 'number' && !Number.isInteger(expected)) {
    assert.ok(
      typeof actual === 'number' && Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
      `${what}: ${actual} vs ${expected}`,
    );
  } else {
    assert.equal(actual, expected, what);
  }
}

test('clipper deploy refuses a bad --framework, --runtime, entry or --option before it calls the server', async (t) => {
  const dir = await tempDir(t);
  const pt = path.join(dir, 'net.pt');
  await writeFile(pt, 'x');
  const cli = cliOf(null);
  const deploy = ['deploy', '--name', 'm', '--version', '1', '--input-type', 'doubles'];
  await cli.refused(
    /--framework must be one of python, node, sklearn, pytorch, xgboost, onnx \(got "tensorflow"\)/,
    ...deploy,
    '--framework',
    'tensorflow',
    '--entry',
    pt,
  );
  await cli.refused(
    /--runtime node cannot run --framework pytorch, which runs in the python runtime: leave --runtime out/,
    ...deploy,
    '--framework',
    'pytorch',
    '--runtime',
    'node',
    '--entry',
    pt,
  );
  await cli.refused(
    /--entry ".*net\.pt" is not a file framework onnx loads: give an ONNX model file/,
    ...deploy,
    '--framework',
    'onnx',
    '--entry',
    pt,
  );
  await cli.refused(
    /--framework \(python, node, sklearn, pytorch, xgboost, onnx\) or --runtime \(python, node\) is required/,
    ...deploy,
    '--entry',
    pt,
  );
  await cli.refused(
    /--option must be NAME=VALUE, e\.g\. --option threads=2 \(got threads\)/,
    ...deploy,
    '--framework',
    'pytorch',
    '--entry',
    pt,
    '--option',
    'threads',
  );
  await cli.refused(
    /--manager must be local, docker, kubernetes \(got k8s\)/,
    ...deploy,
    '--framework',
    'pytorch',
    '--entry',
    pt,
    '--manager',
    'k8s',
  );
});

const kMissingSklearn = missingPythonModules(['sklearn', 'numpy', 'msgpack']);

test('node and sklearn models deploy with --framework through the CLI and answer through the frontend', {
  skip: kMissingSklearn.length > 0 ? `/usr/bin/python3 lacks ${kMissingSklearn.join(', ')}` : false,
  timeout: kTestTimeoutMs,
}, async (t) => {
  const dir = await tempDir(t);
  const cases = await makeModels(dir, ['sklearn']);
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const cli = cliOf(cluster);
  await registerApp(cli, 'sums');
  const sum = path.join(kExampleModels, 'sum_model.mjs');
  await cli.ok(
    'deploy',
    '--name',
    'sum',
    '--version',
    '1',
    '--input-type',
    'doubles',
    '--framework',
    'node',
    '--entry',
    sum,
    '--app',
    'sums',
  );
  const info = await cli.conn.getModelInfo('sum', '1');
  assert.deepEqual(info?.container, { runtime: 'node', framework: 'node', entry: sum });
  // The first query: id 0, or with frontend threads the first id of whichever thread took the connection (k < N).
  const first = await cli.conn.predict('sums', [1, 2, 3.5]);
  assert.ok(first.query_id >= 0 && first.query_id < cluster.config.frontendThreads, JSON.stringify(first));
  assert.deepEqual(first, { query_id: first.query_id, output: 6.5, default: false });

  const sk = cases.sklearn!;
  await registerApp(cli, 'classes');
  await cli.ok(
    ...['deploy', '--name', 'clf', '--version', '1', '--input-type', 'doubles', '--framework', 'sklearn'],
    ...['--entry', path.join(dir, sk.file), '--function', 'predict', '--app', 'classes'],
  );
  await assertAnswers(cli, 'classes', sk);
  // An option of another framework is refused by the server too (400 naming it).
  await cli.refused(
    /HTTP 400, CLP_ERR_INVALID_ARG\).*container\.options\.device applies to framework pytorch or onnx only \(this spec's framework is sklearn\)/,
    ...['deploy', '--name', 'clf', '--version', '2', '--input-type', 'doubles', '--framework', 'sklearn'],
    ...['--entry', path.join(dir, sk.file), '--option', 'device=cpu'],
  );
});

/** A query the model cannot take: the app's default with the runner's reason; the replica keeps serving. */
async function assertBadInputAnswered(cli: Cli, app: string, input: number[], reason: RegExp, good: Case): Promise<void> {
  const answer = await cli.conn.predict(app, input);
  assert.equal(answer.default, true, JSON.stringify(answer));
  assert.equal(answer.output, -1);
  assert.match(answer.default_explanation ?? '', reason);
  const again = await cli.conn.predict(
    app,
    good.inputs[0]!.map((v) => v + 1e-3),
  );
  assert.equal(again.default, false, `after a bad batch: ${again.default_explanation}`);
}

const kMissingOnnx = missingPythonModules(['onnx', 'numpy']);

test('an ONNX model deploys with --framework onnx (CLI) and container.framework (TS client); a corrupt file fails the deploy', {
  skip: kMissingOnnx.length > 0 ? `/usr/bin/python3 lacks ${kMissingOnnx.join(', ')} (to build the test graphs)` : false,
  timeout: kTestTimeoutMs,
}, async (t) => {
  const dir = await tempDir(t);
  const made = await runPythonAsync([path.join(kRepoRoot, 'test', 'fixtures', 'python', 'make_onnx_models.py'), dir]);
  assert.equal(made.status, 0, made.stderr);
  const mlp = (JSON.parse(await readFile(path.join(dir, 'cases.json'), 'utf8')) as Record<string, MultiOutputCase>).mlp!;
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const cli = cliOf(cluster);
  await registerApp(cli, 'scores');
  await cli.ok(
    ...['deploy', '--name', 'mlp', '--version', '1', '--input-type', 'doubles', '--framework', 'onnx', '--entry', path.join(dir, mlp.file)],
    ...['--option', 'threads=1', '--option', 'device=cpu', '--app', 'scores'],
  );
  const scores = { file: mlp.file, inputs: mlp.inputs, expected: mlp.expected.scores! };
  await assertAnswers(cli, 'scores', scores);
  await assertBadInputAnswered(cli, 'scores', [1, 2, 3], /4/, scores);

  // The client names the output to answer with (container.function) and leaves the runtime out.
  await cli.conn.deployModel({
    name: 'mlp-label',
    version: '1',
    inputType: 'doubles',
    container: { framework: 'onnx', entry: path.join(dir, mlp.file), function: 'label' },
    numReplicas: 1,
  });
  assert.equal((await cli.conn.getModelInfo('mlp-label', '1'))?.container_name, `onnx:${path.join(dir, mlp.file)}`);
  await registerApp(cli, 'labels');
  await cli.conn.linkModelToApp('labels', 'mlp-label');
  await assertAnswers(cli, 'labels', { file: mlp.file, inputs: mlp.inputs, expected: mlp.expected.label! });

  const corrupt = path.join(dir, 'corrupt.onnx');
  const stderr = await cli.refused(
    /clipper deploy: failed \(HTTP 400, CLP_ERR_DEPLOY_FAILED\)/,
    ...['deploy', '--name', 'broken', '--version', '1', '--input-type', 'doubles', '--framework', 'onnx', '--entry', corrupt],
  );
  assert.ok(stderr.includes(corrupt), `the reason names the file: ${stderr}`);
  await assert.rejects(
    cli.conn.deployModel({ name: 'broken', version: '2', inputType: 'doubles', container: { framework: 'onnx', entry: corrupt } }),
    (err: unknown) => err instanceof ClipperClientError && err.code === 'CLP_ERR_DEPLOY_FAILED' && err.cause.includes(corrupt),
  );
  assert.deepEqual(
    (await cli.conn.getAllModels()).filter((m) => m.startsWith('broken')),
    [],
    'a failed deploy leaves nothing registered',
  );
});

interface MultiOutputCase {
  file: string;
  inputs: number[][];
  expected: Record<string, unknown[]>;
}

const kMissingTorch = missingPythonModules(['torch', 'numpy', 'msgpack']);

test('a PyTorch TorchScript model deploys with --framework pytorch; a bad file fails the deploy, a bad input one batch', {
  skip: kMissingTorch.length > 0 ? `/usr/bin/python3 lacks ${kMissingTorch.join(', ')} (Debian: python3-torch)` : false,
  timeout: kTestTimeoutMs,
}, async (t) => {
  const dir = await tempDir(t);
  const torch = (await makeModels(dir, ['pytorch'])).pytorch!;
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const cli = cliOf(cluster);
  await registerApp(cli, 'net');
  await cli.ok(
    ...['deploy', '--name', 'net', '--version', '1', '--input-type', 'doubles', '--framework', 'pytorch'],
    ...['--entry', path.join(dir, torch.file), '--option', 'device=cpu', '--option', 'threads=1', '--app', 'net'],
  );
  await assertAnswers(cli, 'net', torch);
  await assertBadInputAnswered(cli, 'net', [1, 2, 3], /\[1, 3\]|shape/, torch);

  const broken = path.join(dir, 'broken.pt');
  const stderr = await cli.refused(
    /clipper deploy: failed \(HTTP 400, CLP_ERR_DEPLOY_FAILED\)/,
    ...['deploy', '--name', 'broken', '--version', '1', '--input-type', 'doubles', '--framework', 'pytorch', '--entry', broken],
  );
  assert.ok(stderr.includes(broken), `the reason names the file: ${stderr}`);
});

const kMissingXgboost = missingPythonModules(['xgboost', 'numpy', 'msgpack']);

test('an XGBoost Booster deploys through the TypeScript client with container.framework xgboost', {
  skip: kMissingXgboost.length > 0 ? `/usr/bin/python3 lacks ${kMissingXgboost.join(', ')} (Debian: python3-xgboost)` : false,
  timeout: kTestTimeoutMs,
}, async (t) => {
  const dir = await tempDir(t);
  const xgb = (await makeModels(dir, ['xgboost'])).xgboost!;
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const cli = cliOf(cluster);
  await cli.conn.registerApplication({ name: 'boost', inputType: 'doubles', defaultOutput: '-1', sloMicros: 20_000_000 });
  const entry = path.join(dir, xgb.file);
  await cli.conn.deployModel({
    name: 'boost',
    version: '1',
    inputType: 'doubles',
    container: { framework: 'xgboost', entry, options: { threads: 1 } },
    numReplicas: 1,
  });
  assert.deepEqual((await cli.conn.getModelInfo('boost', '1'))?.container, {
    runtime: 'python',
    framework: 'xgboost',
    entry,
    options: { threads: 1 },
  });
  await cli.conn.linkModelToApp('boost', 'boost');
  await assertAnswers(cli, 'boost', xgb);
  await assertBadInputAnswered(cli, 'boost', [1, 2, 3], /feature|shape|column|4/i, xgb);
});
