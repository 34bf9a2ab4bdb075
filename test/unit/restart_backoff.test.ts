// Replica restart delays (src/containers/container_manager.ts beginRestart): a replica killed after
// serving restarts at once, however often that happens; one that keeps crashing backs off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { beginRestart, newReplicaInfo, restartDelayMs } from '../../src/containers/container_manager.js';
import { nodeModelRecord } from '../../src/admin/deploy_local.js';

const info = () => newReplicaInfo(nodeModelRecord('m', '1', 'doubles', 'x.mjs'), 0, 'local');

test('restart delays: the first at once, then doubling from the minimum up to the maximum', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7].map((a) => restartDelayMs(a, 100, 5000)),
    [0, 100, 200, 400, 800, 1600, 3200, 5000],
  );
});

test('a replica that crashes right after starting backs off', () => {
  const r = info();
  const delays = Array.from({ length: 6 }, () => beginRestart(r, 50, 100, 5000));
  assert.deepEqual(delays, [0, 100, 200, 400, 800, 1600]);
  assert.equal(r.restartCount, 6);
  assert.equal(r.state, 'restarting');
});

test('a replica killed again and again after serving a while restarts at once each time', () => {
  const r = info();
  for (let i = 0; i < 10; i++) assert.equal(beginRestart(r, 3000, 100, 5000), 0, `kill ${i + 1}`);
  assert.equal(r.restartCount, 10, 'the count shown by the admin API counts every restart');
});

test('the backoff starts over once a replica stayed up ten times its last delay', () => {
  const r = info();
  for (let i = 0; i < 5; i++) beginRestart(r, 10, 100, 5000); // last delay 800 ms
  assert.equal(beginRestart(r, 7000, 100, 5000), 1600, 'up 7 s < 10 × 800 ms: still backing off');
  assert.equal(beginRestart(r, 16_000, 100, 5000), 0, 'up 16 s ≥ 10 × 1600 ms: a fresh start');
});
