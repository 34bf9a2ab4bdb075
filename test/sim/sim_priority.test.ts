// Seeded simulator runs with mixed priorities (sim/scenarios.ts priority_*): besides the usual invariants,
// every batch is checked to be a prefix of the scheduler's order (sim/sim_priorities.ts). Urgent queries
// keep their SLO under overload; one priority, whatever its level, runs exactly as the default. Replay a
// failure with node dist/sim/run.js --seed N --scenario NAME. All figures are simulated time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation, type SimResult } from '../../sim/simulator.js';
import { kBestRatePerMs, kScenarios } from '../../sim/scenarios.js';
import { batchOrderViolation } from '../../sim/sim_priorities.js';

const kSeeds = [1, 2, 3];

function run(name: string, seed: number, durationMs = 3000): SimResult {
  const config = kScenarios[name]!(seed);
  config.durationMs = durationMs;
  return runSimulation(config);
}

function inSloShare(r: SimResult, priority: number): number {
  const t = r.byPriority?.[priority];
  assert.ok(t !== undefined && t.offeredCount > 0, `no queries at priority ${priority}`);
  return t.completedInSloCount / t.offeredCount;
}

test('2x overload: urgent queries keep their SLO, normal ones take the rest, goodput stays high', () => {
  for (const seed of kSeeds) {
    const r = run('priority_overload', seed);
    assert.ok(r.inSloShareOfCompleted >= 0.999, `seed ${seed}: ${r.inSloShareOfCompleted}`);
    assert.ok(inSloShare(r, 8) >= 0.99, `seed ${seed}: urgent ${inSloShare(r, 8)}`);
    assert.ok(inSloShare(r, 0) < 0.5, `seed ${seed}: normal ${inSloShare(r, 0)}`);
    // Urgent queries are not dropped to make batches larger: some goodput is lost to that (about 6%).
    assert.ok(r.goodputPerS / 1000 >= 0.8 * kBestRatePerMs, `seed ${seed}: ${r.goodputPerS}/s`);
  }
});

test('three levels in bursts with delayed batching: the more urgent, the larger the share in SLO', () => {
  for (const seed of kSeeds) {
    const r = run('priority_levels_wait', seed);
    assert.ok(r.inSloShareOfCompleted >= 0.999, `seed ${seed}: ${r.inSloShareOfCompleted}`);
    const [high, mid, low] = [inSloShare(r, 15), inSloShare(r, 5), inSloShare(r, 0)];
    assert.ok(high >= 0.99 && high >= mid && mid > low, `seed ${seed}: ${high} ${mid} ${low}`);
  }
});

test('one priority for every query, at any level, schedules exactly as the default', () => {
  for (const name of ['overload_aimd', 'moderate_wait', 'replica_churn']) {
    const plain = run(name, 1, 2000);
    for (const priority of [0, 11]) {
      const config = kScenarios[name]!(1);
      config.durationMs = 2000;
      config.priorityMix = [{ priority, share: 1 }];
      const { byPriority, ...rest } = runSimulation(config);
      assert.deepEqual(rest, plain, `${name} at priority ${priority}`);
      assert.equal(byPriority?.[priority]?.offeredCount, plain.offeredCount);
    }
  }
});

test('the batch-order check catches a less urgent or later query sent while another waits', () => {
  const q = (token: number, priority: number, deadlineMs: number, batchId = -1) => ({ token, priority, deadlineMs, batchId });
  const sent = [q(1, 5, 100, 9), q(2, 0, 50, 9)];
  assert.equal(batchOrderViolation(9, sent, [...sent, q(3, 0, 60), q(4, 5, 10, 2)]), null);
  assert.match(batchOrderViolation(9, sent, [...sent, q(3, 1, 500)]) ?? '', /priority 0 while token 3 of priority 1 waits/);
  assert.match(batchOrderViolation(9, sent, [...sent, q(3, 0, 40)]) ?? '', /token 3 .* waits behind one due 50/);
});
