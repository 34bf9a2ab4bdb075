// Pipeline apps on a real cluster (docs/pipelines.md): added through admin add_app with a pipeline,
// served by real Node models, queried over HTTP and the WebSocket stream. A cascade answers from the
// fast model when it is confident and falls through otherwise; a featurizer feeds an ensemble; a
// model whose answer comes after the deadline makes the cascade answer its best so far, marked
// "fallback", and a first level that gives no answer makes it ask the next (a failover); /metrics
// and admin get_pipeline_stats show the per-stage counters. The Open Inference Protocol serves a
// pipeline app too (ready, metadata, infer).

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import type { ModelRecord } from '../../src/state/records.js';
import { deploy, kFixtureModels, nodeModel, postJson, queryStatsNow, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { openStream } from '../helpers/ws.js';

const kModels = path.join(kFixtureModels, 'pipeline_stage_models.mjs');

function model(name: string): ModelRecord {
  return nodeModel(name, '1', 'doubles', kModels, {
    container: { runtime: 'node', entry: kModels, function: name, options: { isolate: 'inline' } },
  });
}

const cascade = (slow: string) => ({
  output: 'c',
  stages: [{ name: 'c', kind: 'cascade', models: ['fast', slow], threshold: 0.8 }],
});

test('pipeline apps answer over HTTP and the stream, fall back when a stage is late, and report per-stage counters', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  await Promise.all(['fast', 'slow', 'sleepy', 'double'].map((m) => deploy(cluster, model(m))));
  const admin = (route: string, body: unknown) => postJson(cluster.adminPort, `/admin/${route}`, body);
  const predict = (app: string, body: unknown) => postJson(cluster.queryPort, `/${app}/predict`, body);
  const addApp = async (name: string, pipeline: unknown, sloMicros: number) => {
    const r = await admin('add_app', { name, input_type: 'doubles', default_output: '-1', latency_slo_micros: sloMicros, pipeline });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  await addApp('casc', cascade('slow'), 2_000_000);
  await addApp('oipcasc', cascade('slow'), 2_000_000); // queried over the Open Inference Protocol only
  await addApp('lazy', cascade('sleepy'), 1_000_000);
  await addApp(
    'failover',
    { output: 'c', stages: [{ name: 'c', kind: 'cascade', models: ['sleepy', 'slow'], threshold: 0.8 }] },
    1_000_000,
  );
  await addApp(
    'mapens',
    {
      output: 'ens',
      stages: [
        { name: 'fz', kind: 'model', model: 'double', output_type: 'doubles' },
        { name: 'ens', kind: 'ensemble', input: 'fz', models: ['fast', 'slow'], combine: 'vote', field: 'label', weights: [2, 1] },
      ],
    },
    2_000_000,
  );
  await admin('add_app', { name: 'plain', input_type: 'doubles', default_output: '-1', latency_slo_micros: 100_000 });

  // A confident fast answer; an unsure one falls through to the slow model.
  const confident = await predict('casc', { input: [0.9, 0.95] });
  assert.equal(confident.status, 200);
  assert.deepEqual(
    { output: confident.body.output, default: confident.body.default, models: confident.body.models },
    { output: { label: 1, confidence: 0.95 }, default: false, models: ['fast'] },
  );
  const batch = await predict('casc', {
    input_batch: [
      [0.2, 0.1],
      [0.7, 0.9],
    ],
  });
  assert.deepEqual(
    batch.body.batch_predictions.map((p: { output: unknown; models: string[] }) => [p.output, p.models]),
    [
      [{ label: 7, confidence: 0.99 }, ['slow']],
      [{ label: 1, confidence: 0.9 }, ['fast']],
    ],
  );
  const stream = await openStream(cluster.queryPort, 'casc');
  stream.sendJson({ id: 1, input: [0.2, 0.1] });
  const frame = await stream.next();
  assert.deepEqual(
    { id: frame.id, output: frame.output, default: frame.default, models: frame.models },
    { id: 1, output: { label: 7, confidence: 0.99 }, default: false, models: ['slow'] },
  );
  stream.ws.close();

  // The featurizer's output feeds the ensemble: [0.3] doubled is 0.6, label 1 by the heavier vote.
  const mapped = await predict('mapens', { input: [0.3, 0.4] });
  assert.deepEqual(mapped.body.output, { label: 1, confidence: 0.666667 });
  assert.deepEqual(mapped.body.models, ['double', 'fast', 'slow']);

  // The Open Inference Protocol: a pipeline app is ready once its models are, and answers an infer
  // (an object output per row: a BYTES tensor of its JSON text).
  const ready = await fetch(`http://127.0.0.1:${cluster.queryPort}/v2/models/oipcasc/ready`);
  assert.equal(ready.status, 200, await ready.clone().text());
  assert.deepEqual(await ready.json(), { name: 'oipcasc', ready: true });
  const meta = (await fetch(`http://127.0.0.1:${cluster.queryPort}/v2/models/oipcasc`).then((r) => r.json())) as {
    platform: string;
    versions: string[];
    inputs: Array<{ datatype: string }>;
  };
  assert.deepEqual([meta.platform, meta.versions, meta.inputs[0]?.datatype], ['clipper-ts/pipeline', [], 'FP64']);
  const oip = await postJson(cluster.queryPort, '/v2/models/oipcasc/infer', {
    inputs: [{ name: 'input0', shape: [2, 2], datatype: 'FP64', data: [0.9, 0.95, 0.2, 0.1] }],
  });
  assert.equal(oip.status, 200, JSON.stringify(oip.body));
  assert.deepEqual(
    { datatype: oip.body.outputs[0].datatype, rows: oip.body.outputs[0].data.map((t: string) => JSON.parse(t)) },
    {
      datatype: 'BYTES',
      rows: [
        { label: 1, confidence: 0.95 },
        { label: 7, confidence: 0.99 },
      ],
    },
  );

  const pinned = await predict('casc', { input: [0.9, 0.9], version: '1' });
  assert.equal(pinned.status, 400);
  assert.match(JSON.stringify(pinned.body), /is a pipeline/);

  // sleepy answers after the deadline: the cascade answers fast's unsure answer, marked.
  const late = await predict('lazy', { input: [0.9, 0.3] });
  assert.equal(late.status, 200);
  assert.equal(late.body.default, false);
  assert.deepEqual(late.body.output, { label: 1, confidence: 0.3 });
  assert.deepEqual(late.body.models, ['fast']);
  assert.match(
    late.body.fallback,
    /^stage 'c': model 'sleepy' gave no answer: Failed to retrieve a prediction response within the specified latency SLO; answered with the best so far, from model 'fast'$/,
  );
  // A first level that gives no answer in its share of the time: the cascade asks the next model.
  const failover = await predict('failover', { input: [0.9, 0.3] });
  assert.deepEqual(
    { output: failover.body.output, default: failover.body.default, models: failover.body.models, fallback: failover.body.fallback },
    { output: { label: 7, confidence: 0.99 }, default: false, models: ['slow'], fallback: undefined },
  );
  // A stream client that leaves while its pipeline query runs: the run is cancelled (its open
  // sub-query with it: counted cancelled, never answered), the server goes on.
  const cancelledBefore = (await queryStatsNow(cluster)).counters.cancelled;
  const leaving = await openStream(cluster.queryPort, 'lazy');
  const leftAtMs = Date.now();
  leaving.sendJson({ id: 2, input: [0.9, 0.3] });
  await new Promise((r) => setTimeout(r, 50));
  leaving.ws.close();
  await leaving.closed;
  await waitUntil(async () => (await queryStatsNow(cluster)).counters.cancelled > cancelledBefore, 5000, 'the run to be cancelled');
  // Once its SLO (1 s) has passed, a run that had not been cancelled would have answered its best so
  // far and counted a fallback: lazy's count below must still be the one of the late query above.
  await new Promise((r) => setTimeout(r, Math.max(0, leftAtMs + 1500 - Date.now())));

  const metrics = await fetch(`http://127.0.0.1:${cluster.queryPort}/metrics`, { headers: { accept: 'text/plain' } });
  const text = await metrics.text();
  assert.match(text, /clipper_pipeline_stage_latency_seconds_count\{app="casc",stage="c"\} 4\n/);
  assert.match(text, /clipper_pipeline_cascade_fallthrough_total\{app="casc",stage="c",model="fast"\} 2\n/);
  assert.match(text, /clipper_pipeline_stage_fallbacks_total\{app="lazy",stage="c"\} 1\n/);
  assert.match(text, /clipper_pipeline_cascade_failovers_total\{app="failover",stage="c",model="sleepy"\} 1\n/);
  assert.match(text, /clipper_pipeline_stage_fallbacks_total\{app="failover",stage="c"\} 0\n/);
  assert.match(text, /clipper_pipeline_run_errors_total\{app="casc"\} 0\n/);
  assert.match(text, /clipper_pipeline_stage_latency_seconds_bucket\{app="mapens",stage="fz",le="\+Inf"\} 1\n/);

  const stats = await admin('get_pipeline_stats', { name: 'casc' });
  assert.equal(stats.status, 200, JSON.stringify(stats.body));
  const [c] = stats.body.stages;
  assert.deepEqual(
    { name: c.name, kind: c.kind, calls: c.calls, fallbacks: c.fallbacks, fallthrough: c.fallthrough, failovers: c.failovers },
    { name: 'c', kind: 'cascade', calls: 4, fallbacks: 0, fallthrough: { fast: 2 }, failovers: { fast: 0 } },
  );
  assert.ok(c.latency_us.p99 >= c.latency_us.p50 && c.latency_us.mean > 0, JSON.stringify(c.latency_us));
  assert.deepEqual(
    c.models.map((m: { model: string }) => m.model),
    ['fast', 'slow'],
  );
  assert.ok(
    c.models.every((m: { mean_batch_size: number }) => m.mean_batch_size >= 1),
    JSON.stringify(c.models),
  );
  assert.equal(stats.body.queries, 4);
  assert.ok(stats.body.arrival_rate_qps > 0);
  assert.equal((await admin('get_pipeline_stats', { name: 'plain' })).status, 400);
  assert.equal((await admin('get_pipeline_stats', { name: 'nope' })).status, 400);
  // After the client that left, queries still run.
  assert.equal((await predict('casc', { input: [0.9, 0.95] })).body.default, false);
});
