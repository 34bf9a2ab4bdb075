// The soak's admin churn (bench/reliability/soak_churn.ts) in small, on an in-process cluster: every
// cycle deploys a new model version, switches back and deletes it, scales a model up and down,
// registers a throwaway app under a new name (exp3 over two models: selection state), queries it
// over HTTP and the WebSocket stream, sends it feedback, and deletes it. After a warm-up cycle, more cycles must leave nothing behind: no per-app stats, no
// metric series of a deleted app or model version, no extra descriptor or active resource.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import type { Cluster } from '../../src/cluster.js';
import { countOpenFds, readProcessResources } from '../../src/metrics/process_metrics.js';
import { appRecord, deploy, kExampleModels, nodeModel, queryStatsNow, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { openStream } from '../helpers/ws.js';

const kSum = path.join(kExampleModels, 'sum_model.mjs');

/** POST without keep-alive, so no client socket of this test outlives its request. */
function post(port: number, urlPath: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function get(port: number, urlPath: string, accept: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { accept } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

async function cycle(cluster: Cluster, k: number): Promise<void> {
  const version = String(k + 2);
  const tmp = `soak-tmp-${k}`;
  await deploy(cluster, nodeModel('sum', version, 'doubles', kSum));
  await cluster.store.setCurrentVersion('sum', '1');
  await cluster.store.deleteModel('sum', version);
  await deploy(cluster, nodeModel('sum', '1', 'doubles', kSum, { num_replicas: 2 }), false);
  await cluster.store.putModel(nodeModel('sum', '1', 'doubles', kSum, { num_replicas: 1 }));
  await waitUntil(() => cluster.replicas().filter((r) => r.model === 'sum').length === 1, 30_000, 'sum scaled down to one replica');
  await cluster.store.putApp(appRecord(tmp, 'doubles', ['sum', 'twin'], { selection_policy: 'exp3' }));
  const answer = await post(cluster.queryPort, `/${tmp}/predict`, { input: [1, 2, k] });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.output, 3 + k);
  const feedback = await post(cluster.queryPort, `/${tmp}/update`, { input: [1, 2, k], label: 3 + k });
  assert.equal(feedback.status, 200, JSON.stringify(feedback.body));
  const stream = await openStream(cluster.queryPort, tmp);
  stream.sendJson({ id: 1, input: [k, 1] });
  assert.equal((await stream.next()).output, k + 1);
  // a client that goes away with queries in flight: their per-connection state must go with it
  for (let i = 0; i < 50; i++) stream.sendJson({ id: 100 + i, input: [k, i, 0.5] });
  stream.ws.close();
  await stream.closed;
  await cluster.store.deleteApp(tmp);
}

/** Active resources by type of the main thread and (from /metrics) the batching thread, and open descriptors. */
async function resources(port: number): Promise<Record<string, number>> {
  const r = readProcessResources();
  const text = await get(port, '/metrics', 'text/plain');
  const threads: Record<string, number> = {};
  for (const m of text.matchAll(/^nodejs_thread_active_resources\{thread="([^"]+)",type="([^"]+)"\} (\d+)$/gm)) {
    threads[`${m[1]} ${m[2]}`] = Number(m[3]);
  }
  assert.ok(Object.keys(threads).length > 0, 'the batching thread lists its resources');
  return { ...Object.fromEntries(r.activeResources), ...threads, fds: countOpenFds() ?? 0 };
}

const grown = (before: Record<string, number>, now: Record<string, number>): string[] =>
  Object.keys(now)
    .filter((type) => now[type]! > (before[type] ?? 0))
    .map((type) => `${type} ${before[type] ?? 0} → ${now[type]}`);

test('admin churn: deleted apps and versions leave no stats, metric series, descriptors or timers', async (t) => {
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('sum', '1', 'doubles', kSum));
  await deploy(cluster, nodeModel('twin', '1', 'doubles', kSum)); // a second model: throwaway apps select (exp3)
  await cluster.store.putApp(appRecord('base', 'doubles', ['sum']));
  assert.equal((await post(cluster.queryPort, '/base/predict', { input: [1, 2] })).body.output, 3);
  await get(cluster.queryPort, '/metrics', 'text/plain');
  await cycle(cluster, 0); // warm-up: first use of every code path
  const before = await resources(cluster.queryPort);
  for (let k = 1; k <= 3; k++) await cycle(cluster, k);

  assert.deepEqual([...(await queryStatsNow(cluster)).allAppStats().keys()], ['base'], 'per-app stats of deleted apps are freed');
  const text = await get(cluster.queryPort, '/metrics', 'text/plain');
  assert.doesNotMatch(text, /soak-tmp-/, 'no Prometheus series of a deleted app');
  assert.doesNotMatch(text, /version="[2-5]"/, 'no Prometheus series of a deleted model version');
  assert.match(text, /app="base"/);
  const json = await get(cluster.queryPort, '/metrics', 'application/json');
  assert.doesNotMatch(json, /soak-tmp-|model:sum:[2-5]:/, 'no Clipper JSON metric of a deleted app or version');
  // sockets and timers close asynchronously: wait (bounded) for the counts to come back
  let now = await resources(cluster.queryPort);
  await waitUntil(
    async () => {
      now = await resources(cluster.queryPort);
      return grown(before, now).length === 0;
    },
    10_000,
    'resources back to their count after the warm-up cycle',
  ).catch(() => undefined);
  assert.deepEqual(grown(before, now), [], `grew over 3 churn cycles: ${JSON.stringify({ before, now })}`);
  assert.equal((await queryStatsNow(cluster)).pendingCount, 0, 'no query left pending');
});
