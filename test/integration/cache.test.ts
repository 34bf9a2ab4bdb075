// The prediction cache on the query path: hits skip the model, identical concurrent queries share
// one prediction, caching can be turned off per model, and a redeployed version never serves old
// outputs. With frontend threads each thread has its own cache and its own queries in flight, and a
// connection stays on one thread: a test of what the cache remembers sends its queries on one
// connection; the coalescing test sends from many connections and checks the rule per thread.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  appRecord,
  deploy,
  kFixtureModels,
  nodeModel,
  type OneConnection,
  oneConnection,
  postJson,
  startTestCluster,
} from '../helpers/cluster.js';

const counter = path.join(kFixtureModels, 'counter_model.mjs');
/** `input` as numbers, or as the JSON text to send (to write a number differently). */
const ask = async (via: number | OneConnection, app: string, input: number[] | string): Promise<string> => {
  const body = `{"input":${typeof input === 'string' ? input : JSON.stringify(input)}}`;
  const r = typeof via === 'number' ? await postJson(via, `/${app}/predict`, body) : await via.postJson(`/${app}/predict`, body);
  assert.equal(r.body.default, false, JSON.stringify(r.body));
  return r.body.output as string;
};
/** With frontend threads a reconnect could land on another thread (another cache): the test's premise. */
const assertOneThread = (cluster: { config: { frontendThreads: number } }, c: OneConnection): void => {
  if (cluster.config.frontendThreads > 1) assert.equal(c.connects, 1, 'every query went on one connection, to one frontend thread');
};

test('a repeated input is answered from the cache; a different one is computed', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('count', '1', 'doubles', counter));
  await cluster.store.putApp(appRecord('count', 'doubles', ['count']));
  const c = oneConnection(t, cluster.queryPort);
  const first = await ask(c, 'count', [5]);
  assert.equal(await ask(c, 'count', [5]), first, 'the same input hits');
  assert.equal(await ask(c, 'count', '[5.0]'), first, 'the same double, written differently, hits');
  const other = await ask(c, 'count', [6]);
  assert.notEqual(other, first);
  assertOneThread(cluster, c);
  const metrics = await (await fetch(`http://127.0.0.1:${cluster.queryPort}/metrics/prometheus`)).text();
  assert.match(metrics, /clipper_cache_lookups_total\{result="hit"\} 2/);
});

test('identical concurrent queries share one prediction', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('count', '1', 'doubles', counter));
  await cluster.store.putApp(appRecord('count', 'doubles', ['count']));
  // fetch opens a connection per concurrent request. Each frontend thread shares one prediction
  // among the identical queries it holds, and connections spread over the threads: one prediction
  // per thread at most (one in all with one frontend); 20 queries put 2 or more on some thread.
  const outputs = await Promise.all(Array.from({ length: 20 }, () => ask(cluster.queryPort, 'count', [7, 200])));
  const threads = cluster.config.frontendThreads;
  assert.ok(new Set(outputs).size <= threads, `one prediction per frontend thread (${threads}): ${[...new Set(outputs)].join(', ')}`);
  const metrics = await (await fetch(`http://127.0.0.1:${cluster.queryPort}/metrics/prometheus`)).text();
  const coalesced = Number(/clipper_cache_lookups_total\{result="coalesced"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(coalesced >= 1, `coalesced ${coalesced}`);
});

test('cache_enabled: false computes every query', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('fresh', '1', 'doubles', counter, { cache_enabled: false }));
  await cluster.store.putApp(appRecord('fresh', 'doubles', ['fresh']));
  const c = oneConnection(t, cluster.queryPort);
  assert.notEqual(await ask(c, 'fresh', [5]), await ask(c, 'fresh', [5]));
  assertOneThread(cluster, c);
});

test('a redeployed name:version never serves the old version’s cached outputs', async (t) => {
  const cluster = await startTestCluster(t);
  const model = nodeModel('count', '1', 'doubles', counter);
  await deploy(cluster, model);
  await cluster.store.putApp(appRecord('count', 'doubles', ['count']));
  const c = oneConnection(t, cluster.queryPort);
  const before = await ask(c, 'count', [5]);
  await cluster.store.deleteModel('count', '1');
  await deploy(cluster, model);
  const after = await ask(c, 'count', [5]);
  assert.notEqual(after.split(':')[0], before.split(':')[0], 'answered by the new replica, not the cache');
  assertOneThread(cluster, c);
});
