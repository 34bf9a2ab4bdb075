// ONNX models in the Node runner (`--framework onnx`, containers/node/onnx_model.ts): small graphs
// built by test/fixtures/python/make_onnx_models.py with python3-onnx, whose answers that script
// computes with numpy, independently of ONNX Runtime. The runner is driven over the real container
// protocol for several batch sizes, then deployed through a real cluster and its frontend. Bad
// models and inputs fail clearly: at load (the runner exits naming the file) or per batch (an error
// for that batch, and the runner keeps serving). Skips when /usr/bin/python3 lacks onnx or numpy.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, test, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { kNodeRunnerPath, kRepoRoot } from '../../src/paths.js';
import { postJson, startTestCluster } from '../helpers/cluster.js';
import { runProcess } from '../helpers/run_process.js';
import { missingPythonModules, runPythonAsync, RunnerClient } from './python_harness.js';

const kMissing = missingPythonModules(['onnx', 'numpy']);
const skip = kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')} (install python3-onnx, python3-numpy)` : false;

interface Case {
  file: string;
  inputs: number[][];
  expected: Record<string, unknown[]>;
}

let dir = '';
let cases: Record<'mlp' | 'fixed' | 'int_sum' | 'var_width', Case>;
if (skip === false) {
  dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-onnx-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const made = await runPythonAsync([path.join(kRepoRoot, 'test', 'fixtures', 'python', 'make_onnx_models.py'), dir]);
  assert.equal(made.status, 0, made.stderr);
  cases = JSON.parse(await readFile(path.join(dir, 'cases.json'), 'utf8')) as typeof cases;
}

type NumericType = 'doubles' | 'floats' | 'integers';

function runnerArgs(file: string, type: NumericType): string[] {
  return [kNodeRunnerPath, '--model', path.join(dir, file), '--name', 'm', '--version', '1', '--input-type', type, '--framework', 'onnx'];
}

/** Starts the Node runner on `file` as the local-process manager does; a client past its handshake. */
async function startOnnxRunner(t: TestContext, file: string, type: NumericType, extra: string[] = []): Promise<RunnerClient> {
  const child = spawn(process.execPath, [...runnerArgs(file, type), ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => setImmediate(() => reject(new Error(`runner exited ${code}: ${stderr}`))));
  });
  const client = await RunnerClient.open(port, { model: 'm', version: '1', input_type: type });
  t.after(() => client.close());
  assert.equal((await client.ready).t, 'ready');
  return client;
}

/** Runs the runner expecting it to refuse to start; its exit status and stderr. */
async function failedStart(file: string, type: NumericType, extra: string[] = [], nodeArgs: string[] = []) {
  const result = await runProcess(process.execPath, [...nodeArgs, ...runnerArgs(file, type), ...extra], { timeoutMs: 60_000 });
  assert.notEqual(result.status, 0, `the runner should refuse ${file} ${extra.join(' ')}; it printed ${result.stdout}`);
  assert.ok(!result.stdout.includes('clipper_ready'), 'no ready line');
  return result;
}

/** Deep comparison where numbers may differ by float32 rounding. */
function assertClose(actual: unknown, expected: unknown, where: string): void {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${where}: ${JSON.stringify(actual)}`);
    const tolerance = 1e-5 + 1e-5 * Math.abs(expected);
    assert.ok(Math.abs((actual as number) - expected) <= tolerance, `${where}: got ${actual as number}, numpy says ${expected}`);
    return;
  }
  assert.ok(Array.isArray(expected) && Array.isArray(actual), `${where}: ${JSON.stringify(actual)}`);
  assert.equal(actual.length, expected.length, `${where}: length`);
  for (let i = 0; i < expected.length; i++) assertClose(actual[i], expected[i], `${where}[${i}]`);
}

/** Sends `inputs` in batches of the given sizes (in order); the outputs, concatenated. */
async function predictInBatches(client: RunnerClient, type: NumericType, inputs: number[][], sizes: number[]): Promise<unknown[]> {
  const outputs: unknown[] = [];
  let from = 0;
  for (const size of sizes) {
    const reply = await client.predict(type, inputs.slice(from, from + size));
    assert.equal(reply.t, 'result', JSON.stringify(reply));
    outputs.push(...(reply.outputs as unknown[]));
    from += size;
  }
  assert.equal(from, inputs.length, 'the batch sizes cover every input');
  return outputs;
}

test('an MLP exported to ONNX answers like numpy, for batches of 1, 3 and 5 inputs', { skip }, async (t) => {
  const mlp = cases.mlp;
  // A float32 model fed doubles (converted in one pass), predicting on the runner's worker thread.
  const doubles = await startOnnxRunner(t, mlp.file, 'doubles');
  assertClose(await predictInBatches(doubles, 'doubles', mlp.inputs, [1, 3, 5]), mlp.expected.scores, 'scores');
  // Fed floats (its own type: a view of the frame's bytes), inline, two intra-op threads, the int64 output by name.
  const floats = await startOnnxRunner(t, mlp.file, 'floats', ['--function', 'label', '--isolate', 'inline', '--threads', '2']);
  assert.deepEqual(await predictInBatches(floats, 'floats', mlp.inputs, [5, 1, 3]), mlp.expected.label);
  // One batch of all of them at once gives the same answers.
  assertClose(await predictInBatches(doubles, 'doubles', mlp.inputs, [mlp.inputs.length]), mlp.expected.scores, 'scores');
});

test('a model with a fixed batch dimension of 2 answers any batch size (chunks of 2, the last padded)', { skip }, async (t) => {
  const fixed = cases.fixed;
  const client = await startOnnxRunner(t, fixed.file, 'doubles', ['--isolate', 'inline']);
  assertClose(await predictInBatches(client, 'doubles', fixed.inputs, [1, 2, 2]), fixed.expected.y, 'y');
  assertClose(await predictInBatches(client, 'doubles', fixed.inputs, [5]), fixed.expected.y, 'y');
  assertClose(await predictInBatches(client, 'doubles', fixed.inputs, [3, 2]), fixed.expected.y, 'y');
});

test('an int64 model takes integers; deployed for doubles it is refused at load', { skip }, async (t) => {
  const sum = cases.int_sum;
  const client = await startOnnxRunner(t, sum.file, 'integers');
  assert.deepEqual(await predictInBatches(client, 'integers', sum.inputs, [1, 3]), sum.expected.total);
  const refused = await failedStart(sum.file, 'doubles');
  assert.match(
    refused.stderr,
    /int_sum\.onnx: input 'x' is int64 but this model version takes doubles; deploy it with input type integers/,
  );
});

test('a variable inner dimension is read from each input; mixed widths in one batch each get their answer', { skip }, async (t) => {
  const v = cases.var_width;
  const nested = await startOnnxRunner(t, v.file, 'floats');
  assert.deepEqual(await predictInBatches(nested, 'floats', v.inputs, [v.inputs.length]), v.expected.doubled);
  const totals = await startOnnxRunner(t, v.file, 'doubles', ['--function', 'total', '--isolate', 'inline']);
  assert.deepEqual(await predictInBatches(totals, 'doubles', v.inputs, [2, 3]), v.expected.total);
  // Shape [N, 2, W]: an odd number of values cannot be split into 2 rows.
  const odd = await totals.predict('doubles', [[1, 2, 3]]);
  assert.equal(odd.t, 'error');
  assert.match(String(odd.message), /input 0 has 3 values; model input 'x' takes a multiple of 2 per input \(shape \[N, 2, W\]/);
});

test('an input of the wrong width fails its batch with a clear error, and the runner keeps serving', { skip }, async (t) => {
  const mlp = cases.mlp;
  const client = await startOnnxRunner(t, mlp.file, 'doubles');
  const bad = await client.predict('doubles', [mlp.inputs[0]!, [1, 2, 3]]);
  assert.equal(bad.t, 'error');
  assert.equal(bad.id, client.lastId, 'the error names the batch');
  assert.match(String(bad.message), /input 1 has 3 values; model input 'x' takes 4 per input \(shape \[N, 4\]/);
  const empty = await client.predict('doubles', []);
  assert.deepEqual(empty.outputs, []);
  assertClose(await predictInBatches(client, 'doubles', mlp.inputs.slice(0, 2), [2]), mlp.expected.scores!.slice(0, 2), 'after');
});

test('bad models and flags stop the runner before its ready line, with a message naming the problem', { skip }, async () => {
  const corrupt = await failedStart('corrupt.onnx', 'doubles');
  assert.match(corrupt.stderr, /cannot load ONNX model .*corrupt\.onnx: .*[Pp]rotobuf parsing failed/);
  const absent = await failedStart('absent.onnx', 'doubles');
  assert.match(absent.stderr, /cannot load ONNX model .*absent\.onnx/);
  const two = await failedStart('two_inputs.onnx', 'doubles');
  assert.match(two.stderr, /two_inputs\.onnx has 2 inputs \(a, b\); the runner feeds exactly one input tensor/);
  const noOutput = await failedStart(cases.mlp.file, 'doubles', ['--function', 'probabilities']);
  assert.match(noOutput.stderr, /mlp\.onnx has no output named 'probabilities' \(its outputs: scores, label\)/);
  const strings = await failedStart(cases.mlp.file, 'strings' as NumericType);
  assert.match(strings.stderr, /framework onnx takes doubles, floats or integers; this model version's input type is strings/);
  const framework = await failedStart(cases.mlp.file, 'doubles', ['--framework', 'pytorch']);
  assert.match(framework.stderr, /--framework must be 'node' or 'onnx' for the Node runner \(got pytorch\)/);
  const threads = await failedStart(cases.mlp.file, 'doubles', ['--threads', '0']);
  assert.match(threads.stderr, /--threads must be an integer from 1 to 256 \(got 0\)/);
});

test('without onnxruntime-node the runner exits naming the npm package, on either isolate', { skip }, async () => {
  // A resolve hook that answers as Node does when the package is not installed.
  const hooks = path.join(dir, 'no_ort_hooks.mjs');
  await writeFile(
    hooks,
    "export async function resolve(specifier, context, next) {\n  if (specifier === 'onnxruntime-node') {\n" +
      '    const err = new Error("Cannot find package \'onnxruntime-node\' imported from " + context.parentURL);\n' +
      "    err.code = 'ERR_MODULE_NOT_FOUND';\n    throw err;\n  }\n  return next(specifier, context);\n}\n",
  );
  const register = path.join(dir, 'no_ort_register.mjs');
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  for (const isolate of ['inline', 'thread']) {
    const missing = await failedStart(cases.mlp.file, 'doubles', ['--isolate', isolate], ['--import', pathToFileURL(register).href]);
    assert.match(missing.stderr, /framework onnx needs onnxruntime-node: npm install onnxruntime-node/, isolate);
  }
});

test('deployed with container.framework onnx, the model answers through the real frontend', { skip }, async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const admin = (route: string, body: unknown) => postJson(cluster.adminPort, `/admin/${route}`, body);
  const app = { name: 'onnx-app', input_type: 'doubles', default_output: '"fallback"', latency_slo_micros: 5_000_000 };
  assert.equal((await admin('add_app', app)).status, 200);
  const model = { model_name: 'mlp', model_version: '1', input_type: 'doubles', labels: [], num_replicas: 1 };
  const added = await admin('add_model', {
    ...model,
    container: { framework: 'onnx', entry: path.join(dir, cases.mlp.file), options: { threads: 1 } },
  });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.equal((await admin('add_model_links', { app_name: app.name, model_names: ['mlp'] })).status, 200);
  // Concurrent queries, so the batcher may put several into one frame.
  const answers = await Promise.all(cases.mlp.inputs.map((input) => postJson(cluster.queryPort, `/${app.name}/predict`, { input })));
  answers.forEach((answer, i) => {
    assert.equal(answer.body.default, false, JSON.stringify(answer.body));
    assertClose(answer.body.output, cases.mlp.expected.scores![i], `query ${i}`);
  });
  const wrong = await postJson(cluster.queryPort, `/${app.name}/predict`, { input: [1, 2, 3] });
  assert.equal(wrong.body.default, true);
  assert.equal(wrong.body.output, 'fallback');
  assert.match(wrong.body.default_explanation, /input 0 has 3 values; model input 'x' takes 4 per input/);
  const again = await postJson(cluster.queryPort, `/${app.name}/predict`, { input: cases.mlp.inputs[0] });
  assertClose(again.body.output, cases.mlp.expected.scores![0], 'after the bad query');
  // A corrupt file: the deploy fails with the replica's own reason, naming the file.
  const corrupt = await admin('add_model', {
    ...model,
    model_name: 'corrupt',
    container: { framework: 'onnx', entry: path.join(dir, 'corrupt.onnx') },
  });
  assert.equal(corrupt.status, 400, JSON.stringify(corrupt.body));
  assert.equal(corrupt.body.code, 'CLP_ERR_DEPLOY_FAILED');
  assert.match(corrupt.body.cause, /cannot load ONNX model .*corrupt\.onnx/);
});
