// The query path end to end: HTTP → ring → batching worker thread → TCP → replica process → back.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { installExample } from '../../src/admin/example.js';
import { kExplainNoModel, kExplainSlo, kExplainSloInfeasible } from '../../src/query/explanations.js';
import {
  appRecord,
  deploy,
  kExampleModels,
  kFixtureModels,
  nodeModel,
  pendingNow,
  postJson,
  startTestCluster,
  waitUntil,
} from '../helpers/cluster.js';

const echo = path.join(kExampleModels, 'echo_model.mjs');
const behaviour = path.join(kFixtureModels, 'behaviour_model.mjs');

test('the quickstart: hello-world answers 6.6 for [1.1, 2.2, 3.3]', async (t) => {
  const cluster = await startTestCluster(t);
  await installExample(cluster);
  const one = await postJson(cluster.queryPort, '/hello-world/predict', { input: [1.1, 2.2, 3.3] });
  assert.equal(one.status, 200);
  assert.equal(one.body.output, 6.6);
  assert.equal(one.body.default, false);
  assert.equal(typeof one.body.query_id, 'number');
  const batch = await postJson(cluster.queryPort, '/hello-world/predict/', { input_batch: [[1, 2], [3.5]] });
  assert.deepEqual(
    batch.body.batch_predictions.map((p: { output: number }) => p.output),
    [3, 3.5],
  );
  const single = await postJson(cluster.queryPort, '/hello-world/predict', { input_batch: [[4]] });
  assert.equal(single.body.batch_predictions.length, 1, 'a batch of one stays wrapped');
  const empty = await postJson(cluster.queryPort, '/hello-world/predict', { input_batch: [] });
  assert.deepEqual(empty.body, { batch_predictions: [] });
});

test('every input type round-trips, single and batch', async (t) => {
  const cluster = await startTestCluster(t);
  const cases = [
    { type: 'doubles', input: [1.5, -2, 3e10], expected: [1.5, -2, 3e10] },
    { type: 'floats', input: [1.5, -2], expected: [1.5, -2] },
    { type: 'integers', input: [1, -7, 2147483647], expected: [1, -7, 2147483647] },
    { type: 'strings', input: 'héllo "world"', expected: 'héllo "world"' },
    { type: 'bytes', input: Buffer.from([0, 1, 254, 255]).toString('base64'), expected: 'AAH+/w==' },
  ] as const;
  for (const c of cases) {
    await deploy(cluster, nodeModel(`echo-${c.type}`, '1', c.type, echo));
    await cluster.store.putApp(appRecord(`app-${c.type}`, c.type, [`echo-${c.type}`]));
  }
  await Promise.all(
    cases.map(async (c) => {
      const one = await postJson(cluster.queryPort, `/app-${c.type}/predict`, { input: c.input });
      assert.equal(one.status, 200, JSON.stringify(one.body));
      assert.deepEqual(one.body.output, c.expected, c.type);
      assert.equal(one.body.default, false);
      const many = await postJson(cluster.queryPort, `/app-${c.type}/predict`, { input_batch: [c.input, c.input, c.input] });
      assert.equal(many.body.batch_predictions.length, 3);
      for (const p of many.body.batch_predictions) assert.deepEqual(p.output, c.expected, c.type);
      const ids = many.body.batch_predictions.map((p: { query_id: number }) => p.query_id);
      assert.equal(new Set(ids).size, 3, 'each query has its own id');
    }),
  );
});

test('default outputs: no linked model, no replica, model error, wrong output count, SLO miss', async (t) => {
  const cluster = await startTestCluster(t);
  await cluster.store.putApp(appRecord('unlinked', 'doubles', [], { default_output: 'nope' }));
  const unlinked = await postJson(cluster.queryPort, '/unlinked/predict', { input: [1] });
  assert.deepEqual(unlinked.body, {
    query_id: unlinked.body.query_id,
    output: 'nope',
    default: true,
    default_explanation: kExplainNoModel,
  });

  await deploy(cluster, nodeModel('idle', '1', 'doubles', behaviour, { num_replicas: 0 }));
  await cluster.store.putApp(appRecord('no-replica', 'doubles', ['idle']));
  const noReplica = await postJson(cluster.queryPort, '/no-replica/predict', { input: [1] });
  assert.equal(noReplica.body.default, true);
  assert.equal(noReplica.body.output, -1.0);
  assert.equal(noReplica.body.default_explanation, kExplainNoModel);

  await deploy(cluster, nodeModel('behave', '1', 'doubles', behaviour));
  await cluster.store.putApp(appRecord('behave', 'doubles', ['behave'], { latency_slo_micros: 1_000_000 }));
  const failed = await postJson(cluster.queryPort, '/behave/predict', { input: [-1] });
  assert.equal(failed.body.default, true);
  assert.match(failed.body.default_explanation, /Model error: .*ValueError: negative input/);
  const fine = await postJson(cluster.queryPort, '/behave/predict', { input: [4] });
  assert.equal(fine.body.output, 40, 'the replica lives on after a model exception');
  const short = await postJson(cluster.queryPort, '/behave/predict', { input: [-2] });
  assert.equal(short.body.default, true);
  assert.match(short.body.default_explanation, /Model error: .*0 outputs for 1 inputs/);

  const fast = await postJson(cluster.queryPort, '/behave/predict', { input: [1000 + 10] });
  assert.equal(fast.body.output, 10100);
  // A model that always takes 200 ms: answered within the app's 1 s SLO, not within a per-request
  // slo_micros of 100 ms: never sent, and answered at once (not at the 100 ms deadline), with an SLO
  // explanation and not as shed: the model is idle, no backlog is to blame (no 429 for status_429 apps).
  await deploy(cluster, nodeModel('steady', '1', 'doubles', behaviour));
  await cluster.store.putApp(
    appRecord('steady', 'doubles', ['steady'], { latency_slo_micros: 1_000_000, overload_response: 'status_429' }),
  );
  assert.equal((await postJson(cluster.queryPort, '/steady/predict', { input: [1000 + 200, 1] })).body.output, 12000);
  const perRequest = await postJson(cluster.queryPort, '/steady/predict', { input: [1000 + 200, 2], slo_micros: 100_000 });
  assert.equal(perRequest.status, 200, 'not shed: no 429 (Retry-After) for an SLO the model cannot meet');
  assert.equal(perRequest.body.default_explanation, kExplainSloInfeasible, 'slo_micros overrides the app SLO');
  await new Promise((r) => setTimeout(r, 300)); // let the replica finish that batch if it was sent
  assert.equal((await postJson(cluster.queryPort, '/steady/predict', { input: [1000 + 200, 3] })).body.output, 12000);
  // A 2.5 s prediction misses the 1 s SLO: the default comes at the deadline.
  const slow = await postJson(cluster.queryPort, '/behave/predict', { input: [1000 + 2500] });
  assert.equal(slow.body.default, true);
  assert.equal(slow.body.default_explanation, kExplainSlo);
  assert.ok(slow.elapsedMs >= 1000, `answered after ${slow.elapsedMs} ms, before the 1 s deadline`);
});

test('version pinning, current version switch, unknown version, delete_app removes the route', async (t) => {
  const cluster = await startTestCluster(t);
  const model = path.join(kFixtureModels, 'version_model.mjs');
  await deploy(cluster, nodeModel('ver', '1', 'doubles', model));
  await deploy(cluster, nodeModel('ver', '2', 'doubles', model));
  await cluster.store.putApp(appRecord('ver-app', 'doubles', ['ver']));
  assert.equal((await postJson(cluster.queryPort, '/ver-app/predict', { input: [1] })).body.output, 'v2');
  assert.equal((await postJson(cluster.queryPort, '/ver-app/predict', { input: [1], version: '1' })).body.output, 'v1');
  await cluster.store.setCurrentVersion('ver', '1');
  assert.equal((await postJson(cluster.queryPort, '/ver-app/predict', { input: [1] })).body.output, 'v1');
  const unknown = await postJson(cluster.queryPort, '/ver-app/predict', { input: [1], version: '9' });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error, 'Query processing error');
  assert.match(unknown.body.cause, /Requested version: 9 does not exist for model: ver/);
  await cluster.store.putApp(appRecord('lonely', 'doubles', []));
  const noModel = await postJson(cluster.queryPort, '/lonely/predict', { input: [1], version: '1' });
  assert.equal(noModel.status, 400, 'version with no linked model is an error, not a crash');
  await cluster.store.deleteApp('ver-app');
  const gone = await postJson(cluster.queryPort, '/ver-app/predict', { input: [1] });
  assert.equal(gone.status, 404);
  assert.equal(gone.body.code, 'CLP_ERR_APP_NOT_FOUND');
});

test('HTTP errors: 400 bad JSON, 404 unknown route, 405 wrong method, 413 oversized body', async (t) => {
  const cluster = await startTestCluster(t, { bodyBytesMax: 4096 });
  await installExample(cluster);
  const port = cluster.queryPort;
  const bad = await postJson(port, '/hello-world/predict', '{"input": [1,');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error, 'Json error');
  const wrongType = await postJson(port, '/hello-world/predict', { input: ['a'] });
  assert.equal(wrongType.status, 400);
  assert.match(wrongType.body.cause, /input\[0\] must be a finite number/);
  const missing = await postJson(port, '/hello-world/predict', { inputs: [1] });
  assert.equal(missing.status, 400);
  const route = await postJson(port, '/hello-world/nothing', { input: [1] });
  assert.equal(route.status, 404);
  assert.equal(route.body.code, 'CLP_ERR_ROUTE_NOT_FOUND');
  const get = await fetch(`http://127.0.0.1:${port}/hello-world/predict`);
  assert.equal(get.status, 405);
  assert.equal(((await get.json()) as { code: string }).code, 'CLP_ERR_METHOD_NOT_ALLOWED');
  const big = await postJson(port, '/hello-world/predict', { input: new Array(2000).fill(1.5) });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 'CLP_ERR_BODY_TOO_LARGE');
  const after = await postJson(port, '/hello-world/predict', { input: [1, 2] });
  assert.equal(after.body.output, 3, 'the server is unaffected');
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics/prometheus`);
  assert.match(await metrics.text(), /clipper_queries_total \d+/);
});

test('a killed replica is restarted and serves again; queries meanwhile get the default', async (t) => {
  const cluster = await startTestCluster(t);
  await installExample(cluster);
  const [replica] = cluster.replicas();
  assert.ok(replica?.pid, 'the replica has a pid');
  await waitUntil(() => cluster.replicas()[0]?.connected === true, 10_000, 'the worker to connect');
  process.kill(replica.pid, 'SIGKILL');
  await waitUntil(
    () => cluster.replicas()[0]?.pid !== replica.pid && cluster.replicas()[0]?.connected === true,
    15_000,
    'a restarted, connected replica',
  );
  const r = await postJson(cluster.queryPort, '/hello-world/predict', { input: [2, 2] });
  assert.equal(r.body.default, false);
  assert.equal(r.body.output, 4);
  assert.ok(cluster.replicas()[0]!.restartCount >= 1);
});

test('many concurrent requests are each answered once, with their own output', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('behave', '1', 'doubles', behaviour, { num_replicas: 2 }));
  await cluster.store.putApp(appRecord('conc', 'doubles', ['behave'], { latency_slo_micros: 10_000_000 }));
  const results = await Promise.all(Array.from({ length: 300 }, (_, i) => postJson(cluster.queryPort, '/conc/predict', { input: [i] })));
  const ids = new Set<number>();
  let served = 0;
  results.forEach((r, i) => {
    assert.equal(r.status, 200);
    ids.add(r.body.query_id);
    if (r.body.default === false) {
      assert.equal(r.body.output, i * 10, 'never another query’s output');
      served++;
    } else {
      // Shedding under a noisy machine is allowed; it must say why.
      assert.equal(typeof r.body.default_explanation, 'string');
    }
  });
  assert.equal(ids.size, 300, 'each query has its own id');
  assert.ok(served > 0);
  assert.equal(await pendingNow(cluster), 0);
});

test('a synchronous model busy for longer than the liveness timeout keeps its replica (heartbeats flow)', async (t) => {
  // heartbeatMs 200 → a connection silent for 1 s is dropped; the model computes for 1.5 s.
  const cluster = await startTestCluster(t, { heartbeatMs: 200 });
  await deploy(cluster, nodeModel('busy', '1', 'doubles', path.join(kFixtureModels, 'busy_model.mjs'), {}, {}));
  await cluster.store.putApp(appRecord('busy', 'doubles', ['busy'], { latency_slo_micros: 10_000_000 }));
  const r = await postJson(cluster.queryPort, '/busy/predict', { input: [1500] });
  assert.equal(r.body.default, false, JSON.stringify(r.body));
  assert.equal(r.body.output, 1500);
  const [replica] = cluster.replicas();
  assert.equal(replica!.restartCount, 0);
  assert.equal(replica!.connected, true);
});

test('a malformed percent-encoding in the app name is a 404, not a crash', async (t) => {
  const cluster = await startTestCluster(t);
  const r = await postJson(cluster.queryPort, '/%E0%A4%A/predict', { input: [1] });
  assert.equal(r.status, 404);
  assert.equal(r.body.code, 'CLP_ERR_APP_NOT_FOUND');
});

test('overload: a full model queue sheds at once, as 429 + Retry-After or as the default output per app', async (t) => {
  const cluster = await startTestCluster(t, { queueBound: 1 });
  await deploy(cluster, nodeModel('slow', '1', 'doubles', behaviour));
  await cluster.store.putApp(appRecord('polite', 'doubles', ['slow'], { latency_slo_micros: 5_000_000, overload_response: 'status_429' }));
  await cluster.store.putApp(appRecord('quiet', 'doubles', ['slow'], { latency_slo_micros: 5_000_000 }));
  // One query in flight (the replica sleeps 800 ms), one queued, the rest find the queue full.
  const inFlight = postJson(cluster.queryPort, '/polite/predict', { input: [1000 + 800] });
  await new Promise((r) => setTimeout(r, 100));
  const queued = postJson(cluster.queryPort, '/polite/predict', { input: [1000 + 1] });
  await new Promise((r) => setTimeout(r, 100));
  const res = await fetch(`http://127.0.0.1:${cluster.queryPort}/polite/predict`, { method: 'POST', body: '{"input":[3]}' });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), '1');
  assert.equal(((await res.json()) as { code: string }).code, 'CLP_ERR_SHED');
  const quiet = await postJson(cluster.queryPort, '/quiet/predict', { input: [3] });
  assert.equal(quiet.status, 200);
  assert.equal(quiet.body.default, true);
  assert.match(quiet.body.default_explanation, /queue is full/);
  assert.equal((await inFlight).body.output, 18000);
  assert.equal((await queued).body.output, 10010);
});

test('an input larger than a ring record gets 413, not a misleading "shed"', async (t) => {
  // A 64 KiB ring carries queries of up to ~32 KiB: 5,000 doubles (40 KB) fit the 16 MiB body limit
  // but not the ring.
  const cluster = await startTestCluster(t, { ringBytes: 64 * 1024 });
  await installExample(cluster);
  const big = await postJson(cluster.queryPort, '/hello-world/predict', { input: new Array(5000).fill(1) });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 'CLP_ERR_BODY_TOO_LARGE');
  assert.match(big.body.cause, /batching ring/);
  const fits = await postJson(cluster.queryPort, '/hello-world/predict', { input: new Array(2000).fill(1) });
  assert.equal(fits.body.output, 2000);
});

test('many distinct per-request SLOs: each query is answered at its own deadline', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('slow', '1', 'doubles', behaviour));
  await cluster.store.putApp(appRecord('slow', 'doubles', ['slow'], { latency_slo_micros: 5_000_000 }));
  // The model takes 600 ms; every request asks for its own, shorter SLO.
  const slos = Array.from({ length: 12 }, (_, i) => 60_000 + i * 20_000);
  const results = await Promise.all(
    slos.map((slo, i) => postJson(cluster.queryPort, '/slow/predict', { input: [1000 + 600, i], slo_micros: slo })),
  );
  results.forEach((r, i) => {
    assert.equal(r.body.default_explanation, kExplainSlo);
    assert.ok(r.elapsedMs >= slos[i]! / 1000, `answered after ${r.elapsedMs} ms, before its ${slos[i]! / 1000} ms deadline`);
  });
  assert.equal(await pendingNow(cluster), 0);
});
