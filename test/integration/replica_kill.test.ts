// Reliability item 1 in CI (issue 15; the load version is bench/reliability/replica_kill.ts): a replica
// SIGKILLed while it computes a batch. Every query in flight is answered (its batch is re-queued on the
// other replica, the SLO being long), and the killed replica comes back with a new process and serves.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { appRecord, deploy, kFixtureModels, nodeModel, pendingNow, postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';

/** The replica ids with a batch in flight, from the query port's Prometheus text. */
async function replicasWithBatches(port: number, model: string): Promise<number[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics/prometheus`)).text();
  const busy: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('clipper_replica_in_flight_batches{') || !line.includes(`model="${model}"`)) continue;
    const m = /replica="(\d+)"\}\s+(\d+)/.exec(line);
    if (m !== null && Number(m[2]) > 0) busy.push(Number(m[1]));
  }
  return busy;
}

test('a replica SIGKILLed with batches in flight: every query is answered, the replica comes back', async (t) => {
  const cluster = await startTestCluster(t);
  const behaviour = path.join(kFixtureModels, 'behaviour_model.mjs');
  await deploy(cluster, nodeModel('victim', '1', 'doubles', behaviour, { num_replicas: 2, cache_enabled: false }));
  await cluster.store.putApp(appRecord('kill', 'doubles', ['victim'], { latency_slo_micros: 30_000_000 }));
  await waitUntil(() => cluster.replicas().filter((r) => r.connected).length === 2, 20_000, 'both replicas connected');
  // behaviour_model: an input v >= 1000 sleeps v - 1000 ms, then answers v * 10.
  const inputs = Array.from({ length: 8 }, (_, i) => 1800 + i);
  const answers = Promise.all(inputs.map((v) => postJson(cluster.queryPort, '/kill/predict', { input: [v] })));
  let busy: number[] = [];
  await waitUntil(
    async () => {
      busy = await replicasWithBatches(cluster.queryPort, 'victim');
      return busy.length > 0;
    },
    20_000,
    'a batch in flight',
  );
  const victim = cluster.replicas().find((r) => r.replicaId === busy[0]);
  assert.ok(victim?.pid, 'the busy replica has a pid');
  process.kill(victim.pid, 'SIGKILL');

  const results = await answers;
  results.forEach((r, i) => {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.default, false, `query ${i} was re-queued on the other replica: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.output, inputs[i]! * 10, 'its own output');
  });
  await waitUntil(
    () => cluster.replicas().some((r) => r.replicaId === victim.replicaId && r.connected && r.pid !== victim.pid),
    20_000,
    'the killed replica restarted and connected',
  );
  const restarted = cluster.replicas().find((r) => r.replicaId === victim.replicaId)!;
  assert.ok(restarted.restartCount >= 1);
  // Both replicas serve again: a burst spread over them is answered by the model.
  const after = await Promise.all(Array.from({ length: 6 }, (_, i) => postJson(cluster.queryPort, '/kill/predict', { input: [i + 1] })));
  for (const [i, r] of after.entries()) assert.equal(r.body.output, (i + 1) * 10, JSON.stringify(r.body));
  assert.equal(await pendingNow(cluster), 0);
});
