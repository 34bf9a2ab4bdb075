// WebSocket streaming through a real cluster: ids and out-of-order answers, batches, msgpack,
// bad frames, the in-flight limit, SLO defaults, feedback, disconnects and a reader that stops.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { pack } from 'msgpackr';
import { kExplainSlo, kExplainSloInfeasible } from '../../src/query/explanations.js';
import { kCloseBackpressure } from '../../src/frontend/stream_limits.js';
import { appRecord, deploy, kFixtureModels, nodeModel, pendingNow, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { clientFrame, openStream, parseServerFrames, rawUpgrade } from '../helpers/ws.js';

const behaviour = path.join(kFixtureModels, 'behaviour_model.mjs');

test('stream protocol over one cluster', async (t) => {
  const cluster = await startTestCluster(t, {}, { stream: { inFlightMax: 8 } });
  // Versions 1 and 2 of one model have their own replicas: a slow query pinned to v1 does not
  // hold up a fast one on v2 (current). v3 is kept busy by the disconnect test.
  for (const v of ['1', '3', '2']) await deploy(cluster, nodeModel('b', v, 'doubles', behaviour));
  await cluster.store.putApp(appRecord('a', 'doubles', ['b']));
  await cluster.store.putApp(appRecord('long', 'doubles', ['b'], { latency_slo_micros: 30_000_000 }));
  const port = cluster.queryPort;

  await t.test('answers carry ids and arrive as they finish', async () => {
    const c = await openStream(port, 'a');
    c.sendJson({ id: 'slow', input: [1000 + 800], version: '1' });
    c.sendJson({ id: 7, input: [2] });
    const first = await c.next();
    assert.deepEqual(first, { id: 7, query_id: first.query_id, output: 20, default: false });
    const second = await c.next();
    assert.equal(second.id, 'slow');
    assert.equal(second.output, 18000);
    c.sendJson({ id: 8, input_batch: [[1], [2], [3]] });
    const batch = await c.next();
    assert.equal(batch.id, 8);
    assert.deepEqual(
      batch.batch_predictions.map((p: { output: number }) => p.output),
      [10, 20, 30],
    );
    assert.equal(new Set(batch.batch_predictions.map((p: { query_id: number }) => p.query_id)).size, 3);
    c.sendJson({ id: 9, input_batch: [] });
    assert.deepEqual(await c.next(), { id: 9, batch_predictions: [] });
    c.ws.close();
  });

  await t.test('msgpack binary frames are answered in msgpack', async () => {
    const c = await openStream(port, 'a');
    c.sendPack({ id: 1, input: [4] });
    const one = await c.next();
    assert.deepEqual(one, { id: 1, query_id: one.query_id, output: 40, default: false });
    c.sendPack({ id: 'b', input_batch: [[5], [6]] });
    const batch = await c.next();
    assert.equal(batch.id, 'b');
    assert.deepEqual(
      batch.batch_predictions.map((p: { output: number }) => p.output),
      [50, 60],
    );
    // A model error fails the batch it is in (queries that arrive together are batched together).
    c.sendPack({ id: 'c', input: [-1] });
    const failed = await c.next();
    assert.equal(failed.id, 'c');
    assert.equal(failed.default, true, 'a model error gives the default');
    assert.match(failed.default_explanation, /ValueError/);
    c.sendPack({ id: 2, input: 'nope' });
    const err = await c.next();
    assert.equal(err.id, 2);
    assert.equal(err.code, 'CLP_ERR_JSON_SCHEMA');
    c.ws.send(pack({ id: 3, input: [1] }).subarray(0, 6)); // truncated
    assert.equal((await c.next()).code, 'CLP_ERR_JSON_PARSE');
    c.ws.close();
  });

  await t.test('bad frames get error frames and the connection stays usable', async () => {
    const c = await openStream(port, 'a');
    c.ws.send('{"id": 1, "input": [');
    const parse = await c.next();
    assert.equal(parse.code, 'CLP_ERR_JSON_PARSE');
    assert.equal(parse.id, undefined, 'no id could be read');
    c.ws.send('[1, 2]');
    assert.equal((await c.next()).code, 'CLP_ERR_JSON_SCHEMA');
    c.sendJson({ input: [1] });
    assert.match((await c.next()).cause, /"id"/);
    c.sendJson({ id: 'x', input: ['one'] });
    const type = await c.next();
    assert.deepEqual([type.id, type.code], ['x', 'CLP_ERR_JSON_SCHEMA']);
    assert.match(type.cause, /input\[0\] must be a finite number/);
    c.sendJson({ id: 'v', input: [1], version: '99' });
    const version = await c.next();
    assert.deepEqual([version.id, version.code], ['v', 'CLP_ERR_QUERY_PROCESSING']);
    c.sendJson({ id: 't', type: 'explain', input: [1] });
    assert.equal((await c.next()).id, 't');
    c.sendJson({ id: 's', input: [1], slo_micros: 0 });
    assert.equal((await c.next()).code, 'CLP_ERR_JSON_SCHEMA');
    c.sendJson({ id: 'ok', input: [3] });
    assert.deepEqual((await c.next()).output, 30);
    c.ws.close();
    assert.equal(await c.closed, 1005);
  });

  await t.test('unknown app: 404 on upgrade; plain HTTP to a stream route: 405', async () => {
    const raw = await rawUpgrade(port, '/nope/stream');
    assert.match(raw.status, /^HTTP\/1\.1 404/);
    raw.socket.destroy();
    const plain = await new Promise<number>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${port}/a/stream`, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    assert.equal(plain, 405);
  });

  await t.test('the in-flight limit rejects with an error frame, not a queue', async () => {
    const c = await openStream(port, 'a');
    c.sendJson({ id: 'big', input_batch: Array.from({ length: 9 }, () => [1]) });
    const big = await c.next();
    assert.deepEqual([big.id, big.code], ['big', 'CLP_ERR_OVERLOADED']);
    assert.match(big.cause, /limit of 8/);
    for (let i = 0; i < 6; i++) c.sendJson({ id: i, input: [1000 + 600], version: '1' });
    c.sendJson({ id: 'over', input_batch: [[1], [2], [3]] });
    const over = await c.next();
    assert.deepEqual([over.id, over.code], ['over', 'CLP_ERR_OVERLOADED']);
    assert.match(over.cause, /6 queries in flight/);
    const ids = new Set<unknown>();
    for (let i = 0; i < 6; i++) ids.add((await c.next()).id);
    assert.equal(ids.size, 6);
    c.sendJson({ id: 'after', input_batch: [[1], [2], [3]] });
    assert.equal((await c.next()).batch_predictions.length, 3, 'slots are free again');
    c.ws.close();
  });

  await t.test('deadline defaults and feedback behave as over HTTP', async () => {
    const c = await openStream(port, 'a');
    c.sendJson({ id: 'late', input: [1000 + 500], slo_micros: 50_000, version: '1' });
    const late = await c.next();
    // The replica has just taken 600 ms per batch: the query is dropped unsent and answered at once, not
    // as shed (its SLO is shorter than the model's latency even when idle); had the estimate let it
    // through (a probe), the default came at the deadline.
    const explanation = late.default_explanation === kExplainSlo ? kExplainSlo : kExplainSloInfeasible;
    assert.deepEqual(late, { id: 'late', query_id: late.query_id, output: -1, default: true, default_explanation: explanation });
    c.sendJson({ id: 'fb', type: 'update', input: [1], label: 3, uid: 'u1' });
    const fb = await c.next();
    assert.deepEqual([fb.id, fb.feedback_received], ['fb', true]);
    c.sendJson({ id: 'fb2', type: 'update', input: [1] });
    const bad = await c.next();
    assert.deepEqual([bad.id, bad.code], ['fb2', 'CLP_ERR_JSON_SCHEMA']);
    c.ws.close();
  });

  await t.test('a client that disconnects mid-flight leaves nothing behind', async () => {
    assert.equal(await pendingNow(cluster), 0);
    const c = await openStream(port, 'long');
    for (let i = 0; i < 5; i++) c.sendJson({ id: i, input: [1000 + 5000], version: '3' });
    await waitUntil(async () => (await pendingNow(cluster)) === 5, 5000, 'queries in flight');
    c.ws.close();
    // The model sleeps 5 s and the deadline is 30 s: only cancellation brings this to 0 sooner.
    await waitUntil(async () => (await pendingNow(cluster)) === 0, 3000, 'cancellation on close');
    const again = await openStream(port, 'a');
    again.sendJson({ id: 1, input: [6] });
    assert.equal((await again.next()).output, 60);
    again.ws.close();
  });
});

test('a reader that stops reading is rejected, then closed with 4008', async (t) => {
  const cluster = await startTestCluster(t, {}, { stream: { highWaterBytes: 64 * 1024, backpressureBytesMax: 4 * 1024 * 1024 } });
  await deploy(cluster, nodeModel('b', '1', 'doubles', behaviour));
  await cluster.store.putApp(appRecord('a', 'doubles', ['b']));
  const { socket, status, rest } = await rawUpgrade(cluster.queryPort, '/a/stream');
  assert.match(status, /^HTTP\/1\.1 101/);
  let closedBeforeReading = false;
  socket.on('error', () => {
    closedBeforeReading = true;
  });
  // Each answer echoes its 8 KiB id; the socket is paused, so answers pile up in kernel buffers and
  // then in uWS's send buffer. 3000 frames (~24 MiB of answers) exceed any loopback buffering.
  const pad = 'x'.repeat(8192);
  for (let i = 0; i < 3000 && !socket.destroyed && !closedBeforeReading; i++) {
    socket.write(clientFrame(Buffer.from(`{"id":"${pad}#${i}","input":[1]}`)));
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
  }
  // Now read everything the server sent, until it closes the connection (bounded).
  let buf = rest;
  const done = new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('end', () => resolve());
  });
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
  });
  socket.resume();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    done,
    new Promise((r) => {
      timer = setTimeout(r, 15_000);
    }),
  ]);
  clearTimeout(timer);
  socket.destroy();
  const { frames } = parseServerFrames(buf);
  const texts = frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.payload.toString()));
  const answers = texts.filter((m) => m.output !== undefined).length;
  const rejected = texts.filter((m) => m.code === 'CLP_ERR_OVERLOADED' && /high-water mark/.test(m.cause)).length;
  const close = frames.find((f) => f.opcode === 8);
  assert.ok(answers > 0, 'answers flowed before the buffers filled');
  assert.ok(rejected > 0, 'queries were rejected while answers waited to be sent');
  assert.ok(close !== undefined, 'the server closed the connection');
  assert.equal(close.payload.readUInt16BE(0), kCloseBackpressure);
  assert.equal(close.payload.subarray(2).toString(), 'backpressure limit exceeded');
  await waitUntil(async () => (await pendingNow(cluster)) === 0, 5000, "the closed connection's queries to be dropped");
  const c = await openStream(cluster.queryPort, 'a');
  c.ws.send(pack({ id: 1, input: [2] }));
  assert.equal((await c.next()).output, 20, 'the server serves new connections');
  await cluster.close();
  assert.equal(await c.closed, 1001, 'shutdown closes open streams with 1001');
});
