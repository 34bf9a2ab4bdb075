// Replicas authenticate to the worker that dials them (containers/PROTOCOL.md, "Authentication"):
// an impostor on a replica's address, without the cluster's secret or with a guessed one, is refused,
// reported as not connected with the reason, and never answers a query; real replicas, given the
// secret in their environment by the local-process manager, are served.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Cluster } from '../../src/cluster.js';
import { kExplainNoModel } from '../../src/query/explanations.js';
import { appRecord, deploy, kExampleModels, kFixtureModels, nodeModel, postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';

const impostor = path.join(kFixtureModels, 'impostor_model.mjs');

/** Registers the impostor as model `name` (its replica's ready line names the impostor's port) behind app `name`. */
async function registerImpostor(cluster: Cluster, name: string, version: string): Promise<void> {
  await cluster.store.putModel(nodeModel(name, version, 'doubles', impostor));
  await cluster.store.setCurrentVersion(name, version);
  await cluster.store.putApp(appRecord(name, 'doubles', [name]));
}

function replicaOf(cluster: Cluster, name: string) {
  return cluster.replicas().find((r) => r.model === name);
}

test('an impostor without the secret, or with a guessed one, is refused and never answers a query', { timeout: 120_000 }, async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('sum', '1', 'doubles', path.join(kExampleModels, 'sum_model.mjs')));
  await cluster.store.putApp(appRecord('real', 'doubles', ['sum']));
  for (const [name, version, why] of [
    ['imp-none', 'nosecret', /sent no auth/],
    ['imp-guess', 'wrongsecret', /wrong auth/],
  ] as const) {
    await registerImpostor(cluster, name, version);
    await waitUntil(() => /^authentication failed/.test(replicaOf(cluster, name)?.connectionError ?? ''), 60_000, `${name} refused`);
    const replica = replicaOf(cluster, name)!;
    assert.equal(replica.connected, false);
    assert.match(replica.connectionError!, why);
    for (let i = 0; i < 5; i++) {
      const reply = await postJson(cluster.queryPort, `/${name}/predict`, { input: [1, 2, 3] });
      assert.equal(reply.status, 200);
      assert.notEqual(reply.body.output, 'impostor', 'the impostor never answers');
      assert.equal(reply.body.default, true);
      assert.equal(reply.body.default_explanation, kExplainNoModel);
    }
    assert.equal(replicaOf(cluster, name)!.connected, false, 'still refused on every redial');
  }
  // The real replica, started with the secret in its environment, proves it and is served.
  const real = await postJson(cluster.queryPort, '/real/predict', { input: [1, 2, 3] });
  assert.equal(real.body.output, 6);
  assert.equal(real.body.default, false);
  assert.equal(replicaOf(cluster, 'sum')!.connected, true);
  assert.equal(replicaOf(cluster, 'sum')!.connectionError, undefined);
});

test("replicaAuth 'off' serves replicas that cannot authenticate (Clipper's own containers)", { timeout: 120_000 }, async (t) => {
  const cluster = await startTestCluster(t, { replicaAuth: 'off' });
  await registerImpostor(cluster, 'imp-none', 'nosecret');
  await waitUntil(() => replicaOf(cluster, 'imp-none')?.connected === true, 60_000, 'the unauthenticated replica connected');
  const reply = await postJson(cluster.queryPort, '/imp-none/predict', { input: [1] });
  assert.equal(reply.body.output, 'impostor', 'with the check off, whatever listens there is trusted');
});
