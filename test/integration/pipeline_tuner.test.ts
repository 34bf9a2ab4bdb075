// The reactive pipeline tuner (src/control/pipeline_tuner.ts) on a real cluster: a one-stage pipeline app
// with a plan stored through the admin API (set_pipeline_plan) whose envelope is far below the load
// the test sends. The tuner sees the rate leave the envelope, raises the model's replicas through
// set_num_replicas (bounded by the plan's replicas_max), stores the envelope around the new rate, and
// when the load stops scales back down to one replica. Ticks are short (100 ms, window 300 ms) so the
// test takes a few seconds.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import type { PipelinePlan } from '../../src/pipeline_spec.js';
import { deploy, kFixtureModels, nodeModel, postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';

/** input [v, k]: answers 10 v at once for v < 1000 (test/fixtures/models/behaviour_model.mjs). */
const kBehaviourModel = path.join(kFixtureModels, 'behaviour_model.mjs');

/** Planned for 2 qps: one replica serves 5 qps, at most 3 replicas. */
function plan(): PipelinePlan {
  return {
    seed: 1,
    workload: { kind: 'poisson', rate_qps: 2 },
    slo_micros: 2_000_000,
    models: [
      { model: 'tm', version: '1', batch_size: -1, replicas: 1, latency_us: [[1, 1000]], visit_fraction: 1, capacity_qps_per_replica: 5 },
    ],
    stage_budgets_micros: { only: 2_000_000 },
    predicted: { p99_micros: 2000, p50_micros: 1000, throughput_qps: 2, replicas: 1, slo_miss_ratio: 0 },
    envelope_qps: [1, 3],
    replicas_max: 3,
    reactive: true,
  };
}

test('queries above a stored plan envelope raise the model replicas, bounded by replicas_max; idle scales down', async (t) => {
  const log: string[] = [];
  const cluster = await startTestCluster(
    t,
    { pipelineTuneIntervalMs: 100, pipelineTuneWindowMs: 300 },
    { startAdmin: startAdminServer, log: (line) => log.push(line) },
  );
  const admin = (route: string, body: unknown) => postJson(cluster.adminPort, `/admin/${route}`, body);
  await deploy(cluster, nodeModel('tm', '1', 'doubles', kBehaviourModel));
  const added = await admin('add_app', {
    name: 'tp',
    input_type: 'doubles',
    default_output: '-1',
    latency_slo_micros: 2_000_000,
    pipeline: { stages: [{ name: 'only', kind: 'model', model: 'tm' }], output: 'only' },
  });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  const stored = await admin('set_pipeline_plan', { name: 'tp', plan: plan() });
  assert.equal(stored.status, 200, JSON.stringify(stored.body));
  const replicasOf = async (): Promise<number> => (await admin('get_model', { model_name: 'tm', model_version: '1' })).body.num_replicas;
  assert.equal(await replicasOf(), 1);

  // Up to ~100 qps, far above the envelope: more than 3 replicas worth, so the plan bound of 3 applies.
  let sending = true;
  let k = 0;
  const load = (async () => {
    while (sending) {
      await Promise.all([postJson(cluster.queryPort, '/tp/predict', { input: [1, k++] }), new Promise((r) => setTimeout(r, 10))]);
    }
  })();
  try {
    await waitUntil(async () => (await replicasOf()) === 3, 20_000, 'the tuner to raise tm to 3 replicas');
    await waitUntil(
      () => cluster.replicas().filter((r) => r.model === 'tm' && r.connected).length === 3,
      20_000,
      'three connected replicas of tm',
    );
    const app = (await admin('get_application', { name: 'tp' })).body;
    const [low, high] = app.pipeline_plan.envelope_qps as [number, number];
    assert.ok(low > 3 && high > low, `the stored envelope follows the new rate: [${low}, ${high}]`);
    assert.deepEqual({ ...app.pipeline_plan, envelope_qps: null }, { ...plan(), envelope_qps: null }, 'the rest of the plan is kept');
  } finally {
    sending = false;
    await load;
  }
  // On a busy machine the rate may reach the tuner in two steps (1→2, then 2→3): either way it went up,
  // and no change asked for more than replicas_max.
  const moves = (): Array<[number, number]> =>
    log.flatMap((line) =>
      [...line.matchAll(/pipeline tuner: app 'tp' at .*: tm (\d+)→(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as [number, number]),
    );
  assert.ok(
    moves().some(([from, to]) => from === 1 && to > 1),
    log.join('\n'),
  );
  await waitUntil(async () => (await replicasOf()) === 1, 20_000, 'the tuner to scale tm back to 1 replica once idle');
  const changes = log.filter((line) => line.includes("pipeline tuner: app 'tp'"));
  for (const line of changes) t.diagnostic(line);
  for (const [, to] of moves()) assert.ok(to >= 1 && to <= 3, `within [1, replicas_max 3]: ${changes.join('\n')}`);
  assert.ok(changes.length <= 6, `one line per change, not per tick:\n${changes.join('\n')}`);
});
