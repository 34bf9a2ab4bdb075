// Whole clusters on a shared Redis: two frontends, restart recovery, Redis lost while serving.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperClientError, ClipperConnection } from '../../src/client/admin_client.js';
import { Cluster } from '../../src/cluster.js';
import { kExampleModels, postJson, waitUntil } from '../helpers/cluster.js';
import {
  deleteClusterKeys,
  freePort,
  kRedisServer,
  kRedisSkipMessage,
  kRedisUrl,
  redisAnswers,
  startRedis,
  uniqueCluster,
} from '../helpers/redis.js';

const redisUp = await redisAnswers(6379);
const skip = redisUp ? false : kRedisSkipMessage;
if (!redisUp && process.env.CI) {
  test('Redis is reachable (required when CI is set)', () => assert.fail(kRedisSkipMessage));
}

async function frontend(t: TestContext, url: string, clusterName: string): Promise<{ cluster: Cluster; conn: ClipperConnection }> {
  const cluster = await Cluster.start({
    config: { queryPort: 0, adminPort: 0, batchingThreads: 1, heartbeatMs: 200, state: url, clusterName },
    startAdmin: startAdminServer,
  });
  t.after(() => cluster.close());
  const conn = new ClipperConnection({
    adminUrl: `http://127.0.0.1:${cluster.adminPort}`,
    queryUrl: `http://127.0.0.1:${cluster.queryPort}`,
  });
  return { cluster, conn };
}

async function deploySum(conn: ClipperConnection, app = 'sum-app'): Promise<void> {
  await conn.registerApplication({ name: app, inputType: 'doubles', defaultOutput: '-1.0', sloMicros: 2_000_000 });
  await conn.deployModel({
    name: 'sum',
    version: '1',
    inputType: 'doubles',
    container: { runtime: 'node', entry: path.join(kExampleModels, 'sum_model.mjs'), options: { isolate: 'inline' } },
  });
  await conn.linkModelToApp(app, 'sum');
}

const served = (cluster: Cluster, app: string, expected: number) => async (): Promise<boolean> => {
  const r = await postJson(cluster.queryPort, `/${app}/predict`, { input: [expected - 1, 1] });
  return r.status === 200 && r.body.default === false && r.body.output === expected;
};

test('two frontends on one Redis: a change made through either reaches the other, deletes included', { skip }, async (t) => {
  const name = uniqueCluster();
  t.after(() => deleteClusterKeys(kRedisUrl, name));
  const a = await frontend(t, kRedisUrl, name);
  const b = await frontend(t, kRedisUrl, name);
  await deploySum(a.conn);
  await waitUntil(served(b.cluster, 'sum-app', 5), 15_000, 'frontend B to serve the app deployed through A');
  assert.deepEqual(await b.conn.getAllApps(), ['sum-app']);
  await b.conn.deleteApplication('sum-app');
  await waitUntil(
    async () => (await postJson(a.cluster.queryPort, '/sum-app/predict', { input: [1] })).status === 404,
    5_000,
    'the delete made through B to reach A',
  );
});

test('restart recovery: a new frontend on the same Redis serves the same apps with fresh replicas', { skip }, async (t) => {
  const name = uniqueCluster();
  t.after(() => deleteClusterKeys(kRedisUrl, name));
  const first = await frontend(t, kRedisUrl, name);
  await deploySum(first.conn, 'kept');
  await first.conn.setModelVersion('sum', '1');
  assert.ok(await served(first.cluster, 'kept', 9)());
  await first.cluster.close();
  const second = await frontend(t, kRedisUrl, name);
  await waitUntil(served(second.cluster, 'kept', 9), 15_000, 'the restarted frontend to serve');
  assert.deepEqual(await second.conn.getLinkedModels('kept'), ['sum']);
  assert.equal(await second.conn.getCurrentModelVersion('sum'), '1');
  assert.equal(second.cluster.replicas().length, 1);
});

test('Redis unreachable at start is a clear error', async () => {
  const port = await freePort();
  await assert.rejects(
    Cluster.start({ config: { queryPort: 0, adminPort: 0, state: `redis://127.0.0.1:${port}` } }),
    /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/,
  );
});

test('Redis lost while serving: predictions go on, admin writes get 503, an empty Redis gets the state back', {
  skip: existsSync(kRedisServer) ? false : `${kRedisServer} not found`,
}, async (t) => {
  const port = await freePort();
  let redis = await startRedis(t, port);
  const url = `redis://127.0.0.1:${port}`;
  const { cluster, conn } = await frontend(t, url, uniqueCluster());
  await deploySum(conn);
  redis.kill('SIGKILL');
  await waitUntil(() => !cluster.store.writable, 5_000, 'the store to notice Redis is gone');
  for (let i = 0; i < 20; i++) assert.ok(await served(cluster, 'sum-app', 3 + i)(), 'predictions go on from the in-memory copy');
  await assert.rejects(
    conn.registerApplication({ name: 'other', inputType: 'doubles', defaultOutput: '0', sloMicros: 100_000 }),
    (err: unknown) => err instanceof ClipperClientError && err.status === 503 && /Redis/.test(err.cause),
  );
  // An empty Redis (started with --save ""): the frontend writes its copy back rather than follow it
  // and drop every app (src/state/state_mirror.ts), so nothing configured is lost.
  redis = await startRedis(t, port);
  await waitUntil(() => cluster.store.writable, 15_000, 'the store to reconnect');
  await conn.registerApplication({ name: 'other', inputType: 'doubles', defaultOutput: '0', sloMicros: 100_000 });
  assert.ok(await served(cluster, 'sum-app', 7)(), 'the app configured before the restart still serves');
  assert.deepEqual((await conn.getAllApps()).sort(), ['other', 'sum-app']);
  assert.deepEqual(await conn.getLinkedModels('sum-app'), ['sum']);
});
