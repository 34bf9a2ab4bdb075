// The Open Inference Protocol's endpoints through a real cluster (HTTP → pipeline → ring → batching
// worker → Node replica processes): every endpoint, an app and a model addressed directly, version
// pinning, binary tensors in and out, a timeout, the 4xx/5xx errors, and README's curl examples.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { installExample } from '../../src/admin/example.js';
import { Cluster } from '../../src/cluster.js';
import { kRepoRoot } from '../../src/paths.js';
import { appRecord, deploy, kFixtureModels, nodeModel, waitUntil } from '../helpers/cluster.js';
import { runProcess } from '../helpers/run_process.js';

const behaviour = path.join(kFixtureModels, 'behaviour_model.mjs');
const versioned = path.join(kFixtureModels, 'version_model.mjs');

interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: parsed response JSON, which the tests index freely
  json: any;
}

let cluster: Cluster;

async function call(method: string, urlPath: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${cluster.queryPort}${urlPath}`, { method, body, headers });
  const buf = Buffer.from(await res.arrayBuffer());
  const headerLength = res.headers.get('inference-header-content-length');
  const jsonPart = headerLength === null ? buf : buf.subarray(0, Number(headerLength));
  let json: unknown = null;
  try {
    json = JSON.parse(jsonPart.toString('utf8'));
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body: buf, json };
}

const get = (urlPath: string) => call('GET', urlPath);
const infer = (target: string, request: unknown) => call('POST', `/v2/models/${target}/infer`, JSON.stringify(request));
const fp64 = (shape: number[], data: unknown[], name = 'input0') => ({ name, shape, datatype: 'FP64', data });

function assertError(r: Reply, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.deepEqual(Object.keys(r.json), ['error'], 'the body is {"error"}');
  assert.match(r.json.error, pattern);
}

function output(r: Reply): { name: string; datatype: string; shape: number[]; data: unknown[] } {
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outputs.length, 1);
  return r.json.outputs[0];
}

/** A request with the binary tensor extension: `json` then `binary`. */
function binaryRequest(json: unknown, binary: Buffer): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(JSON.stringify(json));
  return { body: Buffer.concat([header, binary]), headers: { 'Inference-Header-Content-Length': String(header.length) } };
}

before(async () => {
  // ringBytes 64 KiB: a row over ~32 KiB cannot ride the ring (413). A model addressed directly
  // waits 400 ms when the request sets no timeout.
  cluster = await Cluster.start({
    config: {
      queryPort: 0,
      adminPort: 0,
      batchingThreads: 1,
      heartbeatMs: 200,
      bodyBytesMax: 64 * 1024,
      ringBytes: 64 * 1024,
      oipTimeoutMsDefault: 400,
    },
  });
  await installExample(cluster);
  await deploy(cluster, nodeModel('ver', '1', 'doubles', versioned));
  await deploy(cluster, nodeModel('ver', '2', 'doubles', versioned));
  await Promise.all([
    deploy(cluster, nodeModel('slow', '1', 'doubles', behaviour)),
    deploy(cluster, nodeModel('shadowed', '1', 'doubles', versioned)),
    deploy(cluster, nodeModel('idle', '1', 'doubles', behaviour, { num_replicas: 0 })),
  ]);
  await cluster.store.putApp(appRecord('ver-app', 'doubles', ['ver']));
  await cluster.store.putApp(appRecord('shadowed', 'doubles', ['sum-model'])); // an app and a model named alike
  await cluster.store.putApp(appRecord('unlinked', 'doubles', []));
  await waitUntil(async () => (await get('/v2/models/ver/versions/1/ready')).status === 200, 10_000, 'ver:1 ready');
});

after(async () => {
  await cluster?.close();
});

describe('Open Inference Protocol over a real cluster', () => {
  it('health and server metadata', async () => {
    assert.deepEqual((await get('/v2/health/live')).json, { live: true });
    const ready = await get('/v2/health/ready');
    assert.deepEqual([ready.status, ready.json], [200, { ready: true }]);
    const server = await get('/v2');
    const version = (JSON.parse(readFileSync(path.join(kRepoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    assert.deepEqual(server.json, { name: 'clipper-ts', version, extensions: ['binary_tensor_data', 'parameters', 'statistics'] });
  });

  it('metadata of an app, a model, a version; unknown names and versions are 404', async () => {
    const app = await get('/v2/models/hello-world');
    assert.deepEqual(app.json, {
      name: 'hello-world',
      versions: ['1'],
      platform: 'clipper-ts/node-runner',
      inputs: [{ name: 'input0', datatype: 'FP64', shape: [-1, -1] }],
      outputs: [{ name: 'output0', datatype: 'FP64', shape: [-1] }],
    });
    assert.deepEqual((await get('/v2/models/ver')).json.versions, ['1', '2']);
    assert.equal((await get('/v2/models/ver/versions/1')).json.name, 'ver');
    assert.deepEqual((await get('/v2/models/unlinked')).json.versions, []);
    assertError(await get('/v2/models/nope'), 404, /no model or application named 'nope'/);
    assertError(await get('/v2/models/ver/versions/7'), 404, /model 'ver' has no version '7'/);
    assertError(await get('/v2/models/ver/versions/7/ready'), 404, /no version '7'/);
    assertError(await get('/v2/models/unlinked/versions/1'), 404, /application 'unlinked' has no linked model/);
  });

  it('readiness: a deployed version with a connected replica; else 400 saying why', async () => {
    assert.deepEqual((await get('/v2/models/sum-model/ready')).json, { name: 'sum-model', ready: true });
    assert.equal((await get('/v2/models/hello-world/ready')).status, 200);
    assert.equal((await get('/v2/models/ver/versions/1/ready')).status, 200);
    assertError(await get('/v2/models/idle/ready'), 400, /version '1' of model 'idle' has no connected replica/);
    assertError(await get('/v2/models/unlinked/ready'), 400, /application 'unlinked' has no linked model/);
  });

  it('infer through an app and on a model directly, flat and nested, with the id echoed or made', async () => {
    const viaApp = await infer('hello-world', {
      id: 'a1',
      inputs: [
        fp64(
          [2, 3],
          [
            [1.1, 2.2, 3.3],
            [4, 5, 6],
          ],
        ),
      ],
    });
    assert.deepEqual(viaApp.json, {
      model_name: 'hello-world',
      model_version: '1',
      id: 'a1',
      outputs: [{ name: 'output0', datatype: 'FP64', shape: [2], data: [6.6, 15] }],
    });
    const direct = await infer('sum-model', { inputs: [{ name: 'x', shape: [3], datatype: 'INT16', data: [1, -2, 3] }] });
    assert.deepEqual(output(direct), { name: 'output0', datatype: 'FP64', shape: [3], data: [1, -2, 3] });
    assert.match(direct.json.id, /^[0-9a-f-]{36}$/, 'a generated id');
    const empty = await infer('sum-model', { id: 'e', inputs: [fp64([0, 3], [])] });
    assert.deepEqual(output(empty), { name: 'output0', datatype: 'FP64', shape: [0], data: [] });
    const withPriority = await infer('sum-model', { parameters: { priority: 1, timeout: 2_000_000 }, inputs: [fp64([1, 2], [2, 3])] });
    assert.deepEqual(output(withPriority).data, [5]);
  });

  it('versions pin on a model and through an app; an app name wins over a model name', async () => {
    assert.deepEqual(output(await infer('ver', { inputs: [fp64([1, 1], [1])] })).data, ['v2']);
    const v1 = await infer('ver/versions/1', { inputs: [fp64([2, 1], [1, 2])] });
    assert.deepEqual([v1.json.model_version, output(v1).datatype, output(v1).data], ['1', 'BYTES', ['v1', 'v1']]);
    const viaApp = await infer('ver-app/versions/1', { inputs: [fp64([1, 1], [3])] });
    assert.deepEqual([viaApp.json.model_name, viaApp.json.model_version, output(viaApp).data], ['ver-app', '1', ['v1']]);
    assertError(await infer('ver/versions/9', { inputs: [fp64([1, 1], [1])] }), 404, /model 'ver' has no version '9'/);
    const shadowed = await infer('shadowed', { inputs: [fp64([1, 2], [2, 2])] });
    assert.deepEqual(output(shadowed).data, [4], "the app (linked to sum-model) answers, not the model 'shadowed'");
  });

  it('binary tensors in and out', async () => {
    const doubles = Buffer.alloc(32);
    [1.5, 2, 3, 4.25].forEach((x, i) => {
      doubles.writeDoubleLE(x, i * 8);
    });
    const json = {
      id: 'b',
      parameters: { binary_data_output: true },
      inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP64', parameters: { binary_data_size: 32 } }],
    };
    const req = binaryRequest(json, doubles);
    const r = await call('POST', '/v2/models/sum-model/infer', req.body, req.headers);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    const headerLength = Number(r.headers.get('inference-header-content-length'));
    assert.deepEqual(r.json.outputs, [{ name: 'output0', datatype: 'FP64', shape: [2], parameters: { binary_data_size: 16 } }]);
    assert.deepEqual([r.body.readDoubleLE(headerLength), r.body.readDoubleLE(headerLength + 8)], [3.5, 7.25]);
    const ints = Buffer.alloc(12);
    [7, -1, 100].forEach((x, i) => {
      ints.writeInt32LE(x, i * 4);
    });
    const intReq = binaryRequest({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT32', parameters: { binary_data_size: 12 } }] }, ints);
    const jsonOut = await call('POST', '/v2/models/hello-world/infer', intReq.body, intReq.headers);
    assert.equal(jsonOut.headers.get('inference-header-content-length'), null, 'JSON out unless asked');
    assert.deepEqual(output(jsonOut).data, [106]);
    const strings = await infer('ver/versions/1', {
      inputs: [fp64([1, 1], [5])],
      outputs: [{ name: 'output0', parameters: { binary_data: true } }],
    });
    const sh = Number(strings.headers.get('inference-header-content-length'));
    assert.deepEqual(strings.json.outputs[0].parameters, { binary_data_size: 6 });
    assert.deepEqual([strings.body.readUInt32LE(sh), strings.body.subarray(sh + 4).toString()], [2, 'v1']);
  });

  it('a deadline that passes is a 504 naming it: the request timeout, or oipTimeoutMsDefault for a model', async () => {
    const timed = await infer('slow', { parameters: { timeout: 100_000 }, inputs: [fp64([1, 1], [1600])] });
    assertError(timed, 504, /deadline \(100000 microseconds\) passed before the model answered/);
    const byDefault = await infer('slow', { inputs: [fp64([1, 1], [1600])] });
    assertError(byDefault, 504, /deadline \(400000 microseconds\)/);
  });

  it('bad input is a 4xx naming the field; a model that cannot serve is a 503', async () => {
    assertError(
      await infer('sum-model', { inputs: [fp64([2, 2], [1, 2, 3])] }),
      400,
      /inputs\[0\] \('input0'\): shape \[2,2\] holds 4 elements, but data has 3/,
    );
    assertError(
      await infer('sum-model', { inputs: [{ name: 'x', shape: [1], datatype: 'BYTES', data: ['a'] }] }),
      400,
      /datatype BYTES cannot feed 'sum-model', which takes doubles/,
    );
    assertError(await infer('sum-model', { inputs: [fp64([1], [1]), fp64([1], [2])] }), 400, /takes one input tensor/);
    assertError(
      await infer('sum-model', { inputs: [fp64([1], [1])], outputs: [{ name: 'nope' }] }),
      400,
      /outputs\[0\]\.name 'nope' is not an output/,
    );
    assertError(await call('POST', '/v2/models/sum-model/infer', '{"inputs":'), 400, /Error parsing JSON/);
    const bad = binaryRequest(
      { inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP64', parameters: { binary_data_size: 8 } }] },
      Buffer.alloc(8),
    );
    assertError(
      await call('POST', '/v2/models/sum-model/infer', bad.body, { 'Inference-Header-Content-Length': '99999' }),
      400,
      /Inference-Header-Content-Length is 99999 bytes, longer than/,
    );
    assertError(
      await call('POST', '/v2/models/sum-model/infer', bad.body, { 'Inference-Header-Content-Length': 'x' }),
      400,
      /Inference-Header-Content-Length must be/,
    );
    assertError(await call('POST', '/v2/models/nope/infer', '{}'), 404, /no model or application named 'nope'/);
    assertError(await call('GET', '/v2/models/sum-model/infer'), 405, /GET is not allowed .* use POST/);
    assertError(await call('POST', '/v2/models/sum-model'), 405, /use GET/);
    assertError(await get('/v2/models/sum-model/unknown/path'), 404, /no route for GET/);
    assertError(
      await call('POST', '/v2/models/sum-model/infer', `{"inputs":[],"pad":"${'x'.repeat(70_000)}"}`),
      413,
      /exceeds the limit of 65536 bytes/,
    );
    const wide = Array.from({ length: 5000 }, () => 1);
    assertError(await infer('sum-model', { inputs: [fp64([1, 5000], wide)] }), 413, /exceeds the largest query the batching ring carries/);
    assertError(await infer('idle', { inputs: [fp64([1, 1], [1])] }), 503, /the model cannot serve now: No connected models/);
    assertError(await infer('unlinked', { inputs: [fp64([1, 1], [1])] }), 503, /No connected models/);
  });

  it('statistics of a model, of an app (its model), of every model', async () => {
    await infer('sum-model', { inputs: [fp64([1, 1], [Math.random()])] });
    const model = await get('/v2/models/sum-model/stats');
    assert.equal(model.status, 200);
    assert.deepEqual(
      model.json.model_stats.map((s: { name: string; version: string }) => [s.name, s.version]),
      [['sum-model', '1']],
    );
    assert.ok(model.json.model_stats[0].inference_count >= 1);
    assert.deepEqual((await get('/v2/models/hello-world/stats')).json, model.json, "an app's are its model's");
    assert.equal((await get('/v2/models/ver/versions/1/stats')).json.model_stats.length, 1);
    assert.ok((await get('/v2/models/stats')).json.model_stats.length >= 5);
    assertError(await get('/v2/models/nope/stats'), 404, /nope/);
    assertError(await get('/v2/models/unlinked/stats'), 404, /no linked model/);
  });

  it("README's Open Inference Protocol examples answer what README shows", async () => {
    const readme = readFileSync(path.join(kRepoRoot, 'README.md'), 'utf8');
    const section = readme.split('\n## Open Inference Protocol (KServe V2)\n')[1]!.split('\n## ')[0]!;
    const block = section.split('```sh\n')[1]!.split('```')[0]!.trim().split('\n');
    assert.ok(block.length >= 10, 'README shows commands and their answers');
    for (let i = 0; i < block.length; i += 2) {
      assert.ok(block[i]!.startsWith('$ '), block[i]);
      const command = block[i]!.slice(2).replaceAll('127.0.0.1:1337', `127.0.0.1:${cluster.queryPort}`);
      const r = await runProcess('bash', ['-euo', 'pipefail', '-c', command]);
      assert.equal(r.stdout.trim(), block[i + 1], block[i]);
    }
  });
});
