// Interoperability: the Open Inference Protocol endpoints of a real cluster (real threads, sockets and
// Node replica processes), spoken to by an independent client written from the specification alone
// (test/helpers/oip_client.ts shares no code with the server). Every datatype each model input type
// accepts, flat and nested JSON data, the binary tensor extension in and out (FP64, INT32, FP16,
// BYTES), metadata declared and inferred, readiness, statistics, the errors (400 naming the field,
// 404 for unknown models and versions), a timeout, a failing model and the priority parameter.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster } from '../../src/cluster.js';
import { appRecord, deploy, kExampleModels, kFixtureModels, nodeModel } from '../helpers/cluster.js';
import { type Datatype, encodeTensor, flatten, OipClient, type OipResult, type RequestInput } from '../helpers/oip_client.js';

const echo = path.join(kExampleModels, 'echo_model.mjs');
const sum = path.join(kExampleModels, 'sum_model.mjs');
const behaviour = path.join(kFixtureModels, 'behaviour_model.mjs');

let cluster: Cluster;
let client: OipClient;

before(async () => {
  cluster = await Cluster.start({ config: { queryPort: 0, adminPort: 0, batchingThreads: 1, heartbeatMs: 200 } });
  await Promise.all([
    deploy(cluster, nodeModel('echo-d', '1', 'doubles', echo)),
    deploy(cluster, nodeModel('echo-f', '1', 'floats', echo)),
    deploy(cluster, nodeModel('echo-i', '1', 'integers', echo)),
    deploy(cluster, nodeModel('echo-s', '1', 'strings', echo)),
    deploy(cluster, nodeModel('echo-b', '1', 'bytes', echo)),
    deploy(
      cluster,
      nodeModel('summer', '3', 'doubles', sum, {
        inputs: [{ name: 'x', datatype: 'FP64', shape: [-1, -1] }],
        outputs: [{ name: 'total', datatype: 'FP64', shape: [-1] }],
      }),
    ),
    deploy(cluster, nodeModel('slow', '1', 'doubles', behaviour)),
    deploy(cluster, nodeModel('fails', '1', 'doubles', behaviour)),
  ]);
  await cluster.store.putApp(appRecord('echo-app', 'doubles', ['echo-d']));
  client = new OipClient(cluster.queryPort);
});

after(async () => {
  client?.close();
  await cluster?.close();
});

function input(datatype: Datatype, shape: number[], data: unknown[], name = 'input0'): RequestInput {
  return { name, datatype, shape, data };
}

/** The one output of a 200 answer, its data flattened. */
function outputOf(r: OipResult<unknown>): { name: string; datatype: string; shape: number[]; flat: unknown[] } {
  assert.equal(r.status, 200, `expected 200, got ${r.status}: ${JSON.stringify(r.json)}`);
  const outputs = r.json.outputs as Array<{ name: string; datatype: string; shape: number[]; data: unknown[] }>;
  assert.equal(outputs.length, 1);
  const o = outputs[0]!;
  return { name: o.name, datatype: o.datatype, shape: o.shape, flat: flatten(o.data) };
}

function assertError(r: OipResult<unknown>, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${JSON.stringify(r.json)}`);
  assert.equal(typeof r.error, 'string', `a {"error"} body: ${JSON.stringify(r.json)}`);
  assert.match(r.error!, pattern);
}

describe('OIP interop (independent client)', () => {
  it('health, server metadata, readiness', async () => {
    assert.equal(await client.live(), true);
    assert.equal(await client.ready(), true);
    const meta = await client.serverMetadata();
    assert.equal(meta.status, 200);
    assert.equal(typeof meta.json.name, 'string');
    assert.equal(typeof meta.json.version, 'string');
    assert.ok(meta.json.extensions.includes('binary_tensor_data'), JSON.stringify(meta.json));
    assert.ok(meta.json.extensions.includes('statistics'), JSON.stringify(meta.json));
    assert.equal(await client.modelReady('echo-d'), 200);
    assert.equal(await client.modelReady('echo-d', '1'), 200);
    const unknown = await client.modelReady('no-such-model');
    assert.ok(unknown >= 400 && unknown < 500, `unknown model ready: ${unknown}`);
    const unknownVersion = await client.modelReady('echo-d', '9');
    assert.ok(unknownVersion >= 400 && unknownVersion < 500, `unknown version ready: ${unknownVersion}`);
  });

  it('model metadata: inferred from the input type, or as declared at add_model', async () => {
    const inferred = await client.modelMetadata('echo-d');
    assert.equal(inferred.status, 200);
    assert.equal(inferred.json.name, 'echo-d');
    assert.ok(inferred.json.versions?.includes('1'));
    assert.equal(typeof inferred.json.platform, 'string');
    assert.deepEqual(inferred.json.inputs, [{ name: 'input0', datatype: 'FP64', shape: [-1, -1] }]);
    assert.deepEqual(inferred.json.outputs, [{ name: 'output0', datatype: 'FP64', shape: [-1] }]);
    const strings = await client.modelMetadata('echo-s', '1');
    assert.deepEqual(strings.json.inputs, [{ name: 'input0', datatype: 'BYTES', shape: [-1] }]);
    const declared = await client.modelMetadata('summer', '3');
    assert.equal(declared.status, 200);
    assert.deepEqual(declared.json.inputs, [{ name: 'x', datatype: 'FP64', shape: [-1, -1] }]);
    assert.deepEqual(declared.json.outputs, [{ name: 'total', datatype: 'FP64', shape: [-1] }]);
    assertError(await client.modelMetadata('no-such-model'), 404, /no-such-model/);
    assertError(await client.modelMetadata('echo-d', '9'), 404, /9/);
  });

  it('infer with JSON data, flat and nested; id, model name and version come back', async () => {
    const flat = await client.infer('echo-d', { id: 'req-1', inputs: [input('FP64', [2, 3], [1.5, -2, 0.25, 4, 5, 6])] });
    const o = outputOf(flat);
    assert.equal(flat.json.model_name, 'echo-d');
    assert.equal(flat.json.model_version, '1');
    assert.equal(flat.json.id, 'req-1');
    assert.deepEqual([o.name, o.datatype, o.shape, o.flat], ['output0', 'FP64', [2, 3], [1.5, -2, 0.25, 4, 5, 6]]);
    const nested = await client.infer('echo-d', {
      inputs: [
        input(
          'FP64',
          [2, 3],
          [
            [1.5, -2, 0.25],
            [4, 5, 6],
          ],
        ),
      ],
    });
    assert.deepEqual(outputOf(nested).flat, [1.5, -2, 0.25, 4, 5, 6]);
    const total = await client.infer('summer', { inputs: [input('FP64', [2, 3], [1.1, 2.2, 3.3, 4, 5, 6], 'x')] });
    const t = outputOf(total);
    assert.deepEqual([t.name, t.datatype, t.shape, t.flat], ['total', 'FP64', [2], [6.6, 15]]);
    assert.equal(total.json.model_version, '3');
    const versioned = await client.infer('summer', { inputs: [input('FP64', [1, 2], [1, 2], 'x')] }, '3');
    assert.deepEqual(outputOf(versioned).flat, [3]);
  });

  it('every datatype each input type accepts, as JSON', async () => {
    const cases: Array<[string, Datatype, number[]]> = [
      ...(['FP64', 'FP32', 'FP16'] as const).map((d): [string, Datatype, number[]] => ['echo-d', d, [1.5, -2, 0.25, 4]]),
      ...(['INT8', 'INT16', 'INT32', 'INT64'] as const).map((d): [string, Datatype, number[]] => ['echo-d', d, [-1, 2, -3, 100]]),
      ...(['UINT8', 'UINT16', 'UINT32', 'UINT64'] as const).map((d): [string, Datatype, number[]] => ['echo-d', d, [1, 2, 3, 250]]),
      ['echo-f', 'FP32', [1.5, -2, 0.25, 4]],
      ['echo-f', 'FP16', [1.5, -2, 0.25, 65504]],
      ['echo-i', 'INT32', [-2147483648, 2147483647, 0, -5]],
      ['echo-i', 'INT16', [-32768, 32767, 0, -5]],
      ['echo-i', 'INT8', [-128, 127, 0, -5]],
      ['echo-i', 'UINT16', [65535, 1, 0, 5]],
      ['echo-i', 'UINT8', [255, 1, 0, 5]],
    ];
    for (const [model, datatype, values] of cases) {
      const r = await client.infer(model, { inputs: [input(datatype, [2, 2], values)] });
      const o = outputOf(r);
      assert.deepEqual([o.shape, o.flat], [[2, 2], values], `${model} ← ${datatype}`);
    }
    const strings = await client.infer('echo-s', { inputs: [input('BYTES', [2], ['héllo "w"', ''])] });
    const s = outputOf(strings);
    assert.deepEqual([s.datatype, s.shape, s.flat], ['BYTES', [2], ['héllo "w"', '']]);
    const bytes = await client.infer('echo-b', { inputs: [input('BYTES', [1], ['abc'])] });
    assert.deepEqual(outputOf(bytes).flat, ['YWJj'], 'the echo model answers bytes as base64');
    const uint8Rows = await client.infer('echo-b', { inputs: [input('UINT8', [2, 2], [0, 1, 254, 255])] });
    assert.deepEqual(outputOf(uint8Rows).flat, ['AAE=', '/v8=']);
  });

  it('the binary tensor extension in and out: FP64, INT32, FP16, BYTES', async () => {
    const fp64 = await client.inferBinary('echo-d', { inputs: [input('FP64', [2, 3], [1.5, -2, 1e300, 4, 5, 6])] }, true);
    assert.ok(fp64.headers['inference-header-content-length'] !== undefined, 'a binary answer');
    const f = outputOf(fp64);
    assert.deepEqual([f.datatype, f.shape, f.flat], ['FP64', [2, 3], [1.5, -2, 1e300, 4, 5, 6]]);
    const int32 = await client.inferBinary('echo-i', { inputs: [input('INT32', [1, 3], [-7, 0, 2147483647])] }, true);
    assert.deepEqual(outputOf(int32).flat, [-7, 0, 2147483647]);
    const fp16 = await client.inferBinary('echo-f', { inputs: [input('FP16', [1, 3], [0.5, -65504, 3])] }, true);
    assert.deepEqual(outputOf(fp16).flat, [0.5, -65504, 3]);
    const text = await client.inferBinary('echo-s', { inputs: [input('BYTES', [3], ['a', 'é€', ''])] }, true);
    const t = outputOf(text);
    assert.equal(t.datatype, 'BYTES');
    assert.deepEqual(
      t.flat.map((b) => Buffer.from(b as Uint8Array).toString('utf8')),
      ['a', 'é€', ''],
    );
    const bytes = await client.inferBinary('echo-b', { inputs: [input('BYTES', [1], [Buffer.from([0, 255, 7])])] }, true);
    assert.equal(Buffer.from(outputOf(bytes).flat[0] as Uint8Array).toString('utf8'), Buffer.from([0, 255, 7]).toString('base64'));
  });

  it('binary in with JSON out, and JSON in with one output asked for as binary', async () => {
    const jsonOut = await client.inferBinary('echo-d', { inputs: [input('FP64', [1, 2], [8, 9])] }, false);
    assert.equal(jsonOut.headers['inference-header-content-length'], undefined, 'no binary output asked for');
    assert.deepEqual(outputOf(jsonOut).flat, [8, 9]);
    const binaryOut = await client.infer('echo-d', {
      inputs: [input('FP64', [1, 2], [10, 11])],
      outputs: [{ name: 'output0', parameters: { binary_data: true } }],
    });
    assert.ok(binaryOut.headers['inference-header-content-length'] !== undefined);
    assert.deepEqual(outputOf(binaryOut).flat, [10, 11]);
    const uint64 = await client.inferBinary('echo-d', { inputs: [input('UINT64', [1, 2], [1n, 2n ** 40n])] }, true);
    assert.deepEqual(outputOf(uint64).flat, [1, 2 ** 40]);
  });

  it('a datatype the model does not take is a 400 naming it', async () => {
    const refused: Array<[string, Datatype, unknown[]]> = [
      ['echo-d', 'BOOL', [true, false]],
      ['echo-d', 'BYTES', ['a', 'b']],
      ['echo-f', 'FP64', [1, 2]],
      ['echo-i', 'INT64', [1, 2]],
      ['echo-i', 'FP32', [1, 2]],
      ['echo-s', 'FP32', [1, 2]],
    ];
    for (const [model, datatype, data] of refused) {
      assertError(await client.infer(model, { inputs: [input(datatype, [2, 1], data)] }), 400, new RegExp(datatype));
    }
    assertError(await client.inferBinary('echo-d', { inputs: [input('BOOL', [1, 2], [true, false])] }, false), 400, /BOOL/);
  });

  it('malformed requests are 400s naming the field', async () => {
    const t = (shape: number[], data: unknown[], datatype: Datatype = 'FP64') => ({ inputs: [input(datatype, shape, data)] });
    assertError(await client.infer('echo-d', t([2, 3], [1, 2, 3, 4, 5])), 400, /shape/);
    assertError(await client.infer('echo-d', t([2, -1], [1, 2])), 400, /shape/);
    assertError(await client.infer('echo-d', t([2], [1, 'x'])), 400, /data|input0/);
    assertError(await client.infer('echo-d', t([1, 2], [1, 2], 'FLOAT' as Datatype)), 400, /datatype/);
    assertError(await client.infer('echo-d', t([1, 1], [300], 'UINT8')), 400, /UINT8|data/);
    assertError(await client.infer('echo-d', { inputs: [] }), 400, /inputs/);
    const two = { inputs: [input('FP64', [1, 1], [1]), input('FP64', [1, 1], [2], 'input1')] };
    assertError(await client.infer('echo-d', two), 400, /input/);
    const json = { 'content-type': 'application/json' };
    assertError(await client.inferRaw('echo-d', '{"inputs": [', json), 400, /JSON|json/);
    assertError(await client.inferRaw('echo-d', '[1, 2]', json), 400, /object|inputs/);
  });

  it('malformed binary bodies are 400s', async () => {
    const header = Buffer.from(
      JSON.stringify({ inputs: [{ name: 'input0', datatype: 'FP64', shape: [1, 3], parameters: { binary_data_size: 16 } }] }),
    );
    const octets = { 'content-type': 'application/octet-stream' };
    const short = Buffer.concat([header, encodeTensor('FP64', [1, 2])]);
    assertError(
      await client.inferRaw('echo-d', short, { ...octets, 'inference-header-content-length': header.length }),
      400,
      /binary_data_size|shape/,
    );
    const body = Buffer.concat([header, encodeTensor('FP64', [1, 2])]);
    assertError(
      await client.inferRaw('echo-d', body, { ...octets, 'inference-header-content-length': body.length + 10 }),
      400,
      /Inference-Header-Content-Length/i,
    );
    assertError(
      await client.inferRaw('echo-d', body, { ...octets, 'inference-header-content-length': 'ten' }),
      400,
      /Inference-Header-Content-Length/i,
    );
    const overrun = Buffer.from(
      JSON.stringify({ inputs: [{ name: 'input0', datatype: 'FP64', shape: [1, 1], parameters: { binary_data_size: 8 } }] }),
    );
    assertError(await client.inferRaw('echo-d', overrun, { ...octets, 'inference-header-content-length': overrun.length }), 400, /binary/);
    const bytesHeader = Buffer.from(
      JSON.stringify({ inputs: [{ name: 'input0', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }] }),
    );
    const badLength = Buffer.concat([bytesHeader, Buffer.from([9, 0, 0, 0, 0x61, 0x62])]);
    assertError(
      await client.inferRaw('echo-s', badLength, { ...octets, 'inference-header-content-length': bytesHeader.length }),
      400,
      /BYTES|length|binary/,
    );
  });

  it('unknown model or version: 404 with an error', async () => {
    const body = { inputs: [input('FP64', [1, 1], [1])] };
    assertError(await client.infer('no-such-model', body), 404, /no-such-model/);
    assertError(await client.infer('echo-d', body, '42'), 404, /42/);
    assertError(await client.stats('no-such-model'), 404, /no-such-model/);
  });

  it('a request past its timeout gets 504 naming the deadline; a model that raises gets 500', async () => {
    const slow = await client.infer('slow', { parameters: { timeout: 50_000 }, inputs: [input('FP64', [1, 1], [1300])] });
    assertError(slow, 504, /deadline|timeout/i);
    const failed = await client.infer('fails', { inputs: [input('FP64', [1, 1], [-1])] });
    assertError(failed, 500, /negative input|fail/i);
  });

  it('priority is accepted (with a timeout too); a malformed one is a 400 naming it', async () => {
    for (const parameters of [{ priority: 1 }, { priority: 0 }, { priority: 2, timeout: 2_000_000 }]) {
      const r = await client.infer('echo-d', { parameters, inputs: [input('FP64', [1, 2], [Math.random(), 1])] });
      assert.equal(outputOf(r).shape[0], 1, JSON.stringify(parameters));
    }
    const body = (parameters: Record<string, unknown>) => ({ parameters, inputs: [input('FP64', [1, 1], [1])] });
    assertError(await client.infer('echo-d', body({ priority: 'high' })), 400, /priority/);
    assertError(await client.infer('echo-d', body({ priority: -1 })), 400, /priority/);
    assertError(await client.infer('echo-d', body({ timeout: -5 })), 400, /timeout/);
  });

  it('an app is addressed like a model', async () => {
    const r = await client.infer('echo-app', { inputs: [input('FP64', [2, 2], [1, 2, 3, 4])] });
    const o = outputOf(r);
    assert.equal(r.json.model_name, 'echo-app');
    assert.deepEqual(
      [o.shape, o.flat],
      [
        [2, 2],
        [1, 2, 3, 4],
      ],
    );
    const binary = await client.inferBinary('echo-app', { inputs: [input('FP64', [1, 2], [5, 6])] }, true);
    assert.deepEqual(outputOf(binary).flat, [5, 6]);
  });

  it('statistics in Triton shape count the inferences', async () => {
    for (let i = 0; i < 3; i++) {
      outputOf(await client.infer('echo-d', { inputs: [input('FP64', [2, 1], [Math.random(), Math.random()])] }));
    }
    const one = await client.stats('echo-d');
    assert.equal(one.status, 200, JSON.stringify(one.json));
    assert.equal(one.json.model_stats.length, 1);
    const s = one.json.model_stats[0];
    assert.deepEqual([s.name, s.version], ['echo-d', '1']);
    assert.ok(s.inference_count >= 6, `inference_count ${s.inference_count}`);
    assert.ok(s.execution_count >= 1 && s.execution_count <= s.inference_count);
    assert.ok(s.inference_stats.compute_infer.count >= 1 && s.inference_stats.compute_infer.ns > 0);
    assert.ok(s.inference_stats.queue.count >= s.inference_count);
    const versioned = await client.stats('echo-d', '1');
    assert.deepEqual(
      versioned.json.model_stats.map((m: { name: string }) => m.name),
      ['echo-d'],
    );
    const all = await client.stats();
    assert.equal(all.status, 200);
    const names = all.json.model_stats.map((m: { name: string }) => m.name);
    for (const name of ['echo-d', 'summer', 'slow']) assert.ok(names.includes(name), `${name} in ${names}`);
    assertError(await client.stats('echo-d', '9'), 404, /9/);
  });
});
