// Reliability item 4, the write-back rule (src/state/state_mirror.ts, `reseed` in
// src/state/redis_commands.ts): a frontend writes its copy of the state back only into a Redis that
// holds no state at all for the cluster, and then every other frontend resyncs to it; a Redis that
// holds anything (a fresh frontend wrote first, and was answered) is followed, whatever its seq.
// On a private redis-server (never the shared one on 6379); the old frontend reaches it through a
// TCP gate the test shuts and opens, so it reconnects exactly when the test says.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { type PrivateRedis, startPrivateRedis } from '../../bench/reliability/harness.js';
import { applyChange } from '../../src/state/apply_change.js';
import type { AppRecord, StateSnapshot } from '../../src/state/records.js';
import { RedisStateStore } from '../../src/state/redis_store.js';
import type { StateChange } from '../../src/state/state_store.js';

const skip = existsSync('/usr/bin/redis-server') ? false : '/usr/bin/redis-server not found';
const kCluster = 'reseed-race';

async function redis(t: TestContext): Promise<PrivateRedis> {
  const r = await startPrivateRedis();
  t.after(() => r.kill());
  return r;
}

/** A TCP relay to Redis; while shut it drops every connection it is offered. */
async function gate(t: TestContext, port: number): Promise<{ url: string; open: boolean }> {
  const sockets = new Set<net.Socket>();
  const g = { url: '', open: true };
  const relay = (from: net.Socket, to: net.Socket): void => {
    sockets.add(from);
    from.on('error', () => {});
    from.on('close', () => {
      sockets.delete(from);
      to.destroy();
    });
    from.pipe(to);
  };
  const server = net.createServer((client) => {
    if (!g.open) {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, '127.0.0.1');
    relay(client, upstream);
    relay(upstream, client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  g.url = `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return g;
}

/** A store and the view of the configuration its listener keeps, as a frontend does. */
async function frontend(t: TestContext, url: string) {
  const store = new RedisStateStore(url, { clusterName: kCluster, reconnectDelayMaxMs: 100 });
  t.after(() => store.close());
  const f = { store, view: await store.open(), kinds: [] as string[] };
  store.subscribe((c: StateChange) => {
    f.kinds.push(c.kind);
    f.view = applyChange(f.view, c);
  });
  return f;
}

async function waitFor(ok: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > boundMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function app(name: string): AppRecord {
  return {
    name,
    input_type: 'doubles',
    default_output: '-1.0',
    latency_slo_micros: 100_000,
    linked_models: [],
    selection_policy: 'DefaultOutputSelectionPolicy',
    overload_response: 'status_429',
  };
}

const appNames = (view: StateSnapshot): string[] => [...view.apps.keys()].sort();

/** F1 holds `names` (through a gate), then Redis is SIGKILLed and started again empty with F1 kept away. */
async function oldFrontendAcrossRestart(t: TestContext, names: string[]) {
  const r = await redis(t);
  const g = await gate(t, r.port);
  const f1 = await frontend(t, g.url);
  for (const name of names) await f1.store.putApp(app(name));
  await f1.store.putPolicyState(names[0]!, '{"w":1}');
  g.open = false;
  await r.kill();
  await waitFor(() => !f1.store.writable, 'F1 to notice Redis gone');
  await r.start(); // empty: it kept nothing
  return { r, g, f1 };
}

test('Redis back empty, a fresh frontend writes first: its writes survive and the old frontend follows Redis', { skip }, async (t) => {
  const { r, g, f1 } = await oldFrontendAcrossRestart(t, ['old-1', 'old-2', 'old-3', 'old-4', 'old-5']);
  // F3 starts fresh on the empty Redis: Z and Y put, Z deleted (seq 1-3, behind F1's 5), each answered.
  const f3 = await frontend(t, r.url);
  assert.deepEqual(appNames(f3.view), []);
  await f3.store.putApp(app('Z'));
  await f3.store.putApp(app('Y'));
  await f3.store.deleteApp('Z');

  g.open = true;
  await waitFor(() => f1.store.writable, 'F1 to reconnect and resync');
  assert.deepEqual(appNames(f1.view), ['Y'], 'F1 follows Redis, not its own old copy');
  assert.equal(f1.kinds.at(-1), 'resync');
  assert.deepEqual(appNames(f3.view), ['Y'], 'Y survives; nothing of F1 came back');
  assert.deepEqual(f3.kinds, ['app_put', 'app_put', 'app_deleted'], 'nothing was written back, so F3 had nothing to resync');
  assert.equal(await f3.store.getPolicyState('old-1'), null);
  const late = await frontend(t, r.url);
  assert.deepEqual(appNames(late.view), ['Y']);

  // The cluster goes on as one: F1's write reaches F3.
  await f1.store.putApp(app('after'));
  await waitFor(() => f3.view.apps.has('after'), 'F3 to see F1’s write');
  assert.deepEqual(f1.view, f3.view);
});

test('Redis back empty and nobody wrote: the old frontend writes its copy back and a connected one resyncs to it', { skip }, async (t) => {
  const { r, g, f1 } = await oldFrontendAcrossRestart(t, ['a', 'b']);
  // F2 connects to the empty Redis before F1 is back, and so loads nothing.
  const f2 = await frontend(t, r.url);
  assert.deepEqual(appNames(f2.view), []);

  g.open = true;
  await waitFor(() => f1.store.writable, 'F1 to reconnect and resync');
  assert.deepEqual(appNames(f1.view), ['a', 'b'], 'nothing F1 held was lost');
  await waitFor(() => f2.view.apps.size === 2, 'F2 to resync on the reseed message');
  assert.ok(f2.kinds.includes('resync'));
  assert.deepEqual(f2.view, f1.view);
  assert.equal(await f2.store.getPolicyState('a'), '{"w":1}', 'the policy state was written back too');
  const late = await frontend(t, r.url);
  assert.deepEqual(appNames(late.view), ['a', 'b']);

  await waitFor(() => f2.store.writable, 'F2 to be writable');
  await f2.store.putApp(app('c'));
  await waitFor(() => f1.view.apps.has('c'), 'F1 to see F2’s write');
  assert.deepEqual(f1.view, f2.view);
});
