// The dashboard's tuning actions through the real admin API and a real cluster: set_app_slo holds
// the next query to the new SLO; set_model_batch_size reaches the running model's scheduler (a fixed
// batch of 1 → every batch under concurrent load has one query) without restarting its replica;
// both validate their fields (a fixed batch size within the cluster's batchSizeMax), and both are in
// the TS client and the CLI (set-slo, set-batch-size).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection } from '../../src/client/admin_client.js';
import { histogramDelta } from '../../src/dashboard/snapshot_builder.js';
import { kRepoRoot } from '../../src/paths.js';
import { appRecord, deploy, kFixtureModels, nodeModel, postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { runProcess } from '../helpers/run_process.js';

/** input [1000 + ms, k]: sleeps ms, answers 10 × the first element (test/fixtures/models/behaviour_model.mjs). */
const kBehaviourModel = path.join(kFixtureModels, 'behaviour_model.mjs');

test('set_app_slo: the next query is held to the new SLO, and the app shows it', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  await deploy(cluster, nodeModel('slow', '1', 'doubles', kBehaviourModel));
  await cluster.store.putApp(appRecord('tuned', 'doubles', ['slow']));
  const admin = (route: string, body: unknown) => postJson(cluster.adminPort, `/admin/${route}`, body);
  const predict = (k: number) => postJson(cluster.queryPort, '/tuned/predict', { input: [1100, k] });

  const before = await predict(1);
  assert.deepEqual([before.body.default, before.body.output], [false, 11000], 'within the 2 s SLO: the model answers');

  const set = await admin('set_app_slo', { name: 'tuned', slo_micros: 20_000 });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.match(set.body, /set the latency SLO of application 'tuned' to 20000 microseconds/);
  assert.equal((await admin('get_application', { name: 'tuned' })).body.latency_slo_micros, 20_000);
  const after = await predict(2);
  assert.equal(after.body.default, true, 'a 100 ms model cannot meet a 20 ms SLO: the default output');
  assert.match(after.body.default_explanation, /latency SLO/);

  const conn = new ClipperConnection({ adminUrl: `http://127.0.0.1:${cluster.adminPort}` });
  await conn.setAppSlo('tuned', 2_000_000);
  assert.equal((await predict(3)).body.default, false, 'back to 2 s: the model answers again');

  const refusals: Array<[unknown, RegExp]> = [
    [{ name: 'tuned', slo_micros: 10 }, /slo_micros must be an integer in \[1000, /],
    [{ name: 'tuned', slo_micros: '20ms' }, /JSON key slo_micros expected type Int/],
    [{ slo_micros: 20_000 }, /required key: name/],
    [{ name: 'nope', slo_micros: 20_000 }, /No app with name 'nope' exists/],
  ];
  for (const [body, cause] of refusals) {
    const r = await admin('set_app_slo', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.cause, cause);
  }
});

test('set_model_batch_size: a fixed batch of 1 reaches the running scheduler, and the replica keeps running', async (t) => {
  const cluster = await startTestCluster(t, { batchSizeMax: 256 }, { startAdmin: startAdminServer });
  await deploy(cluster, nodeModel('batchy', '1', 'doubles', kBehaviourModel));
  await cluster.store.putApp(appRecord('load', 'doubles', ['batchy']));
  const admin = (route: string, body: unknown) => postJson(cluster.adminPort, `/admin/${route}`, body);
  const stats = async () => (await cluster.dashboard.modelStats()).find((m) => m.name === 'batchy')!;
  const replicaBefore = cluster.replicas()[0]!;

  const set = await admin('set_model_batch_size', { model_name: 'batchy', model_version: '1', batch_size: 1 });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.match(set.body, /to a fixed maximum of 1/);
  assert.equal((await admin('get_model', { model_name: 'batchy', model_version: '1' })).body.batch_size, 1);
  await waitUntil(async () => (await stats()).scheduler.replicas[0]?.batchSizeMax === 1, 10_000, 'the scheduler to take batch size 1');

  const first = await stats();
  // 40 queries at once with distinct inputs (no cache hits), each batch taking 5 ms: a queue forms.
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, k) => postJson(cluster.queryPort, '/load/predict', { input: [1005, k] })),
  );
  assert.ok(
    answers.every((a) => a.body.default === false),
    'every query answered by the model',
  );
  const sizes = histogramDelta((await stats()).batchSize, first.batchSize);
  const batches = sizes.counts.reduce((a, b) => a + b, 0);
  assert.equal(sizes.sum, 40, 'the 40 queries were sent');
  assert.equal(batches, 40, 'in 40 batches: every batch had one query');

  const replicaAfter = cluster.replicas()[0]!;
  assert.deepEqual([replicaAfter.pid, replicaAfter.restartCount], [replicaBefore.pid, replicaBefore.restartCount], 'no restart');

  const conn = new ClipperConnection({ adminUrl: `http://127.0.0.1:${cluster.adminPort}` });
  assert.match(await conn.setModelBatchSize('batchy', '1', -1), /to adaptive/);
  assert.equal((await admin('get_model', { model_name: 'batchy', model_version: '1' })).body.batch_size, -1);

  const refusals: Array<[unknown, RegExp]> = [
    [
      { model_name: 'batchy', model_version: '1', batch_size: 0 },
      /batch_size must be -1 \(adaptive\) or a fixed maximum from 1 to 256 \(the cluster's batchSizeMax\) \(got 0\)/,
    ],
    [{ model_name: 'batchy', model_version: '1', batch_size: -5 }, /batch_size must be -1/],
    [{ model_name: 'batchy', model_version: '1', batch_size: 257 }, /from 1 to 256 \(the cluster's batchSizeMax\) \(got 257\)/],
    [{ model_name: 'batchy', model_version: '1', batch_size: 2_000_000 }, /got 2000000/],
    [{ model_name: 'batchy', model_version: '1', batch_size: 1.5 }, /JSON key batch_size expected type Int/],
    [{ model_name: 'batchy', batch_size: 4 }, /required key: model_version/],
    [{ model_name: 'batchy', model_version: '7', batch_size: 4 }, /model with name 'batchy' and version '7' does not exist/],
  ];
  for (const [body, cause] of refusals) {
    const r = await admin('set_model_batch_size', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.cause, cause);
  }
});

test('clipper set-slo and set-batch-size change a running cluster', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  await deploy(cluster, nodeModel('cli', '1', 'doubles', kBehaviourModel));
  await cluster.store.putApp(appRecord('cliapp', 'doubles', ['cli']));
  const cli = (...args: string[]) =>
    runProcess(process.execPath, [
      path.join(kRepoRoot, 'bin', 'clipper.js'),
      ...args,
      '--admin-url',
      `http://127.0.0.1:${cluster.adminPort}`,
    ]);

  const slo = await cli('set-slo', '--app', 'cliapp', '--slo-micros', '300000');
  assert.equal(slo.status, 0, slo.stderr);
  assert.equal(cluster.snapshot().apps.get('cliapp')?.latency_slo_micros, 300_000);
  const fixed = await cli('set-batch-size', '--model', 'cli', '--batch-size', '4');
  assert.equal(fixed.status, 0, fixed.stderr);
  assert.match(fixed.stdout, /model 'cli' version '1' to a fixed maximum of 4/, 'the current version when none is named');
  assert.equal(cluster.snapshot().models.get('cli:1')?.batch_size, 4);
  const adaptive = await cli('set-batch-size', '--model', 'cli', '--version', '1', '--batch-size', 'adaptive');
  assert.equal(adaptive.status, 0, adaptive.stderr);
  assert.equal(cluster.snapshot().models.get('cli:1')?.batch_size, -1);
  const bad = await cli('set-batch-size', '--model', 'cli', '--batch-size', 'big');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--batch-size must be an integer/);
});
