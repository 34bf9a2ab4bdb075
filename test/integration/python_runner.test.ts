// The Python container runner (containers/python/clipper_container/runner.py), spoken to directly
// over containers/PROTOCOL.md: input decoding per type, output conversion, batch errors, heartbeats
// during a long predict, handshake checks, protocol errors, load failures, and a pickled sklearn
// model. Skips (saying which modules are missing) when /usr/bin/python3 lacks them.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { kRepoRoot } from '../../src/paths.js';
import { checkReplicaAuth } from '../../src/rpc/replica_auth.js';
import { missingPythonModules, type PythonRunner, RunnerClient, runPython, startRunner } from './python_harness.js';

const kMissingBase = missingPythonModules(['msgpack', 'numpy']);
const kMissingSklearn = missingPythonModules(['msgpack', 'numpy', 'sklearn', 'cloudpickle']);
const kSkipBase = kMissingBase.length > 0 ? `/usr/bin/python3 lacks ${kMissingBase.join(', ')} (run npm run setup)` : false;
const kSkipSklearn = kMissingSklearn.length > 0 ? `/usr/bin/python3 lacks ${kMissingSklearn.join(', ')} (run npm run setup)` : false;

const kModelSource = `
import time
import numpy as np

def describe(inputs):
    """Reports how the runner handed the batch over; first elements steer failure cases."""
    first = inputs[0][0] if len(inputs) else None
    if first == 1000:
        raise ValueError('bad input 1000')
    if first == 3000:
        time.sleep(float(inputs[0][1]))
    kind = 'ndarray' if isinstance(inputs, np.ndarray) else type(inputs).__name__
    shape = list(inputs.shape) if isinstance(inputs, np.ndarray) else None
    outputs = [{'batch': kind, 'shape': shape, 'item': type(x).__name__, 'dtype': str(x.dtype),
                'sum': x.sum(), 'doubled': x * 2} for x in inputs]
    if first == 2000:
        return outputs[:-1]
    return outputs

def shout(inputs):
    assert isinstance(inputs, list)
    return np.array([s.upper() + '!' for s in inputs], dtype=object)

def reverse(inputs):
    return [bytes(reversed(b)) if isinstance(b, bytes) else 'not bytes' for b in inputs]

class Opaque:
    def __str__(self):
        return 'opaque-object'

def odd_outputs(inputs):
    return [Opaque() if x[0] == 0 else np.int64(7) for x in inputs]
`;

describe('python runner', { skip: kSkipBase }, () => {
  let dir = '';
  let modelPath = '';
  const runners: PythonRunner[] = [];
  const start = async (fn: string, inputType: string): Promise<PythonRunner> => {
    const runner = await startRunner({ model: modelPath, function: fn, name: 'm', version: '1', inputType });
    runners.push(runner);
    return runner;
  };

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-py-'));
    modelPath = path.join(dir, 'models.py');
    writeFileSync(modelPath, kModelSource);
  });
  after(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  describe('doubles', () => {
    let runner: PythonRunner;
    before(async () => {
      runner = await start('describe', 'doubles');
    });

    it('hands equal-length inputs over as one 2-D float64 array', async () => {
      const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles' });
      const ready = await client.ready;
      assert.equal(ready.t, 'ready');
      assert.equal((ready as { pid: number }).pid, runner.pid);
      const result = await client.predict('doubles', [
        [1.5, 2.5, 3],
        [4, 5, 6.25],
      ]);
      assert.equal(result.t, 'result');
      assert.deepEqual((result as { outputs: unknown[] }).outputs, [
        { batch: 'ndarray', shape: [2, 3], item: 'ndarray', dtype: 'float64', sum: 7, doubled: [3, 5, 6] },
        { batch: 'ndarray', shape: [2, 3], item: 'ndarray', dtype: 'float64', sum: 15.25, doubled: [8, 10, 12.5] },
      ]);
      client.close();
    });

    it('hands unequal-length inputs over as a list of 1-D arrays', async () => {
      const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles' });
      await client.ready;
      const result = await client.predict('doubles', [[1, 2], [3], [4, 5, 6]]);
      assert.deepEqual((result as { outputs: unknown[] }).outputs, [
        { batch: 'list', shape: null, item: 'ndarray', dtype: 'float64', sum: 3, doubled: [2, 4] },
        { batch: 'list', shape: null, item: 'ndarray', dtype: 'float64', sum: 3, doubled: [6] },
        { batch: 'list', shape: null, item: 'ndarray', dtype: 'float64', sum: 15, doubled: [8, 10, 12] },
      ]);
      client.close();
    });

    it('answers an exception in predict with an error frame for that batch and keeps serving', async () => {
      const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles' });
      await client.ready;
      const failed = await client.predict('doubles', [
        [1000, 1],
        [2, 3],
      ]);
      assert.equal(failed.t, 'error');
      assert.equal((failed as { id: number }).id, client.lastId);
      assert.equal((failed as { message: string }).message, 'ValueError: bad input 1000');
      const next = await client.predict('doubles', [[2, 3]]);
      assert.equal(next.t, 'result');
      assert.equal((next as { id: number }).id, client.lastId);
      assert.equal((next as { outputs: Array<{ sum: number }> }).outputs[0]!.sum, 5);
      client.close();
    });

    it('fails a batch whose output count differs from its input count, naming both counts', async () => {
      const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles' });
      await client.ready;
      const failed = await client.predict('doubles', [[2000], [1], [2]]);
      assert.equal(failed.t, 'error');
      assert.equal((failed as { id: number }).id, client.lastId);
      assert.match((failed as { message: string }).message, /predict returned 2 outputs for 3 inputs/);
      assert.equal((await client.predict('doubles', [[1], [2]])).t, 'result');
      client.close();
    });

    it('keeps heartbeating while a predict runs longer than the heartbeat interval', async () => {
      const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles', heartbeat_ms: 100 });
      await client.ready;
      client.heartbeats = 0;
      const result = await client.predict('doubles', [[3000, 0.3]]);
      assert.equal(result.t, 'result');
      assert.ok(client.heartbeats >= 1, `expected heartbeats during a 300 ms predict, got ${client.heartbeats}`);
      client.close();
    });

    it('rejects a hello for another model, version, input type or protocol with a fatal error and closes', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ model: 'other', version: '1', input_type: 'doubles' }, /serves m:1, not other:1/],
        [{ model: 'm', version: '2', input_type: 'doubles' }, /serves m:1, not m:2/],
        [{ model: 'm', version: '1', input_type: 'strings' }, /takes doubles, not strings/],
        [{ model: 'm', version: '1', input_type: 'doubles', protocol: 2 }, /protocol 2 not supported/],
      ];
      for (const [hello, pattern] of cases) {
        const client = await RunnerClient.open(runner.port, hello);
        const answer = await client.ready;
        assert.equal(answer.t, 'error');
        assert.equal((answer as { id?: number }).id, undefined);
        assert.match((answer as { message: string }).message, pattern);
        await client.closed;
      }
    });

    it('closes a connection that sends garbage while another connection keeps working', async () => {
      const good = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles' });
      await good.ready;
      const garbage = [
        Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]), // 0xc1 is never valid msgpack
        Buffer.from([0xff, 0xff, 0xff, 0xff]), // 4 GiB frame
        Buffer.from([0, 0, 0, 1, 0x07]), // a msgpack int, not a map
      ];
      for (const bytes of garbage) {
        const bad = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles' });
        await bad.ready;
        bad.writeRaw(bytes);
        const answer = await bad.next();
        assert.equal(answer.t, 'error');
        assert.equal((answer as { id?: number }).id, undefined);
        await bad.closed;
      }
      const result = await good.predict('doubles', [[1, 1]]);
      assert.equal(result.t, 'result');
      good.close();
    });
  });

  it('hands floats and integers over with their own dtypes and converts numpy scalars', async () => {
    for (const [type, dtype] of [
      ['floats', 'float32'],
      ['integers', 'int32'],
    ] as const) {
      const runner = await start('describe', type);
      const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: type });
      await client.ready;
      const result = await client.predict(type, [
        [1, 2],
        [3, -4],
      ]);
      assert.deepEqual((result as { outputs: unknown[] }).outputs, [
        { batch: 'ndarray', shape: [2, 2], item: 'ndarray', dtype, sum: 3, doubled: [2, 4] },
        { batch: 'ndarray', shape: [2, 2], item: 'ndarray', dtype, sum: -1, doubled: [6, -8] },
      ]);
      client.close();
    }
  });

  it('turns objects msgpack cannot carry into their str()', async () => {
    const runner = await start('odd_outputs', 'integers');
    const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'integers' });
    await client.ready;
    const result = await client.predict('integers', [[0], [1]]);
    assert.deepEqual((result as { outputs: unknown[] }).outputs, ['opaque-object', 7]);
    client.close();
  });

  it('hands strings over as a list of str', async () => {
    const runner = await start('shout', 'strings');
    const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'strings' });
    await client.ready;
    const result = await client.predictItems('strings', ['hi', 'ünïcode', '']);
    assert.deepEqual((result as { outputs: unknown[] }).outputs, ['HI!', 'ÜNÏCODE!', '!']);
    client.close();
  });

  it('hands bytes over as a list of bytes and returns bytes as bin', async () => {
    const runner = await start('reverse', 'bytes');
    const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'bytes' });
    await client.ready;
    const result = await client.predictItems('bytes', [Buffer.from([1, 2, 3]), Buffer.from([0xff])]);
    const outputs = (result as { outputs: Uint8Array[] }).outputs;
    assert.deepEqual(
      outputs.map((o) => [...o]),
      [[3, 2, 1], [0xff]],
    );
    client.close();
  });

  it('exits non-zero before the ready line, with the reason on stderr, when the model cannot load', async () => {
    const badPickle = path.join(dir, 'bad.pkl');
    writeFileSync(badPickle, Buffer.from('this is not a pickle'));
    const badImport = path.join(dir, 'bad_import.py');
    writeFileSync(badImport, 'import clipper_no_such_module_xyz\n');
    const cases: Array<[string, string, RegExp]> = [
      [badPickle, 'predict', /UnpicklingError/],
      [badImport, 'predict', /ModuleNotFoundError.*clipper_no_such_module_xyz/],
      [modelPath, 'no_such_function', /does not define a function named 'no_such_function'/],
      [path.join(dir, 'missing.py'), 'predict', /does not exist/],
    ];
    for (const [model, fn, pattern] of cases) {
      await assert.rejects(startRunner({ model, function: fn, name: 'm', version: '1', inputType: 'doubles' }), (err: Error) => {
        assert.match(err.message, /exited with code 1 before the ready line/);
        assert.match(err.message, pattern);
        return true;
      });
    }
  });

  it('exits when its stdin reaches end-of-file', async () => {
    const runner = await startRunner({ model: modelPath, function: 'describe', name: 'm', version: '1', inputType: 'doubles' });
    const exit = await runner.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  it('says bye to its connections and exits 0 on SIGTERM and on SIGINT', async () => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const runner = await startRunner({ model: modelPath, function: 'describe', name: 'm', version: '1', inputType: 'doubles' });
      const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles' });
      await client.ready;
      runner.kill(sig);
      const bye = await client.next();
      assert.equal(bye.t, 'bye');
      assert.deepEqual(await runner.stop(), { code: 0, signal: null });
      await client.closed;
    }
  });

  it('proves the replica secret from its environment: ready carries the HMAC of the nonce, model, version, replica', async () => {
    const secret = randomBytes(32);
    const runner = await startRunner({
      model: modelPath,
      function: 'describe',
      name: 'm',
      version: '1',
      inputType: 'doubles',
      env: { CLIPPER_REPLICA_SECRET: secret.toString('hex') },
    });
    runners.push(runner);
    const nonce = randomBytes(32);
    const client = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles', replica: 5, nonce });
    const ready = await client.ready;
    assert.equal(ready.t, 'ready');
    assert.equal(checkReplicaAuth(secret, nonce, 'm', '1', 5, ready.auth), null, 'the worker accepts it');
    assert.match(String(checkReplicaAuth(randomBytes(32), nonce, 'm', '1', 5, ready.auth)), /wrong auth/);
    // A hello without a usable nonce gets no auth (nothing to prove freshness against).
    const plain = await RunnerClient.open(runner.port, { model: 'm', version: '1', input_type: 'doubles', nonce: Buffer.alloc(4) });
    assert.equal((await plain.ready).auth, undefined);
  });

  it('passes its own python unittest suite (framing and conversions)', () => {
    const out = runPython([
      '-m',
      'unittest',
      'discover',
      '-s',
      path.join(kRepoRoot, 'containers', 'python', 'tests'),
      '-t',
      path.join(kRepoRoot, 'containers', 'python'),
    ]);
    assert.equal(out.status, 0, out.stderr);
  });
});

describe('python runner with a pickled sklearn model', { skip: kSkipSklearn }, () => {
  let dir = '';
  const runners: PythonRunner[] = [];
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-py-sk-'));
  });
  after(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns the same predictions and probabilities as the estimator run locally', async () => {
    const pickle = path.join(dir, 'digits.pkl');
    const train = runPython([path.join(kRepoRoot, 'containers', 'python', 'examples', 'train_digits.py'), pickle]);
    assert.equal(train.status, 0, train.stderr);
    assert.match(train.stdout, /accuracy/);
    const local = runPython([
      '-c',
      `
import json, pickle, sys
from sklearn.datasets import load_digits
model = pickle.load(open(sys.argv[1], 'rb'))
X = load_digits().data[:25]
print(json.dumps({'X': X.tolist(), 'labels': model.predict(X).tolist(), 'proba': model.predict_proba(X).tolist()}))
`,
      pickle,
    ]);
    assert.equal(local.status, 0, local.stderr);
    const expected = JSON.parse(local.stdout) as { X: number[][]; labels: number[]; proba: number[][] };
    assert.ok(new Set(expected.labels).size > 1, 'the sample covers several classes');

    const predictRunner = await startRunner({ model: pickle, function: 'predict', name: 'digits', version: '1', inputType: 'doubles' });
    runners.push(predictRunner);
    const client = await RunnerClient.open(predictRunner.port, { model: 'digits', version: '1', input_type: 'doubles' });
    await client.ready;
    const labels = await client.predict('doubles', expected.X);
    assert.deepEqual((labels as { outputs: unknown[] }).outputs, expected.labels);
    client.close();

    const probaRunner = await startRunner({ model: pickle, function: 'predict_proba', name: 'digits', version: '1', inputType: 'doubles' });
    runners.push(probaRunner);
    const probaClient = await RunnerClient.open(probaRunner.port, { model: 'digits', version: '1', input_type: 'doubles' });
    await probaClient.ready;
    const proba = (await probaClient.predict('doubles', expected.X)) as { outputs: number[][] };
    assert.equal(proba.outputs.length, expected.proba.length);
    proba.outputs.forEach((row, i) => {
      row.forEach((p, j) => {
        assert.ok(Math.abs(p - expected.proba[i]![j]!) < 1e-9, `proba[${i}][${j}] ${p} vs ${expected.proba[i]![j]}`);
      });
    });
    probaClient.close();
  });
});
