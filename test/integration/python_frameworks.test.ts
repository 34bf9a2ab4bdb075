// The Python runner's frameworks (containers/python/clipper_container/frameworks.py): PyTorch
// (TorchScript files and the Python deployer's bundles, with pre/post hooks) and XGBoost (Booster
// files, sklearn-API files and pickles), spoken to directly over containers/PROTOCOL.md. Each model
// is made by test/fixtures/python/make_framework_models.py, which also calls it directly in its own
// framework for the reference outputs; batches of several sizes must give the same outputs through
// the runner. Bad model files fail the load naming the file and why; a batch of the wrong width gets
// an error for that batch and the runner keeps serving. Then the Python package deploys PyTorch,
// XGBoost and ONNX models to a real cluster (test/fixtures/python/deploy_frameworks.py) and the
// frontend answers as the models called directly do. Skips when /usr/bin/python3 lacks torch,
// xgboost or onnx (run npm run setup).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { kRepoRoot } from '../../src/paths.js';
import { postJson, startTestCluster } from '../helpers/cluster.js';
import { missingPythonModules, type PythonRunner, RunnerClient, runPython, runPythonAsync, startRunner } from './python_harness.js';

const kMissing = missingPythonModules(['msgpack', 'numpy', 'cloudpickle', 'torch', 'xgboost']);
const skip = kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')} (run npm run setup)` : false;
const kMakeModels = path.join(kRepoRoot, 'test', 'fixtures', 'python', 'make_framework_models.py');

type NumericType = 'doubles' | 'floats' | 'integers';
interface Batch {
  inputs: number[][];
  outputs: unknown[];
}
interface Case {
  file: string;
  framework: string;
  function: string;
  input_type: NumericType;
  batches: Batch[];
}
interface Fixtures {
  cases: Case[];
  bad: Record<string, string>;
  probe: string;
}

/** The runner with framework flags (`args`: --framework, --device, --threads) after the common ones. */
function startFrameworkRunner(
  model: string,
  fn: string,
  inputType: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<PythonRunner> {
  return startRunner({ model, function: fn, name: 'm', version: '1', inputType, env, args });
}

/** Equal up to float rounding (float32 models answer the same batch through different kernels). */
function assertClose(actual: unknown, expected: unknown, where: string): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${where}: ${actual} vs ${expected}`);
  } else if (Array.isArray(expected)) {
    assert.ok(
      Array.isArray(actual) && actual.length === expected.length,
      `${where}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`,
    );
    expected.forEach((e, i) => {
      assertClose((actual as unknown[])[i], e, `${where}[${i}]`);
    });
  } else if (typeof expected === 'object' && expected !== null) {
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), where);
    for (const [k, e] of Object.entries(expected)) assertClose((actual as Record<string, unknown>)[k], e, `${where}.${k}`);
  } else {
    assert.deepEqual(actual, expected, where);
  }
}

describe('python runner frameworks', { skip }, () => {
  let dir = '';
  let fixtures: Fixtures = { cases: [], bad: {}, probe: '' };
  const runners: PythonRunner[] = [];
  const start = async (model: string, fn: string, inputType: string, args: string[]): Promise<RunnerClient> => {
    const runner = await startFrameworkRunner(model, fn, inputType, args);
    runners.push(runner);
    const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: inputType });
    assert.equal((await client.ready).t, 'ready');
    return client;
  };
  const loadError = async (model: string, args: string[], fn = 'predict', env: Record<string, string> = {}): Promise<string> => {
    let message = '';
    await assert.rejects(startFrameworkRunner(model, fn, 'doubles', args, env), (err: Error) => {
      message = err.message;
      return true;
    });
    return message;
  };

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-py-fw-'));
    const made = runPython([kMakeModels, dir]);
    assert.equal(made.status, 0, made.stderr);
    fixtures = JSON.parse(made.stdout) as Fixtures;
  });
  after(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const framework of ['pytorch', 'xgboost']) {
    it(`answers every ${framework} model as the model called directly does, for batches of 1, 3 and 8`, async () => {
      const cases = fixtures.cases.filter((c) => c.framework === framework);
      assert.ok(cases.length >= 4, `the fixture made ${cases.length} ${framework} models`);
      for (const c of cases) {
        const client = await start(c.file, c.function, c.input_type, ['--framework', framework]);
        for (const batch of c.batches) {
          const answer = await client.predict(c.input_type, batch.inputs);
          assert.equal(answer.t, 'result', `${path.basename(c.file)} ${c.function}: ${JSON.stringify(answer)}`);
          assertClose(answer.outputs, batch.outputs, `${path.basename(c.file)} ${c.function} n=${batch.inputs.length}`);
        }
        client.close();
      }
    });
  }

  it('answers a batch of the wrong width or of unequal lengths with an error for that batch, then keeps serving', async () => {
    const torchCase = fixtures.cases.find((c) => c.file.endsWith('tiny.pt'))!;
    const torch = await start(torchCase.file, 'predict', 'doubles', ['--framework', 'pytorch']);
    const narrow = await torch.predict('doubles', [[1, 2, 3]]);
    assert.equal(narrow.t, 'error');
    assert.equal(narrow.id, torch.lastId);
    assert.match(
      String(narrow.message),
      /^PredictError: the model failed on a batch of 1 inputs \(tensor \[1, 3\] float32\): RuntimeError: mat1 and mat2/,
    );
    const ragged = await torch.predict('doubles', [
      [1, 2, 3, 4],
      [1, 2],
    ]);
    assert.match(String(ragged.message), /must have the same length \(got lengths 2, 4\)/);
    const good = await torch.predict('doubles', torchCase.batches[0]!.inputs);
    assertClose(good.outputs, torchCase.batches[0]!.outputs, 'after the errors');
    torch.close();

    const xgbCase = fixtures.cases.find((c) => c.file.endsWith('clf.json') && c.function === 'predict_proba')!;
    const xgb = await start(xgbCase.file, 'predict_proba', 'doubles', ['--framework', 'xgboost']);
    const wide = await xgb.predict('doubles', [[1, 2, 3, 4, 5, 6]]);
    assert.equal(wide.t, 'error');
    assert.equal(wide.message, 'PredictError: this model takes 5 features per input, got 6');
    assertClose((await xgb.predict('doubles', xgbCase.batches[1]!.inputs)).outputs, xgbCase.batches[1]!.outputs, 'after the error');
    xgb.close();
  });

  it('runs PyTorch under inference_mode with --threads intra-op threads (default 1) on the CPU here', async () => {
    for (const [args, threads] of [
      [[], 1],
      [['--threads', '2', '--device', 'cpu'], 2],
    ] as const) {
      const client = await start(fixtures.probe, 'predict', 'floats', ['--framework', 'pytorch', ...args]);
      const answer = await client.predict('floats', [[1], [2]]);
      const state = { threads, device: 'cpu', inference_mode: true, dtype: 'torch.float32' };
      assert.deepEqual(answer.outputs, [state, state]);
      client.close();
    }
  });

  it('refuses to load a bad model file, naming the file and why', async () => {
    const { bad } = fixtures;
    const cases: Array<[string, string, RegExp]> = [
      [
        bad.garbage_pt!,
        'pytorch',
        /garbage\.pt is not a TorchScript archive \(save the model with torch\.jit\.save.*\): PytorchStreamReader failed/,
      ],
      [bad.state_dict_pt!, 'pytorch', /state_dict_only\.pt is not a TorchScript archive \(.*a state dict alone needs its module class\)/],
      [bad.not_bundle_pkl!, 'pytorch', /not_bundle\.pkl is not a PyTorch model bundle: it holds a dict/],
      [bad.garbage_json!, 'xgboost', /garbage\.json is not an XGBoost model file \(save one with Booster\.save_model/],
      [bad.wrong_class_pkl!, 'xgboost', /wrong_class\.pkl holds a list, not an XGBoost model/],
      [fixtures.probe, 'xgboost', /probe\.pkl holds a dict, not an XGBoost model/],
      [path.join(dir, 'missing.pt'), 'pytorch', /model file .*missing\.pt does not exist/],
    ];
    for (const [model, framework, pattern] of cases) {
      const message = await loadError(model, ['--framework', framework]);
      assert.match(message, /exited with code 1/);
      assert.match(message, pattern);
    }
    const plainBooster = fixtures.cases.find((c) => c.file.endsWith('booster.json'))!.file;
    assert.match(await loadError(plainBooster, ['--framework', 'xgboost'], 'predict_proba'), /is a plain Booster, which has only predict/);
  });

  it('exits with a clear message for a framework, device or thread count it cannot serve', async () => {
    const model = fixtures.probe;
    assert.match(await loadError(model, ['--framework', 'onnx']), /framework onnx runs in the Node runner \(runtime node\)/);
    assert.match(
      await loadError(model, ['--framework', 'tensorflow']),
      /unknown framework 'tensorflow': this runner serves python, sklearn/,
    );
    assert.match(await loadError(model, ['--framework', 'pytorch', '--threads', '0']), /--threads must be an integer from 1 to 256/);
    assert.match(await loadError(model, ['--framework', 'pytorch', '--device', 'tpu']), /--device must be one of cpu, cuda, auto/);
    const cuda = runPython(['-c', 'import torch; print(torch.cuda.is_available())']);
    if (cuda.stdout.trim() === 'False') {
      assert.match(
        await loadError(model, ['--framework', 'pytorch', '--device', 'cuda']),
        /device cuda: this machine has no GPU PyTorch can use/,
      );
    }
  });

  it('names the Debian package when PyTorch or XGBoost is not installed', async () => {
    // Stand-ins first on the path that fail to import, as a missing package does.
    const fake = path.join(dir, 'no-frameworks');
    for (const name of ['torch', 'xgboost']) {
      mkdirSync(path.join(fake, name), { recursive: true });
      writeFileSync(path.join(fake, name, '__init__.py'), `raise ImportError('No module named ${name} (test stand-in)')\n`);
    }
    const env = { PYTHONPATH: fake };
    const torchFile = fixtures.cases.find((c) => c.file.endsWith('tiny.pt'))!.file;
    assert.match(
      await loadError(torchFile, ['--framework', 'pytorch'], 'predict', env),
      /framework pytorch needs PyTorch: install the Debian package python3-torch/,
    );
    const xgbFile = fixtures.cases.find((c) => c.file.endsWith('reg.ubj'))!.file;
    assert.match(
      await loadError(xgbFile, ['--framework', 'xgboost'], 'predict', env),
      /framework xgboost needs XGBoost: install the Debian package python3-xgboost/,
    );
  });

  it('does not import PyTorch or XGBoost for a plain Python model', async () => {
    const model = path.join(dir, 'which_modules.py');
    writeFileSync(
      model,
      "import sys\n\ndef predict(inputs):\n    return [sorted({'torch', 'xgboost'} & set(sys.modules))] * len(inputs)\n",
    );
    const client = await start(model, 'predict', 'doubles', []);
    assert.deepEqual((await client.predict('doubles', [[1]])).outputs, [[]]);
    client.close();
  });
});

const kMissingFrontend = missingPythonModules(['msgpack', 'numpy', 'cloudpickle', 'torch', 'xgboost', 'onnx']);
const skipFrontend = kMissingFrontend.length > 0 ? `/usr/bin/python3 lacks ${kMissingFrontend.join(', ')} (run npm run setup)` : false;
const kDeployScript = path.join(kRepoRoot, 'test', 'fixtures', 'python', 'deploy_frameworks.py');

interface DeployReport {
  apps: Record<string, { inputs: number[][]; outputs: unknown[]; input_type: NumericType }>;
  errors: Record<string, string | null>;
}

test('PyTorch, XGBoost and ONNX models deployed with the Python package answer through the real frontend', {
  skip: skipFrontend,
  timeout: 600_000,
}, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-py-fw-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const savedModelsDir = process.env.CLIPPER_MODELS_DIR;
  process.env.CLIPPER_MODELS_DIR = dir; // where the server stores uploads (read per request)
  t.after(() => {
    if (savedModelsDir === undefined) delete process.env.CLIPPER_MODELS_DIR;
    else process.env.CLIPPER_MODELS_DIR = savedModelsDir;
  });
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const adminUrl = `http://127.0.0.1:${cluster.adminPort}`;
  const run = await runPythonAsync([kDeployScript, adminUrl, `http://127.0.0.1:${cluster.queryPort}`], {}, 300_000);
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as DeployReport;

  for (const [app, { inputs, outputs }] of Object.entries(report.apps)) {
    // All at once, so that adaptive batching puts several in one batch.
    const answers = await Promise.all(inputs.map((input) => postJson(cluster.queryPort, `/${app}/predict`, { input })));
    answers.forEach((answer, i) => {
      assert.equal(answer.status, 200, `${app} #${i}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.default, false, `${app} #${i}: ${JSON.stringify(answer.body)}`);
      assertClose(answer.body.output, outputs[i], `${app} #${i}`);
    });
  }

  // A wrong width fails that batch in the replica: the app's default output, with the reason.
  const narrow = await postJson(cluster.queryPort, '/fw-torch/predict', { input: [1, 2] });
  assert.equal(narrow.body.default, true);
  assert.equal(narrow.body.output, 'torch-default');
  assert.match(narrow.body.default_explanation, /mat1 and mat2 shapes cannot be multiplied/);
  const wide = await postJson(cluster.queryPort, '/fw-xgb/predict', { input: [1, 2, 3, 4] });
  assert.equal(wide.body.output, 'xgb-default');
  assert.match(wide.body.default_explanation, /this model takes 3 features per input, got 4/);
  const good = await postJson(cluster.queryPort, '/fw-torch/predict', { input: report.apps['fw-torch']!.inputs[0] });
  assert.equal(good.body.default, false, 'the replica keeps serving');

  // A bad model file fails its deploy, naming the file and why.
  for (const [name, message] of Object.entries(report.errors)) t.diagnostic(`${name}: ${message}`);
  assert.match(String(report.errors.torch_garbage), /model\.pt is not a TorchScript archive/);
  assert.match(String(report.errors.onnx_garbage), /model\.onnx/);
  assert.match(
    String(report.errors.unknown_framework),
    /ValueError: framework must be one of python, sklearn, pytorch, xgboost, onnx, node/,
  );
});
