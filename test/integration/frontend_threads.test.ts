// A cluster with two frontend threads (config frontendThreads 2, src/frontend_thread/), each port
// sharing mode: predictions over many connections reach both threads (their own counters, added up
// on the main thread), admin changes apply in every thread as with one, /metrics counts each query
// once whichever thread serves the scrape, feedback learned through one thread serves every thread,
// and close leaves no thread behind.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import type { Cluster } from '../../src/cluster.js';
import { appRecord, deploy, kExampleModels, kFixtureModels, nodeModel, postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';

const sumModel = path.join(kExampleModels, 'sum_model.mjs');
const selectionModels = path.join(kFixtureModels, 'selection_models.mjs');

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: parsed response JSON, which the test indexes freely
  body: any;
}

/** One request on a connection of its own (agent: false), so that connections spread over the threads. */
function request(port: number, method: string, urlPath: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent: false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `n` predictions of `input` to `app`, each on a new connection, a few at a time. */
async function predictMany(cluster: Cluster, app: string, input: unknown, n: number): Promise<Reply[]> {
  const out: Reply[] = [];
  for (let i = 0; i < n; i += 4) {
    const round = Array.from({ length: Math.min(4, n - i) }, () => request(cluster.queryPort, 'POST', `/${app}/predict`, { input }));
    out.push(...(await Promise.all(round)));
  }
  return out;
}

/** A series' value in Prometheus text (NaN when absent). */
function seriesValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

/** This process's OS threads (frontend, batching and selection threads are among them). */
const osThreads = (): number => readdirSync('/proc/self/task').length;

for (const accept of ['reuseport', 'acceptor'] as const) {
  test(`two frontend threads (${accept}): both serve, admin changes apply in both, /metrics counts once, feedback, close`, async (t) => {
    // libuv's pool threads start on first use: start them now so that they do not count as left over.
    await Promise.all(Array.from({ length: 8 }, () => readFile(sumModel)));
    const threadsBefore = osThreads();
    const cluster = await startTestCluster(t, { frontendThreads: 2, frontendAccept: accept }, { startAdmin: startAdminServer });
    const group = cluster.frontendGroup!;
    assert.notEqual(group, null);
    assert.equal(group.threadCount, 2);
    assert.throws(() => cluster.processor, /frontend threads/);
    const admin = (route: string, body: unknown) => postJson(cluster.adminPort, `/admin/${route}`, body);
    let sent = 0;

    // Admin changes: add an app, a model, link them; every thread serves the app.
    assert.equal(
      (await admin('add_app', { name: 'hello', input_type: 'doubles', default_output: '-1.0', latency_slo_micros: 2_000_000 })).status,
      200,
    );
    const model = nodeModel('sum', '1', 'doubles', sumModel);
    const added = await admin('add_model', { ...model, container: model.container });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal((await admin('add_model_links', { app_name: 'hello', model_names: ['sum'] })).status, 200);
    const replies = await predictMany(cluster, 'hello', [1, 2, 3.5], 24);
    sent += replies.length;
    for (const r of replies) assert.deepEqual([r.status, r.body.output, r.body.default], [200, 6.5, false], JSON.stringify(r.body));

    // Each thread served some; the main thread's stats are theirs added up.
    await cluster.queryStats.refresh();
    const perThread = [0, 1].map((i) => group.threadStats(i)?.counters.queries ?? 0);
    assert.ok(
      perThread.every((n) => n > 0),
      `both threads served predictions: ${perThread.join(', ')}`,
    );
    assert.equal(perThread[0]! + perThread[1]!, sent);
    assert.equal(cluster.queryStats.counters.queries, sent);
    assert.equal(cluster.queryStats.appStats('hello').queries, sent);

    // /metrics, whichever thread serves it, counts every query once.
    const metrics = await request(cluster.queryPort, 'GET', '/metrics/prometheus');
    assert.equal(metrics.status, 200);
    assert.equal(seriesValue(metrics.body, 'clipper_queries_total'), sent);
    assert.equal(seriesValue(metrics.body, 'clipper_app_queries_total{app="hello"}'), sent);
    const json = await request(cluster.queryPort, 'GET', '/metrics/json');
    const aggregate = json.body.counters.find((c: Record<string, unknown>) => 'internal:aggregate_num_predictions' in c);
    assert.equal(Number(aggregate['internal:aggregate_num_predictions'].count), sent);

    // Feedback on a two-model app through one thread: every thread serves what the policy learned.
    for (const [name, fn] of [
      ['cat', 'cat'],
      ['dog', 'dog'],
    ] as const) {
      const spec = {
        ...nodeModel(name, '1', 'doubles', selectionModels),
        container: { runtime: 'node' as const, entry: selectionModels, function: fn, options: { isolate: 'inline' as const } },
      };
      await deploy(cluster, spec);
    }
    const vote = appRecord('vote', 'doubles', ['cat', 'dog'], { selection_policy: 'exp4' });
    vote.policy_params = { combine: 'vote', loss: 'zero_one', eta: 1 };
    await cluster.store.putApp(vote);
    await waitUntil(
      async () => (await request(cluster.queryPort, 'POST', '/vote/predict', { input: [1] })).status === 200,
      5000,
      'vote routed',
    );
    const fb = await request(cluster.queryPort, 'POST', '/vote/update', { input: [1], label: 'dog' });
    assert.equal(fb.status, 200, JSON.stringify(fb.body));
    assert.equal(fb.body.feedback_received, true);
    const voted = await predictMany(cluster, 'vote', [2], 12);
    for (const r of voted) assert.deepEqual([r.body.output, r.body.default], ['dog', false], JSON.stringify(r.body));
    assert.equal((await request(cluster.queryPort, 'POST', '/nope/update', { input: [1], label: 'dog' })).status, 404);

    // Delete the app: every thread answers 404.
    assert.equal((await admin('delete_app', { name: 'hello' })).status, 200);
    await waitUntil(
      async () => (await request(cluster.queryPort, 'POST', '/hello/predict', { input: [1] })).status === 404,
      5000,
      'hello gone',
    );
    for (const r of await predictMany(cluster, 'hello', [1], 8)) assert.equal(r.status, 404);
    await cluster.queryStats.refresh();
    assert.equal(cluster.queryStats.allAppStats().has('hello'), false, "a deleted app's counters go");

    // Close: the port is free and no thread is left.
    await cluster.close();
    await assert.rejects(request(cluster.queryPort, 'GET', '/healthz'));
    await waitUntil(() => osThreads() <= threadsBefore, 10_000, `the threads to end (${osThreads()} now, ${threadsBefore} before)`);
  });
}

test('acceptor: a frontend thread that fails is taken out of the turn; every new connection is answered by the other, the process lives on', async (t) => {
  const lines: string[] = [];
  const cluster = await startTestCluster(t, { frontendThreads: 2, frontendAccept: 'acceptor' }, { log: (line) => lines.push(line) });
  const group = cluster.frontendGroup!;
  await cluster.store.putApp(appRecord('hello', 'doubles', ['sum']));
  await deploy(cluster, nodeModel('sum', '1', 'doubles', sumModel));
  await waitUntil(
    async () => (await request(cluster.queryPort, 'POST', '/hello/predict', { input: [1] })).status === 200,
    5000,
    'hello routed',
  );
  for (const r of await predictMany(cluster, 'hello', [1, 2, 3.5], 8)) assert.deepEqual([r.status, r.body.output], [200, 6.5]);
  assert.deepEqual(group.threadStates(), { alive: 2, failed: 0 });

  // New connections all the while: some reach the failing thread before the acceptor drops it (they
  // get an answer or, at worst, a reset); none may reach its app once it is gone (that kills the process).
  let hammering = true;
  const statuses = new Map<string, number>();
  const hammer = (async () => {
    while (hammering) {
      const round = Array.from({ length: 4 }, () => request(cluster.queryPort, 'POST', '/hello/predict', { input: [1] }).catch(() => null));
      for (const r of await Promise.all(round)) {
        const key = r === null ? 'no answer' : String(r.status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    }
  })();
  await predictMany(cluster, 'hello', [1], 8);
  group.failThreadForTest(0, 'injected by the test');
  await waitUntil(() => group.threadStates().failed === 1, 5000, 'thread 0 to report its failure');
  await predictMany(cluster, 'hello', [1], 8);
  hammering = false;
  await hammer;
  t.diagnostic(`while thread 0 failed: ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get('200') ?? 0) > 0);
  assert.deepEqual(group.threadStates(), { alive: 1, failed: 1 });
  assert.ok(
    lines.some((l) => l.startsWith('frontend thread 0 failed (the acceptor no longer hands it connections): injected by the test')),
    lines.join('\n'),
  );
  await cluster.queryStats.refresh();
  const servedBefore = group.threadStats(1)?.counters.queries ?? 0;
  // Two rounds of new connections: while the failed thread closes, and once it has.
  let sent = 0;
  for (let round = 0; round < 2; round++) {
    const replies = await predictMany(cluster, 'hello', [1, 2, 3.5], 24);
    sent += replies.length;
    for (const r of replies) assert.deepEqual([r.status, r.body.output, r.body.default], [200, 6.5, false], JSON.stringify(r.body));
  }
  await cluster.queryStats.refresh();
  assert.equal((group.threadStats(1)?.counters.queries ?? 0) - servedBefore, sent, 'thread 1 served every one');

  const metrics = await request(cluster.queryPort, 'GET', '/metrics/prometheus');
  assert.equal(seriesValue(metrics.body, 'clipper_frontend_threads{state="alive"}'), 1);
  assert.equal(seriesValue(metrics.body, 'clipper_frontend_threads{state="failed"}'), 1);
  await cluster.close();
  await assert.rejects(request(cluster.queryPort, 'GET', '/healthz'));
});
