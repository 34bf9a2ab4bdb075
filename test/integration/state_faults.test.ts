// Reliability item 4 in CI (issue 15; the load version is bench/reliability/state_faults.ts), on a
// private redis-server (never the shared one on 6379) and the real server as a child process:
//   (a) Redis SIGKILLed: predictions go on; admin writes get 503 with a JSON reason naming Redis;
//       Redis started again (empty, `--save ""`): writes succeed and nothing configured was lost
//       (the frontend writes its copy back into the empty Redis, src/state/state_mirror.ts).
//   (b) the server SIGKILLed and started again on the same Redis: apps, models, versions, the current
//       version, links and the bandit's learned state are all there.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import {
  adminOk,
  type PrivateRedis,
  startPrivateRedis,
  startServer,
  type ServerProcess,
  waitFor,
} from '../../bench/reliability/harness.js';
import {
  configureCluster,
  configuredView,
  kBanditApp,
  kSumApp,
  predict,
  probeWrite,
  sendFeedback,
  storedFeedbackCount,
} from '../../bench/reliability/harness_state.js';

const skip = existsSync('/usr/bin/redis-server') ? false : '/usr/bin/redis-server not found';
const kCluster = 'state-faults';

async function redis(t: TestContext): Promise<PrivateRedis> {
  const r = await startPrivateRedis();
  t.after(() => r.kill());
  return r;
}

async function server(t: TestContext, redisUrl: string): Promise<ServerProcess> {
  const s = await startServer({ args: ['--state', redisUrl, '--cluster-name', kCluster] });
  t.after(() => s.stop());
  return s;
}

test('Redis killed and started again: serving goes on, writes get 503 with a reason, then succeed; nothing lost', { skip }, async (t) => {
  const r = await redis(t);
  const s = await server(t, r.url);
  await configureCluster(s.adminUrl, 10_000);
  await sendFeedback(s.queryUrl, 5);
  assert.ok(await waitFor(async () => (await storedFeedbackCount(r.url, kCluster)) >= 5, 10_000, 20), 'the bandit state is saved');
  const before = await configuredView(s.adminUrl);
  await r.kill();

  const refused = await probeWrite(s.adminUrl, 'during-outage', 10_000);
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  const body = refused.body as Record<string, string>;
  assert.equal(body.code, 'CLP_ERR_STATE_UNAVAILABLE');
  assert.match(body.cause!, /Redis/);
  for (let i = 0; i < 5; i++) {
    const p = await predict(s.queryUrl, kSumApp, [i, 2]);
    assert.equal(p.body.output, i + 2, `served from the in-memory copy: ${JSON.stringify(p.body)}`);
  }

  await r.start(); // empty: it kept nothing
  assert.ok(await waitFor(async () => (await probeWrite(s.adminUrl, 'after-outage', 10_000)).status === 200, 20_000, 100));
  const after = await configuredView(s.adminUrl);
  const apps = (after.apps as Array<{ name: string }>).filter((a) => a.name !== 'after-outage');
  assert.deepEqual({ ...after, apps }, before, 'the configuration before the outage is all there');
  assert.equal((await predict(s.queryUrl, kSumApp, [3, 4])).body.output, 7);
  assert.ok((await storedFeedbackCount(r.url, kCluster)) >= 5, 'the bandit state was written back too');
});

test('the server SIGKILLed and started again on the same Redis: nothing configured is lost', { skip }, async (t) => {
  const r = await redis(t);
  const first = await startServer({ args: ['--state', r.url, '--cluster-name', kCluster] });
  t.after(() => first.stop());
  await configureCluster(first.adminUrl, 10_000);
  await sendFeedback(first.queryUrl, 20);
  assert.ok(await waitFor(async () => (await storedFeedbackCount(r.url, kCluster)) >= 20, 10_000, 20), 'the bandit state is saved');
  const learned = await storedFeedbackCount(r.url, kCluster);
  const before = await configuredView(first.adminUrl);
  first.kill('SIGKILL');
  await first.exited;

  const second = await server(t, r.url);
  assert.deepEqual(await configuredView(second.adminUrl), before);
  // Its replicas start after it listens (answers meanwhile are the default, with the reason).
  assert.ok(await waitFor(async () => (await predict(second.queryUrl, kSumApp, [1, 2])).body.output === 3, 30_000, 50));
  // Every replica connected (the bandit's feedback needs the models it chooses among to answer).
  const allConnected = async (): Promise<boolean> => {
    const rows = (await adminOk(second.adminUrl, 'get_all_containers', { verbose: true })) as Array<{ connected?: boolean }>;
    return rows.length > 0 && rows.every((row) => row.connected === true);
  };
  assert.ok(await waitFor(allConnected, 30_000, 50), 'every replica of the restarted server connected');
  // The restarted bandit goes on from what it learned: one more feedback, and its counts grow on.
  await sendFeedback(second.queryUrl, 1);
  assert.ok(
    await waitFor(async () => (await storedFeedbackCount(r.url, kCluster)) > learned, 10_000, 20),
    `the stored bandit state continues from ${learned} feedbacks`,
  );
  const p = await predict(second.queryUrl, kBanditApp, [5, 5]);
  assert.equal(p.body.output, 10, JSON.stringify(p.body));
});
