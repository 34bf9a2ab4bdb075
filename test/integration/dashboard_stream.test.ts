// The live dashboard's server side through a real cluster: the SSE stream read with fetch (as the
// page reads it) gives history, then snapshots whose numbers move while a load runs; a reconnect
// gets the history back; the page and its assets are public static files, the stream and the
// actions need the admin token when one is set; closing the server ends the stream cleanly.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import type { Snapshot } from '../../src/dashboard/snapshot_types.js';
import { appRecord, deploy, kExampleModels, nodeModel, postJson, startTestCluster } from '../helpers/cluster.js';

const kSumModel = path.join(kExampleModels, 'sum_model.mjs');
const kToken = 'dashboard-test-token-0123456789';

interface SseEvent {
  event: string;
  data: string;
}

/** GET /dashboard/stream with fetch and a stream reader (EventSource cannot send a header). */
async function openStream(port: number, token = '') {
  const controller = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/dashboard/stream`, {
    headers: token === '' ? {} : { Authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  /** The next event (comments skipped), or null when the stream ended. */
  const next = async (): Promise<SseEvent | null> => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split('\n').filter((l) => !l.startsWith(':'));
        if (lines.length === 0) continue;
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
        const data = lines
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        return { event, data };
      }
      const chunk = await reader.read();
      if (chunk.done) return null;
      buffer += decoder.decode(chunk.value, { stream: true });
    }
  };
  return { res, next, close: () => controller.abort() };
}

/** Keeps `clients` loops of queries with distinct inputs running until stop() (a load, not a benchmark). */
function startLoad(port: number, app: string, clients: number) {
  let running = true;
  let sent = 0;
  const loops = Array.from({ length: clients }, async (_, c) => {
    while (running) await postJson(port, `/${app}/predict`, { input: [c, sent++] });
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

/** A UI folder with a stand-in page and script, so the routes are tested apart from the real page's build. */
async function uiDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dashboard-ui-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    path.join(dir, 'dashboard.html'),
    '<!doctype html><title>clipper</title><script src="/dashboard/assets/dashboard.js"></script>',
  );
  await writeFile(path.join(dir, 'dashboard.js'), 'console.log("hi");');
  return dir;
}

test('the stream sends history, then snapshots whose numbers move under load; a reconnect gets the history', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer, dashboard: { intervalMs: 250 } });
  await deploy(cluster, nodeModel('sum', '1', 'doubles', kSumModel));
  await deploy(cluster, nodeModel('sum2', '1', 'doubles', kSumModel));
  await cluster.store.putApp(appRecord('live', 'doubles', ['sum']));
  await cluster.store.putApp(appRecord('duo', 'doubles', ['sum', 'sum2'], { selection_policy: 'exp3' }));

  const stream = await openStream(cluster.adminPort);
  assert.equal(stream.res.status, 200);
  assert.match(stream.res.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.equal(stream.res.headers.get('cache-control'), 'no-cache');
  const history = await stream.next();
  assert.equal(history?.event, 'history');
  assert.deepEqual(JSON.parse(history.data), { intervalMs: 250, snapshots: [] }, 'nothing sampled before a dashboard opened');

  const stop = startLoad(cluster.queryPort, 'live', 4);
  const seen: Snapshot[] = [];
  try {
    for (;;) {
      const e = await stream.next();
      assert.equal(e?.event, 'snapshot', 'the stream goes on while the load runs');
      const s = JSON.parse(e.data) as Snapshot;
      seen.push(s);
      const app = s.apps.find((a) => a.name === 'live')!;
      const model = s.models.find((m) => m.name === 'sum')!;
      if (app.qps > 0 && model.qps > 0 && model.batchSizeHistogram.some((b) => b.count > 0) && seen.length >= 3) break;
      assert.ok(seen.length < 200, 'the numbers move within 200 snapshots');
    }
  } finally {
    await stop();
  }
  const last = seen.at(-1)!;
  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i]!.t > seen[i - 1]!.t, 'snapshots come in time order');
    assert.equal(seen[i]!.intervalMs, seen[i]!.t - seen[i - 1]!.t, 'each covers the time since the one before');
  }
  const app = last.apps.find((a) => a.name === 'live')!;
  assert.ok(app.latencyMsP50 !== null && app.latencyMsP99 !== null && app.latencyMsP99 >= app.latencyMsP50);
  assert.equal(app.sloAttainment, 1, 'a 2 s SLO: every answer is the model’s');
  assert.equal(app.sloMicros, 2_000_000);
  assert.deepEqual(app.selection, []);
  const model = last.models.find((m) => m.name === 'sum')!;
  assert.ok(model.batchSizeMean! >= 1 && model.modelMsMean! > 0 && model.queueMsMean! >= 0);
  assert.equal(model.batchMode, 'adaptive');
  assert.deepEqual(
    model.replicas.map((r) => [r.connected, r.state]),
    [[true, 'running']],
  );
  const duo = last.apps.find((a) => a.name === 'duo')!;
  assert.deepEqual(
    duo.selection.map((s) => s.model),
    ['sum', 'sum2'],
  );
  assert.ok(Math.abs(duo.selection.reduce((sum, s) => sum + s.weight, 0) - 1) < 1e-9, 'the policy weights sum to 1');

  const again = await openStream(cluster.adminPort);
  const ring = JSON.parse((await again.next())!.data) as { snapshots: Snapshot[] };
  assert.ok(ring.snapshots.length >= seen.length, 'a new stream gets the snapshots so far');
  assert.deepEqual(ring.snapshots.at(-1), last);
  again.close();
  stream.close();
});

test('the page and assets are public; the stream and the actions need the token; closing the server ends the stream', async (t) => {
  const ui = await uiDir(t);
  const cluster = await startTestCluster(
    t,
    { adminToken: kToken },
    { startAdmin: startAdminServer, dashboard: { intervalMs: 250, uiDirs: [ui], streamsMax: 1 } },
  );
  await cluster.store.putApp(appRecord('guarded', 'doubles', []));
  const base = `http://127.0.0.1:${cluster.adminPort}`;

  const page = await fetch(`${base}/dashboard`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.equal(page.headers.get('x-frame-options'), 'DENY', 'not to be framed (clickjacking the actions)');
  const csp = page.headers.get('content-security-policy') ?? '';
  for (const directive of ["default-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), `${directive} in ${csp}`);
  assert.match(await page.text(), /dashboard\.js/);
  const script = await fetch(`${base}/dashboard/assets/dashboard.js`);
  assert.deepEqual([script.status, script.headers.get('content-type')], [200, 'text/javascript; charset=utf-8']);
  await script.text();
  const uplot = await fetch(`${base}/dashboard/assets/uPlot.iife.min.js`);
  assert.equal(uplot.status, 200, 'uPlot comes from the uplot package');
  assert.match(await uplot.text(), /uPlot/);
  const css = await fetch(`${base}/dashboard/assets/uPlot.min.css`);
  assert.deepEqual([css.status, css.headers.get('content-type')], [200, 'text/css; charset=utf-8']);
  await css.text();

  for (const [url, status, cause] of [
    ['/dashboard/assets/nope.js', 404, /'nope\.js' was not found in .*dashboard-ui-/],
    ['/dashboard/assets/..%2Fpackage.json', 404, /does not exist/],
    ['/dashboard/assets/.env', 404, /does not exist/],
    ['/dashboard/else', 404, /the dashboard is GET \/dashboard/],
  ] as const) {
    const r = await fetch(`${base}${url}`);
    assert.equal(r.status, status, url);
    assert.match(((await r.json()) as { cause: string }).cause, cause);
  }
  const post = await fetch(`${base}/dashboard`, { method: 'POST' });
  assert.deepEqual([post.status, post.headers.get('allow')], [405, 'GET']);
  await post.text();

  const noToken = await fetch(`${base}/dashboard/stream`);
  assert.equal(noToken.status, 401);
  assert.match(noToken.headers.get('www-authenticate') ?? '', /Bearer/);
  await noToken.text();
  const wrong = await fetch(`${base}/dashboard/stream`, { headers: { Authorization: 'Bearer not-the-token-at-all' } });
  assert.equal(wrong.status, 403);
  await wrong.text();
  const slo = { name: 'guarded', slo_micros: 50_000 };
  assert.equal((await postJson(cluster.adminPort, '/admin/set_app_slo', slo)).status, 401, 'the actions need the token too');
  const allowed = await fetch(`${base}/admin/set_app_slo`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${kToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(slo),
  });
  assert.equal(allowed.status, 200, await allowed.text());

  const stream = await openStream(cluster.adminPort, kToken);
  assert.equal(stream.res.status, 200);
  assert.equal((await stream.next())?.event, 'history');
  const second = await fetch(`${base}/dashboard/stream`, { headers: { Authorization: `Bearer ${kToken}` } });
  assert.equal(second.status, 503, 'one stream past streamsMax');
  assert.match(((await second.json()) as { cause: string }).cause, /\(streamsMax 1\): close a dashboard tab or retry later/);
  assert.equal((await stream.next())?.event, 'snapshot');
  await cluster.close();
  for (let e = await stream.next(); e !== null; e = await stream.next()) {
    assert.equal(e.event, 'snapshot', 'only snapshots until the end');
  }
});
