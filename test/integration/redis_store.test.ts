// RedisStateStore against a real Redis (127.0.0.1:6379; required when CI is set). Each run uses
// its own cluster names and deletes its keys afterwards. The restart test runs its own
// redis-server child on a spare port.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { ClipperError } from '../../src/errors.js';
import { applyChange } from '../../src/state/apply_change.js';
import { MemoryStateStore } from '../../src/state/memory_store.js';
import { createStateStore } from '../../src/state/open_store.js';
import { emptySnapshot, type AppRecord, type ModelRecord, type StateSnapshot } from '../../src/state/records.js';
import { redisKeys } from '../../src/state/redis_keys.js';
import { RedisStateStore } from '../../src/state/redis_store.js';
import type { StateChange } from '../../src/state/state_store.js';
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

const kSkipMessage = kRedisSkipMessage;

const redisUp = await redisAnswers(6379);
const skip = redisUp ? false : kSkipMessage;
if (!redisUp && process.env.CI) {
  test('Redis is reachable (required when CI is set)', () => assert.fail(kSkipMessage));
}

/** Polls until `ok()` holds; fails after a generous bound (a liveness check, not a timing one). */
async function waitFor(ok: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > boundMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What a frontend does with the changes it hears: keep a view of the configuration. */
class Mirror {
  view: StateSnapshot;
  readonly changes: StateChange[] = [];
  constructor(initial: StateSnapshot) {
    this.view = initial;
  }
  readonly listener = (c: StateChange): void => {
    this.changes.push(c);
    this.view = applyChange(this.view, c);
  };
  kinds(): string[] {
    return this.changes.map((c) => c.kind);
  }
}

function app(name: string, defaultOutput = '-1.0'): AppRecord {
  return {
    name,
    input_type: 'doubles',
    default_output: defaultOutput,
    latency_slo_micros: 100_000,
    linked_models: ['m'],
    selection_policy: 'DefaultOutputSelectionPolicy',
    overload_response: 'status_429',
  };
}

function model(name: string, version: string): ModelRecord {
  return {
    model_name: name,
    model_version: version,
    input_type: 'doubles',
    labels: ['a', 'b:c'],
    container_name: 'node',
    model_data_path: '/tmp/x',
    batch_size: -1,
    num_replicas: 2,
    container: { runtime: 'node', entry: 'models/sum.js', function: 'predict', options: { isolate: 'inline', n: 3 } },
  };
}

async function openStore(t: TestContext, cluster: string, url = kRedisUrl, extra = {}) {
  const store = new RedisStateStore(url, { clusterName: cluster, ...extra });
  t.after(() => store.close());
  const mirror = new Mirror(await store.open());
  store.subscribe(mirror.listener);
  return { store, mirror };
}

function expectUnavailable(message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ClipperError, `expected ClipperError, got ${String(err)}`);
    assert.equal(err.code, 'CLP_ERR_STATE_UNAVAILABLE');
    if (message) assert.match(err.message, message);
    return true;
  };
}

test('every record kind round-trips and survives a restart of the store', { skip }, async (t) => {
  const cluster = uniqueCluster();
  t.after(() => deleteClusterKeys(kRedisUrl, cluster));
  const a = await openStore(t, cluster);
  assert.deepEqual(a.mirror.view, emptySnapshot());
  assert.equal(a.store.writable, true);

  await a.store.putApp(app('app1'));
  await a.store.putModel(model('m', '1'));
  await a.store.putModel(model('m', '2'));
  await a.store.setCurrentVersion('m', '2');
  await a.store.putPolicyState('app1:user7', '{"y_hat":"1.5"}');
  // Delivered to the writer's own listeners exactly once, before each write resolved.
  assert.deepEqual(a.mirror.kinds(), ['app_put', 'model_put', 'model_put', 'current_version']);
  assert.equal(await a.store.getPolicyState('app1:user7'), '{"y_hat":"1.5"}');
  assert.equal(await a.store.getPolicyState('absent'), null);
  await a.store.close();

  const b = await openStore(t, cluster);
  const expected = emptySnapshot();
  expected.apps.set('app1', app('app1'));
  expected.models.set('m:1', model('m', '1'));
  expected.models.set('m:2', model('m', '2'));
  expected.currentVersions.set('m', '2');
  assert.deepEqual(b.mirror.view, expected);
  assert.deepEqual(a.mirror.view, expected);
  assert.equal(await b.store.getPolicyState('app1:user7'), '{"y_hat":"1.5"}');
});

test('deletes propagate and match the memory store: absent deletes emit nothing', { skip }, async (t) => {
  const cluster = uniqueCluster();
  t.after(() => deleteClusterKeys(kRedisUrl, cluster));
  const { store, mirror } = await openStore(t, cluster);
  const memory = new MemoryStateStore();
  const memoryMirror = new Mirror(await memory.open());
  memory.subscribe(memoryMirror.listener);
  for (const s of [store, memory]) {
    await s.putApp(app('gone'));
    await s.putModel(model('m', '1'));
    await s.setCurrentVersion('m', '1');
    await s.deleteApp('never-existed');
    await s.deleteModel('m', '9');
    await s.deleteApp('gone');
    await s.deleteModel('m', '1');
    await s.setCurrentVersion('m', null);
  }
  assert.deepEqual(mirror.changes, memoryMirror.changes);
  assert.deepEqual(mirror.kinds(), ['app_put', 'model_put', 'current_version', 'app_deleted', 'model_deleted', 'current_version']);
  assert.deepEqual(mirror.view, emptySnapshot());
  await store.close();
  const again = await openStore(t, cluster);
  assert.deepEqual(again.mirror.view, emptySnapshot());
});

test('two stores on one cluster see each other’s puts and deletes, and converge', { skip }, async (t) => {
  const cluster = uniqueCluster();
  t.after(() => deleteClusterKeys(kRedisUrl, cluster));
  const a = await openStore(t, cluster);
  const b = await openStore(t, cluster);

  await a.store.putApp(app('shared'));
  await waitFor(() => b.mirror.view.apps.has('shared'), 'B to see A’s put');
  await b.store.putModel(model('m', '1'));
  await waitFor(() => a.mirror.view.models.has('m:1'), 'A to see B’s put');
  await b.store.deleteApp('shared');
  await waitFor(() => !a.mirror.view.apps.has('shared'), 'A to see B’s delete');
  assert.deepEqual(a.mirror.kinds(), ['app_put', 'model_put', 'app_deleted']);

  // Concurrent writes of the same key from both stores end in the same state everywhere.
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    writes.push(a.store.putApp(app('race', `a${i}`)), b.store.putApp(app('race', `b${i}`)));
  }
  await Promise.all(writes);
  const c = await openStore(t, cluster);
  await waitFor(() => a.mirror.changes.length === b.mirror.changes.length, 'A and B to hear all changes');
  assert.deepEqual(a.mirror.changes, b.mirror.changes);
  assert.deepEqual(a.mirror.view, c.mirror.view);
  assert.deepEqual(b.mirror.view, c.mirror.view);
});

test('two cluster names never see each other’s data', { skip }, async (t) => {
  const one = uniqueCluster();
  const two = uniqueCluster();
  t.after(() => deleteClusterKeys(kRedisUrl, one));
  t.after(() => deleteClusterKeys(kRedisUrl, two));
  const a = await openStore(t, one);
  const b = await openStore(t, two);
  await a.store.putApp(app('only-in-one'));
  await a.store.putPolicyState('k', 'one');
  await b.store.putApp(app('only-in-two'));
  assert.deepEqual([...a.mirror.view.apps.keys()], ['only-in-one']);
  assert.deepEqual([...b.mirror.view.apps.keys()], ['only-in-two']);
  assert.equal(await b.store.getPolicyState('k'), null);
  const a2 = await openStore(t, one);
  assert.deepEqual([...a2.mirror.view.apps.keys()], ['only-in-one']);
});

test('a gap in the change sequence makes the store reload the snapshot', { skip }, async (t) => {
  const cluster = uniqueCluster();
  t.after(() => deleteClusterKeys(kRedisUrl, cluster));
  const { store, mirror } = await openStore(t, cluster);
  await store.putApp(app('first'));
  const keys = redisKeys(cluster);
  const raw = new Redis(kRedisUrl);
  t.after(() => raw.quit());
  // Written behind the stores' back, then announced with a seq that skips one.
  await raw.hset(keys.apps, 'sideways', JSON.stringify(app('sideways')));
  const seq = await raw.incrby(keys.seq, 2);
  await raw.publish(keys.channel, JSON.stringify({ seq, writer: 'raw', change: { kind: 'app_deleted', name: 'first' } }));
  await waitFor(() => mirror.kinds().includes('resync'), 'a resync');
  assert.deepEqual([...mirror.view.apps.keys()].sort(), ['first', 'sideways']);
  await waitFor(() => store.writable, 'the store to be writable again');
  await store.putApp(app('next'));
  assert.deepEqual(mirror.kinds(), ['app_put', 'resync', 'app_put']);
});

test('unreachable Redis at start fails fast with a clear error; bad arguments are rejected', async (t) => {
  const port = await freePort();
  const store = createStateStore(`redis://127.0.0.1:${port}`, 'c');
  t.after(() => store.close());
  await assert.rejects(
    store.open(),
    expectUnavailable(new RegExp(`^cannot reach Redis at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`)),
  );
  assert.equal(store.writable, false);
  await assert.rejects(store.putApp(app('x')), expectUnavailable());

  const secret = createStateStore(`redis://user:hunter2@127.0.0.1:${port}`, 'c');
  t.after(() => secret.close());
  await assert.rejects(secret.open(), (err: Error) => !err.message.includes('hunter2') && err.message.includes('***'));
  assert.throws(() => createStateStore(kRedisUrl, 'bad}name'), { code: 'CLP_ERR_INVALID_ARG' });
  assert.throws(() => createStateStore('http://x', 'c'), { code: 'CLP_ERR_INVALID_ARG' });
  assert.ok(createStateStore('memory:', 'c') instanceof MemoryStateStore);
  assert.ok(createStateStore(kRedisUrl, 'c') instanceof RedisStateStore);
});

const restartSkip = existsSync(kRedisServer) ? false : `${kRedisServer} not found: the restart test runs its own redis-server`;

test('Redis restart mid-traffic: writes reject, the store reconnects and resyncs', { skip: restartSkip }, async (t) => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server = await startRedis(t, port);
  const cluster = uniqueCluster();
  const a = await openStore(t, cluster, url, { reconnectDelayMaxMs: 100 });
  await a.store.putApp(app('before'));
  await a.store.putPolicyState('p', '1');

  server.kill('SIGKILL');
  await once(server, 'exit');
  await waitFor(() => !a.store.writable, 'the store to notice the lost connection');
  await assert.rejects(a.store.putApp(app('during')), expectUnavailable(/^state store unavailable: Redis connection lost; retrying$/));
  await assert.rejects(a.store.getPolicyState('p'), expectUnavailable());

  // The restarted server has lost everything: A, whose last change is newer than the empty Redis,
  // writes its copy back (state_mirror.ts) instead of following it; another frontend then sees it.
  server = await startRedis(t, port);
  await waitFor(() => a.store.writable, 'the store to resync');
  assert.ok(a.mirror.kinds().includes('resync'));
  assert.deepEqual([...a.mirror.view.apps.keys()], ['before']);
  assert.equal(await a.store.getPolicyState('p'), '1');
  const b = await openStore(t, cluster, url);
  assert.deepEqual([...b.mirror.view.apps.keys()], ['before']);
  await b.store.putApp(app('from-b'));
  await waitFor(() => a.mirror.view.apps.has('from-b'), 'A to see B’s write');

  await a.store.putApp(app('after'));
  await waitFor(() => b.mirror.view.apps.has('after'), 'B to see A’s write after the restart');
  assert.deepEqual(a.mirror.view, b.mirror.view);
  await a.store.close();
  await b.store.close();
  server.kill('SIGKILL');
  await once(server, 'exit');
});
