// Big numeric inputs through a real cluster in every encoding: a 12,288-double input as a JSON body
// (the fast parser), an application/octet-stream body, an application/msgpack body, a msgpack
// WebSocket frame, and OIP JSON and binary tensors reach the model as the same bytes; the cache keys
// them alike (JSON, then binary of the same values, is a hit); bad binary bodies get a 400
// naming the problem.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { pack } from 'msgpackr';
import { appRecord, deploy, kFixtureModels, nodeModel, postJson, startTestCluster, type PredictResult } from '../helpers/cluster.js';
import { seededRandom, testSeed } from '../helpers/prng.js';
import { openStream } from '../helpers/ws.js';

const kElements = 12_288;
const digestModel = path.join(kFixtureModels, 'digest_model.mjs');
const counterModel = path.join(kFixtureModels, 'counter_model.mjs');

async function post(port: number, urlPath: string, contentType: string, body: Uint8Array): Promise<PredictResult> {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), elapsedMs: 0 };
}

const bytesOf = (a: Float64Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Doubles of every magnitude and sign, some integral, from a seed. */
function randomDoubles(seed: number, count = kElements): Float64Array {
  const random = seededRandom(seed);
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const r = random();
    values[i] = i % 5 === 0 ? Math.round(r * 1000) - 500 : (r - 0.5) * 10 ** Math.floor(random() * 40 - 20);
  }
  return values;
}

test('a 12,288-double input reaches the model as the same bytes in every encoding', async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed}`);
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('digest', '1', 'doubles', digestModel, { cache_enabled: false }));
  await cluster.store.putApp(appRecord('big', 'doubles', ['digest']));
  const port = cluster.queryPort;
  const values = randomDoubles(seed);
  const expected = `Float64Array:${kElements}:${createHash('sha256').update(bytesOf(values)).digest('hex')}`;
  const check = (r: PredictResult, what: string): void => {
    assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.default, false, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.output, expected, what);
  };
  const json = JSON.stringify({ input: Array.from(values) });
  check(await postJson(port, '/big/predict', json), 'JSON');
  check(await post(port, '/big/predict', 'application/json; charset=utf-8', Buffer.from(json)), 'JSON with a charset');
  check(await post(port, '/big/predict', 'application/octet-stream', bytesOf(values)), 'octet-stream');
  check(await post(port, '/big/predict', 'application/msgpack', pack({ input: bytesOf(values), slo_micros: 5_000_000 })), 'msgpack bin');
  const batch = await post(port, '/big/predict', 'application/x-msgpack', pack({ input_batch: [bytesOf(values), Array.from(values)] }));
  assert.equal(batch.status, 200, JSON.stringify(batch.body));
  assert.deepEqual(
    batch.body.batch_predictions.map((a: { output: string }) => a.output),
    [expected, expected],
  );
  const stream = await openStream(port, 'big');
  stream.sendPack({ id: 1, input: bytesOf(values) });
  const frame = await stream.next();
  assert.deepEqual([frame.id, frame.output, frame.default], [1, expected, false]);
  stream.ws.close();
  await stream.closed;
  await oipSameAnswers(port, values);
});

/** OIP: the same rows as JSON data and as a binary FP64 tensor give the same response. */
async function oipSameAnswers(port: number, values: Float64Array): Promise<void> {
  const rows = [Array.from(values.subarray(0, kElements / 2)), Array.from(values.subarray(kElements / 2))];
  const tensor = { name: 'input0', shape: [2, kElements / 2], datatype: 'FP64' };
  const url = `http://127.0.0.1:${port}/v2/models/big/infer`;
  const viaJson = await fetch(url, { method: 'POST', body: JSON.stringify({ id: 'j', inputs: [{ ...tensor, data: rows }] }) });
  const header = Buffer.from(JSON.stringify({ id: 'j', inputs: [{ ...tensor, parameters: { binary_data_size: values.byteLength } }] }));
  const viaBinary = await fetch(url, {
    method: 'POST',
    headers: { 'Inference-Header-Content-Length': String(header.length), 'content-type': 'application/octet-stream' },
    body: Buffer.concat([header, bytesOf(values)]),
  });
  const [a, b] = [await viaJson.text(), await viaBinary.text()];
  assert.equal(viaJson.status, 200, a);
  assert.equal(viaBinary.status, 200, b);
  assert.deepEqual(JSON.parse(b), JSON.parse(a), 'binary tensor = JSON data');
  assert.match(a, /Float64Array:6144:[0-9a-f]{64}/);
}

test('JSON, then octet-stream and msgpack of the same values: cache hits', async (t) => {
  // One frontend: each frontend thread has its own cache, and three requests need not share a thread.
  const cluster = await startTestCluster(t, { frontendThreads: 1 });
  await deploy(cluster, nodeModel('count', '1', 'doubles', counterModel));
  await cluster.store.putApp(appRecord('count', 'doubles', ['count']));
  const port = cluster.queryPort;
  // 4,096 doubles: a JSON body past the fast parser's threshold, a key within the cache's 64 KB
  // input limit (a 12,288-double key is never cached: cache_types.ts inputBytesMax).
  const values = randomDoubles(7, 4096);
  const first = await postJson(port, '/count/predict', { input: Array.from(values) });
  assert.equal(first.body.default, false, JSON.stringify(first.body));
  const octets = await post(port, '/count/predict', 'application/octet-stream', bytesOf(values));
  assert.equal(octets.body.output, first.body.output, 'the octet-stream body is the same key: a hit, not a second prediction');
  const packed = await post(port, '/count/predict', 'application/msgpack', pack({ input: bytesOf(values) }));
  assert.equal(packed.body.output, first.body.output, 'the msgpack bin is the same key');
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics/prometheus`)).text();
  assert.match(metrics, /clipper_cache_lookups_total\{result="hit"\} 2/);
});

test('bad binary bodies get a 400 naming the problem; JSON is read with any other Content-Type or none, as Clipper read it', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('count', '1', 'doubles', counterModel));
  await cluster.store.putApp(appRecord('count', 'doubles', ['count']));
  const port = cluster.queryPort;
  const short = await post(port, '/count/predict', 'application/octet-stream', Buffer.alloc(12));
  assert.equal(short.status, 400);
  assert.match(short.body.cause, /12 bytes, not a whole number of doubles/);
  const xml = await post(port, '/count/predict', 'application/xml', Buffer.from('<input/>'));
  assert.equal(xml.status, 400, 'a body that is not JSON, whatever its type, is the JSON path’s 400');
  assert.equal(xml.body.code, 'CLP_ERR_JSON_PARSE');
  assert.match(xml.body.cause, /^Error parsing JSON/);
  for (const type of ['text/json', 'application/javascript', 'application/xml']) {
    const json = await post(port, '/count/predict', type, Buffer.from('{"input":[1,2]}'));
    assert.equal(json.status, 200, `a JSON body sent as ${type} is read as JSON`);
  }
  const noType = await fetch(`http://127.0.0.1:${port}/count/predict`, { method: 'POST', body: Buffer.from('{"input":[1,2]}') });
  assert.equal(noType.status, 200, 'a JSON body with no Content-Type still works');
  const form = await post(port, '/count/predict', 'application/x-www-form-urlencoded', Buffer.from('{"input":[1,2]}'));
  assert.equal(form.status, 200, 'curl -d’s default type is read as JSON');
});
