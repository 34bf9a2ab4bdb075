// Seeded simulator runs of the real ModelScheduler (see simulator.ts for the invariants it checks on every
// run: nothing sent after its deadline or when the predicted latency does not fit, every query leaves
// exactly once). Fixed seeds; a failure message starts with the seed, replay with
//   node dist/sim/run.js --seed N --scenario NAME
// All figures are simulated time; no assertion depends on wall-clock speed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation, type BatchTrace, type SimResult } from '../../sim/simulator.js';
import { kBestRatePerMs, kScenarios } from '../../sim/scenarios.js';

const kSeeds = [1, 2, 3];

function run(name: string, seed: number, durationMs?: number): SimResult {
  const config = kScenarios[name]!(seed);
  if (durationMs !== undefined) config.durationMs = durationMs;
  return runSimulation(config);
}

for (const name of ['overload_aimd', 'saturate_aimd', 'bursty_aimd', 'replica_churn', 'replica_hang', 'moderate_wait']) {
  test(`invariants hold and >= 99.9% of sent queries meet the SLO: ${name}`, () => {
    for (const seed of kSeeds) {
      const r = run(name, seed, 3000);
      assert.ok(r.completedCount > 0, `seed ${seed}: nothing completed`);
      assert.ok(r.inSloShareOfCompleted >= 0.999, `seed ${seed}: ${r.inSloShareOfCompleted}`);
    }
  });
}

test('overload: goodput stays near the best possible throughput (simulated time)', () => {
  for (const seed of kSeeds) {
    const r = run('overload_aimd', seed);
    // Deterministic for a seed; the bench reports the exact figure (~0.85: admission control sheds what
    // the batch after the one in flight cannot serve, docs/reliability.md §2). 0.8 leaves room for model changes.
    assert.ok(r.goodputPerS / 1000 >= 0.8 * kBestRatePerMs, `seed ${seed}: ${r.goodputPerS}/s`);
  }
});

test('slowdown 2x under overload: invariants hold and the replica keeps serving after it', () => {
  for (const seed of kSeeds) {
    const r = run('slowdown_aimd', seed);
    const during = r.batches.filter((b) => b.atMs > 3500 && b.atMs < 6000);
    const after = r.batches.filter((b) => b.atMs > 6500);
    assert.ok(during.length > 100 && after.length > 100, `seed ${seed}: ${during.length} / ${after.length} batches`);
  }
});

/** First index from which every batchSizeMax lies in [lo, hi], searching batches[start..end). */
function settledAt(batches: BatchTrace[], start: number, end: number, lo: number, hi: number): number {
  let settled = -1;
  for (let i = start; i < end; i++) {
    const n = batches[i]!.batchSizeMaxAfter;
    if (n >= lo && n <= hi) {
      if (settled < 0) settled = i;
    } else settled = -1;
  }
  return settled;
}

test('AIMD converges within a bounded number of batches, re-converges after a 2x slowdown and recovers', () => {
  // Budget 10 ms: t(n) = 2 + 0.05 n gives 160, 2x slower gives 60. The latency model's safety margin keeps
  // AIMD a little below: accept [0.7, 1] x the budget-implied size.
  for (const seed of kSeeds) {
    const b = run('aimd_convergence', seed).batches;
    const slowAt = b.findIndex((x) => x.atMs >= 4000);
    const fastAt = b.findIndex((x) => x.atMs >= 8000);
    const phases = [
      { start: 0, end: slowAt, lo: 112, hi: 161, within: 300 },
      { start: slowAt, end: fastAt, lo: 42, hi: 61, within: 40 },
      { start: fastAt, end: b.length, lo: 112, hi: 161, within: 300 },
    ];
    for (const [i, p] of phases.entries()) {
      const at = settledAt(b, p.start, p.end, p.lo, p.hi);
      const trace = b.slice(p.start, p.start + 10).map((x) => x.batchSizeMaxAfter);
      assert.ok(at >= 0, `seed ${seed} phase ${i}: never settled in [${p.lo}, ${p.hi}] (starts ${trace})`);
      assert.ok(at - p.start <= p.within, `seed ${seed} phase ${i}: settled after ${at - p.start} batches`);
    }
  }
});

test('the same seed replays the same run; another seed differs', () => {
  const a = run('bursty_aimd', 7, 1500);
  const b = run('bursty_aimd', 7, 1500);
  const c = run('bursty_aimd', 8, 1500);
  assert.deepEqual(a, b);
  assert.notEqual(a.offeredCount, c.offeredCount);
});
