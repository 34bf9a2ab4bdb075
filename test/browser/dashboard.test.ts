// The live dashboard (#21, docs/dashboard.md) in a real browser: Debian's chromium driven by
// playwright-core against a real cluster with load running (an app with one model, and a bandit app
// over two models so selection weights exist). The page loads with no console error or warning and no
// failed request; its charts fill while the load runs; its actions change the server's state (read back
// through the admin API), also behind an admin token it asks for; and it survives a server restart on
// the same admin port. Every wait is a generous bound polled for, never a speed assertion.
import assert from 'node:assert/strict';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { startLoad } from '../../bench/dashboard_load.js';
import { freePort } from '../../bench/reliability/harness_redis.js';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { Cluster } from '../../src/cluster.js';
import type { ClipperConfig } from '../../src/config.js';
import { appRecord, deploy, kExampleModels, kFixtureModels, nodeModel, testModelDirs } from '../helpers/cluster.js';
import { type DashboardHook, chromiumSkip, dashboardHook, launchChromium, openPage, pollUntil } from './browser.js';

const kSkip = chromiumSkip();
const kWaitMs = 60_000;
const kSelectionModels = path.join(kFixtureModels, 'selection_models.mjs');
const kApps = ['bandit', 'plain'];
const kModels = [
  ['first', '1'],
  ['second', '1'],
  ['sum', '1'],
] as const;

/** A cluster (admin server with the dashboard) holding `plain` → sum and `bandit` (exp3) → first, second. */
async function startDashboardCluster(config: Partial<ClipperConfig> = {}): Promise<Cluster> {
  const cluster = await Cluster.start({
    config: { queryPort: 0, adminPort: 0, batchingThreads: 1, heartbeatMs: 200, modelDirs: testModelDirs(), ...config },
    startAdmin: startAdminServer,
  });
  try {
    const selectionModel = (name: string, fn: string) =>
      nodeModel(name, '1', 'doubles', kSelectionModels, {
        container: { runtime: 'node', entry: kSelectionModels, function: fn, options: { isolate: 'inline' } },
      });
    await Promise.all([
      deploy(cluster, nodeModel('sum', '1', 'doubles', path.join(kExampleModels, 'sum_model.mjs'))),
      deploy(cluster, selectionModel('first', 'times1')),
      deploy(cluster, selectionModel('second', 'times2')),
    ]);
    await cluster.store.putApp(appRecord('plain', 'doubles', ['sum']));
    await cluster.store.putApp(appRecord('bandit', 'doubles', ['first', 'second'], { selection_policy: 'exp3' }));
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

/** Load on both apps; the bandit app gets feedback that favours `second` (times2), so its weights move. */
function loadOn(cluster: Cluster) {
  return startLoad(cluster.queryPort, [
    { app: 'plain', rateRps: 40 },
    { app: 'bandit', rateRps: 40, feedbackEvery: 2, feedbackLabel: (input) => 2 * input[0]! },
  ]);
}

async function openBrowser(t: TestContext): Promise<Browser> {
  const browser = await launchChromium();
  t.after(() => browser.close());
  return browser;
}

const dashboardUrl = (adminPort: number): string => `http://127.0.0.1:${adminPort}/dashboard`;
const hook = (page: Page): Promise<DashboardHook | null> => dashboardHook(page);

async function waitLive(page: Page, moreThan = 0): Promise<DashboardHook> {
  return (await pollUntil(
    () => hook(page),
    (h) => h?.connected === true && h.snapshotsReceived > moreThan,
    kWaitMs,
    `the dashboard live with more than ${moreThan} snapshots`,
  ))!;
}

/** POST /admin/<route> and the parsed JSON answer (with the token when one is given). */
// biome-ignore lint/suspicious/noExplicitAny: admin answers, read by field
async function admin(port: number, route: string, body: unknown, token?: string): Promise<any> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`http://127.0.0.1:${port}/admin/${route}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  assert.equal(res.status, 200, `${route}: ${text}`);
  return JSON.parse(text);
}

/** Submit one of a card's action forms and wait for its status line to say ok. */
async function act(card: Locator, action: string, fill: (form: Locator) => Promise<void>) {
  const form = card.locator(`form[data-action="${action}"]`);
  await fill(form);
  await form.locator('button[type="submit"]').click();
  const status = form.locator('output.action-status');
  await pollUntil(
    async () => ({ state: await status.getAttribute('data-status'), text: await status.textContent() }),
    (s) => s.state === 'ok' || s.state === 'error',
    kWaitMs,
    `the ${action} action's answer`,
  ).then((s) => assert.equal(s.state, 'ok', `the ${action} action answered: ${s.text}`));
}

/** The number a card shows for a figure (data-stat), e.g. "12.5 q/s" → 12.5; NaN for "–". */
async function figure(card: Locator, key: string): Promise<number> {
  const text = (await card.locator(`[data-stat="${key}"]`).textContent()) ?? '';
  const m = /^-?[\d.]+(k|M)?/.exec(text.trim());
  if (m === null) return Number.NaN;
  return Number.parseFloat(m[0]) * (m[1] === 'k' ? 1e3 : m[1] === 'M' ? 1e6 : 1);
}

test('the dashboard loads with no errors and its charts fill while load runs', { skip: kSkip, timeout: 240_000 }, async (t) => {
  const cluster = await startDashboardCluster();
  t.after(() => cluster.close());
  const load = loadOn(cluster);
  t.after(() => load.stop());
  const browser = await openBrowser(t);
  const { page, problems } = await openPage(browser, dashboardUrl(cluster.adminPort));
  const first = await waitLive(page);
  await waitLive(page, first.snapshotsReceived + 3);

  const appCard = (name: string) => page.locator(`section.app-card[data-app="${name}"]`);
  const modelCard = (name: string, version: string) => page.locator(`section.model-card[data-model="${name}"][data-version="${version}"]`);
  // Every card draws its charts (uPlot canvases), and the figures show the load (polled: a figure is per interval).
  for (const name of kApps) {
    // throughput, latency, SLO attainment; the bandit app also its selection weights
    const charts = name === 'bandit' ? 4 : 3;
    await pollUntil(
      () => appCard(name).locator('.uplot canvas').count(),
      (n) => n >= charts,
      kWaitMs,
      `${charts} charts on app ${name}`,
    );
    await pollUntil(
      () => figure(appCard(name), 'qps'),
      (v) => v > 0,
      kWaitMs,
      `app ${name}'s throughput above 0`,
    );
    await pollUntil(
      () => figure(appCard(name), 'p99'),
      (v) => v > 0,
      kWaitMs,
      `app ${name}'s p99 above 0`,
    );
  }
  for (const [name, version] of kModels) {
    const card = modelCard(name, version);
    await pollUntil(
      () => card.locator('.uplot canvas').count(),
      (n) => n >= 4,
      kWaitMs,
      `4 charts on model ${name}`,
    );
    await pollUntil(
      () => figure(card, 'qps'),
      (v) => v > 0,
      kWaitMs,
      `model ${name}'s throughput above 0`,
    );
    await pollUntil(
      () => figure(card, 'batchMean'),
      (v) => v >= 1,
      kWaitMs,
      `model ${name}'s mean batch size`,
    );
    assert.equal(await card.locator('table.replicas tbody tr').count(), 1, `model ${name} shows its one replica`);
  }
  // Snapshots keep coming while the load runs.
  const later = await hook(page);
  await waitLive(page, later!.snapshotsReceived + 2);
  const counts = load.counts('plain');
  assert.ok(counts.answered > 0, `the load got answers: ${JSON.stringify(counts)}`);
  assert.deepEqual(problems.lines, [], 'no console error or warning, no failed request');
});

test("the page's actions change the server's state", { skip: kSkip, timeout: 240_000 }, async (t) => {
  const cluster = await startDashboardCluster();
  t.after(() => cluster.close());
  const browser = await openBrowser(t);
  const { page, problems } = await openPage(browser, dashboardUrl(cluster.adminPort));
  await waitLive(page);
  const port = cluster.adminPort;

  const plain = page.locator('section.app-card[data-app="plain"]');
  await act(plain, 'slo', (form) => form.locator('input[name="slo_ms"]').fill('250'));
  assert.equal((await admin(port, 'get_application', { name: 'plain' })).latency_slo_micros, 250_000);
  // The new SLO reaches the stream too: the card shows it.
  await pollUntil(
    () => figure(plain, 'slo'),
    (v) => v === 250,
    kWaitMs,
    'the SLO figure to show 250 ms',
  );

  const sum = page.locator('section.model-card[data-model="sum"][data-version="1"]');
  await act(sum, 'batch', async (form) => {
    await form.locator('select[name="batch_mode"]').selectOption('fixed');
    await form.locator('input[name="batch_size"]').fill('4');
  });
  assert.equal((await admin(port, 'get_model', { model_name: 'sum', model_version: '1' })).batch_size, 4);
  await act(sum, 'batch', (form) =>
    form
      .locator('select[name="batch_mode"]')
      .selectOption('adaptive')
      .then(() => {}),
  );
  assert.equal((await admin(port, 'get_model', { model_name: 'sum', model_version: '1' })).batch_size, -1);

  await act(sum, 'replicas', (form) => form.locator('input[name="num_replicas"]').fill('2'));
  assert.equal((await admin(port, 'get_model', { model_name: 'sum', model_version: '1' })).num_replicas, 2);
  await pollUntil(
    () => sum.locator('table.replicas tbody tr').count(),
    (n) => n === 2,
    kWaitMs,
    'two replicas in the table',
  );

  // A value the server refuses (the SLO's minimum is 1 ms): the form shows its error, naming the field.
  const form = plain.locator('form[data-action="slo"]');
  await form.locator('input[name="slo_ms"]').fill('0.5');
  await form.locator('button[type="submit"]').click();
  const status = form.locator('output.action-status');
  await pollUntil(
    () => status.getAttribute('data-status'),
    (s) => s === 'error',
    kWaitMs,
    'the refused SLO to show an error',
  );
  assert.match((await status.textContent()) ?? '', /400.*slo_micros/);
  assert.equal((await admin(port, 'get_application', { name: 'plain' })).latency_slo_micros, 250_000, 'a refused SLO changes nothing');
  const expected = (line: string) => /HTTP 400: POST .*\/admin\/set_app_slo|status of 400/.test(line);
  // The recorder saw the refused call (so its silence in the other tests means something), and nothing else.
  assert.ok(problems.lines.some(expected), `the 400 is among the page's problems: ${JSON.stringify(problems.lines)}`);
  assert.deepEqual(
    problems.lines.filter((l) => !expected(l)),
    [],
  );
});

test('with an admin token the page asks for it and works once given', { skip: kSkip, timeout: 240_000 }, async (t) => {
  const token = 'dashboard-test-token-7f3a';
  const cluster = await startDashboardCluster({ adminToken: token });
  t.after(() => cluster.close());
  const browser = await openBrowser(t);
  // Before the token the stream answers 401: expected, and so are the browser's lines about it.
  const unauthorized = (line: string) => /\b401\b/.test(line) && /dashboard\/stream|status of 401/.test(line);
  const { page, problems } = await openPage(browser, dashboardUrl(cluster.adminPort), { expected: unauthorized });
  await pollUntil(
    () => page.locator('#token-form').isVisible(),
    (v) => v,
    kWaitMs,
    'the token form',
  );
  assert.equal(await page.locator('#conn').getAttribute('data-state'), 'unauthorized');
  assert.equal((await hook(page))!.connected, false);

  await page.locator('#token-input').fill(token);
  await page.locator('#token-form button[type="submit"]').click();
  await waitLive(page);
  assert.equal(await page.locator('#token-form').isVisible(), false, 'the token form goes once live');

  const card = page.locator('section.app-card[data-app="plain"]');
  await pollUntil(
    () => card.count(),
    (n) => n === 1,
    kWaitMs,
    'the plain app card',
  );
  await act(card, 'slo', (form) => form.locator('input[name="slo_ms"]').fill('300'));
  assert.equal((await admin(cluster.adminPort, 'get_application', { name: 'plain' }, token)).latency_slo_micros, 300_000);
  assert.deepEqual(problems.lines, []);
});

test('the page survives a server restart on the same admin port', { skip: kSkip, timeout: 300_000 }, async (t) => {
  const adminPort = await freePort();
  let cluster = await startDashboardCluster({ adminPort });
  t.after(() => cluster.close());
  const browser = await openBrowser(t);
  // The restart breaks the stream and refuses connections while the server is down: expected here.
  const { page } = await openPage(browser, dashboardUrl(adminPort));
  const before = await waitLive(page, 1);

  await cluster.close();
  const down = await pollUntil(
    () => hook(page),
    (h) => h !== null && !h.connected,
    kWaitMs,
    'the page to notice the server went',
  );
  assert.notEqual(down!.lastError, null, 'the page says why it is not live');
  await pollUntil(
    () => page.locator('#conn').getAttribute('data-state'),
    (s) => s === 'reconnecting',
    kWaitMs,
    'the connection indicator to show reconnecting',
  );

  cluster = await startDashboardCluster({ adminPort });
  assert.equal(cluster.adminPort, adminPort);
  const load = loadOn(cluster);
  t.after(() => load.stop());
  const again = await waitLive(page, before.snapshotsReceived);
  await waitLive(page, again.snapshotsReceived + 2);
  assert.equal(await page.locator('#conn').getAttribute('data-state'), 'live');
  await pollUntil(
    () => figure(page.locator('section.app-card[data-app="plain"]'), 'qps'),
    (v) => v > 0,
    kWaitMs,
    "the new server's load in the plain app card",
  );
});
