// AIMD and fixed batch size controllers, and the latency model they share. Pure: no clock, no timers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AimdController, FixedBatchSize } from '../../src/batching/aimd_controller.js';
import { LatencyModel } from '../../src/batching/latency_model.js';
import { createPrng } from '../../src/lib/prng.js';

// Replica whose batch latency is 2 ms + 0.05 ms * n (spec of the bench), in µs.
const latencyUs = (n: number, factor = 1): number => factor * (2000 + 50 * n);

test('additive increase only after full batches inside the budget', () => {
  const c = new AimdController({ latencyBudgetUs: 10_000, additiveStep: 2, batchSizeCap: 100 });
  assert.equal(c.batchSizeMax(), 1);
  c.onBatchDone(1, latencyUs(1));
  assert.equal(c.batchSizeMax(), 3);
  c.onBatchDone(2, latencyUs(2)); // not full: no evidence that 5 is fine
  assert.equal(c.batchSizeMax(), 3);
  c.onBatchDone(3, latencyUs(3));
  assert.equal(c.batchSizeMax(), 5);
});

test('multiplicative backoff of 10% when the budget is exceeded, never below 1', () => {
  const c = new AimdController({ latencyBudgetUs: 1000, batchSizeInitial: 100, batchSizeCap: 100 });
  c.onBatchDone(100, 5000);
  assert.equal(c.batchSizeMax(), 90);
  c.onBatchDone(10, 5000); // any over-budget batch backs off
  assert.equal(c.batchSizeMax(), 81);
  for (let i = 0; i < 100; i++) c.onBatchDone(1, 5000);
  assert.equal(c.batchSizeMax(), 1);
  // Small sizes still shrink by at least one: floor(0.9 * 5) = 4.
  const d = new AimdController({ latencyBudgetUs: 1000, batchSizeInitial: 5, batchSizeCap: 10 });
  d.onBatchDone(5, 2000);
  assert.equal(d.batchSizeMax(), 4);
});

test('converges near the budget, re-converges after a 2x slowdown and recovers after it', () => {
  const c = new AimdController({ latencyBudgetUs: 10_000, batchSizeCap: 1000 });
  const target = (factor: number): number => Math.floor((10_000 / factor - 2000) / 50); // largest n within budget
  const run = (factor: number, batches: number): number[] => {
    const sizes: number[] = [];
    for (let i = 0; i < batches; i++) {
      const n = c.batchSizeMax();
      c.onBatchDone(n, latencyUs(n, factor));
      sizes.push(c.batchSizeMax());
    }
    return sizes;
  };
  const inBand = (n: number, factor: number): boolean => n >= Math.floor(0.9 * target(factor)) - 1 && n <= target(factor) + 1;
  let sizes = run(1, 400);
  assert.ok(
    sizes.slice(200).every((n) => inBand(n, 1)),
    `normal: ${sizes.slice(200, 220)}`,
  );
  sizes = run(2, 60);
  assert.ok(
    sizes.slice(30).every((n) => inBand(n, 2)),
    `slow: ${sizes.slice(30)}`,
  );
  sizes = run(1, 400);
  assert.ok(
    sizes.slice(200).every((n) => inBand(n, 1)),
    `recovered: ${sizes.slice(200, 220)}`,
  );
});

test('never stuck at 1: a replica that was very slow grows again', () => {
  const c = new AimdController({ latencyBudgetUs: 10_000, batchSizeInitial: 50, batchSizeCap: 1000 });
  for (let i = 0; i < 100; i++) c.onBatchDone(c.batchSizeMax(), 50_000);
  assert.equal(c.batchSizeMax(), 1);
  // Growth waits until the latency model has forgotten the slow samples, then resumes one step per batch.
  for (let i = 0; i < 300; i++) c.onBatchDone(c.batchSizeMax(), latencyUs(c.batchSizeMax()));
  assert.ok(c.batchSizeMax() >= 100, String(c.batchSizeMax()));
});

test('cap bounds the additive increase; options are validated by name', () => {
  const c = new AimdController({ latencyBudgetUs: 1e9, batchSizeCap: 8 });
  for (let i = 0; i < 50; i++) c.onBatchDone(c.batchSizeMax(), 1);
  assert.equal(c.batchSizeMax(), 8);
  assert.throws(() => new AimdController({ backoffFactor: 1 }), /aimd.backoffFactor/);
  assert.throws(() => new AimdController({ batchSizeCap: 0 }), /aimd.batchSizeCap/);
  assert.throws(() => new FixedBatchSize(0), /batchSize/);
});

test('budget changes steer the controller', () => {
  const c = new AimdController({ latencyBudgetUs: 10_000, batchSizeInitial: 100, batchSizeCap: 1000 });
  c.setLatencyBudgetUs(5000);
  c.onBatchDone(100, latencyUs(100)); // 7 ms > 5 ms
  assert.equal(c.batchSizeMax(), 90);
  assert.equal(c.latencyBudgetUs(), 5000);
});

test('fixed batch size is constant and still learns latency', () => {
  const f = new FixedBatchSize(9, { marginSigmaCount: 0 });
  assert.equal(f.predictLatencyUs(9), 0);
  for (const n of [9, 3, 9, 5, 9, 1, 9]) f.onBatchDone(n, latencyUs(n));
  assert.equal(f.batchSizeMax(), 9);
  assert.ok(Math.abs(f.predictLatencyUs(9) - latencyUs(9)) < 1, String(f.predictLatencyUs(9)));
});

test('latency model: exact line without noise, conservative with noise, degenerate single size', () => {
  const exact = new LatencyModel({ marginSigmaCount: 0 });
  for (let n = 1; n <= 20; n++) exact.addSample(n, latencyUs(n));
  for (const n of [1, 10, 100]) assert.ok(Math.abs(exact.predictLatencyUs(n) - latencyUs(n)) < 1e-3 * latencyUs(n));

  const prng = createPrng(7);
  const noisy = new LatencyModel();
  let covered = 0;
  const checks = 2000;
  for (let i = 0; i < checks; i++) {
    const n = 1 + prng.nextInt(200);
    const sample = latencyUs(n) * (1 + 0.05 * prng.normal());
    if (noisy.sampleCount > 50 && sample <= noisy.predictLatencyUs(n)) covered++;
    noisy.addSample(n, sample);
  }
  // 3 sigma margin: well above 95% of fresh samples fall under the prediction.
  assert.ok(covered / (checks - 51) > 0.97, `coverage ${covered / (checks - 51)}`);

  const single = new LatencyModel({ marginSigmaCount: 0 });
  for (let i = 0; i < 10; i++) single.addSample(10, 2500);
  const near = (got: number, want: number): void => assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  near(single.predictLatencyUs(10), 2500);
  near(single.predictLatencyUs(5), 2500);
  near(single.predictLatencyUs(20), 5000);
  assert.equal(new LatencyModel().predictLatencyUs(10), 0);
});

test('latency model margin: 3 x the relative error (prior 10%), shrinking once samples are exact', () => {
  const m = new LatencyModel();
  m.addSample(10, 2500);
  assert.ok(Math.abs(m.predictLatencyUs(10) - 2500 * 1.3) < 1e-6, String(m.predictLatencyUs(10)));
  for (let i = 0; i < 200; i++) m.addSample(10 + (i % 7), latencyUs(10 + (i % 7)));
  assert.ok(m.predictLatencyUs(10) < latencyUs(10) * 1.01, String(m.predictLatencyUs(10)));
  assert.ok(m.predictLatencyUs(10) >= latencyUs(10) - 1e-6);
});

test('latency model reset keeps only the latest sample', () => {
  const m = new LatencyModel({ marginSigmaCount: 0 });
  for (let i = 0; i < 50; i++) m.addSample(100, 50_000);
  m.addSample(50, 4500);
  m.resetToLatest();
  assert.ok(Math.abs(m.predictLatencyUs(1) - 4500) < 1e-6);
  assert.ok(Math.abs(m.predictLatencyUs(100) - 9000) < 1e-6);
});

test('latency model follows a slowdown within a few dozen batches', () => {
  const m = new LatencyModel();
  for (let i = 0; i < 200; i++) m.addSample(20 + (i % 40), latencyUs(20 + (i % 40)));
  for (let i = 0; i < 60; i++) m.addSample(20 + (i % 40), latencyUs(20 + (i % 40), 2));
  const predicted = m.predictLatencyUs(40);
  assert.ok(predicted >= latencyUs(40, 2) * 0.98, `predicted ${predicted} vs ${latencyUs(40, 2)}`);
});

test('latency noise does not freeze growth: the growth gate allows one deviation, not the full margin', () => {
  // t(n) = 2 ms + 0.05 ms·n with ±40% uniform noise, budget 10 ms (160 at the mean). With the
  // model's full 3-sigma margin in the gate, AIMD froze at one size (96) and stopped probing; with
  // one deviation it keeps probing upward and backing off, around a larger size.
  const prng = createPrng(7);
  const c = new AimdController({ latencyBudgetUs: 10_000, batchSizeCap: 1024 });
  const sizes: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const n = c.batchSizeMax();
    const latencyUs = (2000 + 50 * n) * (0.6 + 0.8 * prng.next());
    c.onBatchDone(n, latencyUs, n);
    sizes.push(c.batchSizeMax());
  }
  const tail = sizes.slice(-500);
  const mean = tail.reduce((a, b) => a + b, 0) / tail.length;
  assert.ok(mean >= 105, `settled around ${mean.toFixed(1)}`);
  assert.ok(Math.max(...tail) > Math.min(...tail), 'AIMD keeps probing instead of freezing');
  assert.ok(Math.max(...tail) <= 170, `never far above the budget-implied size (max ${Math.max(...tail)})`);
});
