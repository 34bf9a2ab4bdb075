// The prediction cache on the query path: hits skip the model, identical concurrent queries share
// one prediction, caching can be turned off per model, and a redeployed version never serves old
// outputs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { appRecord, deploy, kFixtureModels, nodeModel, postJson, startTestCluster } from '../helpers/cluster.js';

const counter = path.join(kFixtureModels, 'counter_model.mjs');
const ask = async (port: number, app: string, input: number[]): Promise<string> => {
  const r = await postJson(port, `/${app}/predict`, { input });
  assert.equal(r.body.default, false, JSON.stringify(r.body));
  return r.body.output as string;
};

test('a repeated input is answered from the cache; a different one is computed', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('count', '1', 'doubles', counter));
  await cluster.store.putApp(appRecord('count', 'doubles', ['count']));
  const first = await ask(cluster.queryPort, 'count', [5]);
  assert.equal(await ask(cluster.queryPort, 'count', [5]), first, 'the same input hits');
  assert.equal(await ask(cluster.queryPort, 'count', [5.0]), first, 'the same double, written differently, hits');
  const other = await ask(cluster.queryPort, 'count', [6]);
  assert.notEqual(other, first);
  const metrics = await (await fetch(`http://127.0.0.1:${cluster.queryPort}/metrics/prometheus`)).text();
  assert.match(metrics, /clipper_cache_lookups_total\{result="hit"\} 2/);
});

test('identical concurrent queries share one prediction', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('count', '1', 'doubles', counter));
  await cluster.store.putApp(appRecord('count', 'doubles', ['count']));
  const outputs = await Promise.all(Array.from({ length: 20 }, () => ask(cluster.queryPort, 'count', [7, 200])));
  assert.equal(new Set(outputs).size, 1, `one prediction for all: ${[...new Set(outputs)].join(', ')}`);
  const metrics = await (await fetch(`http://127.0.0.1:${cluster.queryPort}/metrics/prometheus`)).text();
  const coalesced = Number(/clipper_cache_lookups_total\{result="coalesced"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(coalesced >= 1, `coalesced ${coalesced}`);
});

test('cache_enabled: false computes every query', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('fresh', '1', 'doubles', counter, { cache_enabled: false }));
  await cluster.store.putApp(appRecord('fresh', 'doubles', ['fresh']));
  assert.notEqual(await ask(cluster.queryPort, 'fresh', [5]), await ask(cluster.queryPort, 'fresh', [5]));
});

test('a redeployed name:version never serves the old version’s cached outputs', async (t) => {
  const cluster = await startTestCluster(t);
  const model = nodeModel('count', '1', 'doubles', counter);
  await deploy(cluster, model);
  await cluster.store.putApp(appRecord('count', 'doubles', ['count']));
  const before = await ask(cluster.queryPort, 'count', [5]);
  await cluster.store.deleteModel('count', '1');
  await deploy(cluster, model);
  const after = await ask(cluster.queryPort, 'count', [5]);
  assert.notEqual(after.split(':')[0], before.split(':')[0], 'answered by the new replica, not the cache');
});
