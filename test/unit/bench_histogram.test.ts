import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, kHistogramRelativeError } from '../../tools/loadgen/histogram.js';

const near = (actual: number, expected: number, msg: string): void => {
  const tol = Math.max(1, expected * kHistogramRelativeError);
  assert.ok(Math.abs(actual - expected) <= tol, `${msg}: ${actual} not within ${tol} of ${expected}`);
};

test('percentiles of a uniform 1..100000 µs distribution are within the histogram precision', () => {
  const h = new Histogram();
  for (let v = 1; v <= 100_000; v++) h.record(v);
  assert.equal(h.count, 100_000);
  assert.equal(h.min, 1);
  assert.equal(h.max, 100_000);
  near(h.mean, 50_000.5, 'mean');
  near(h.percentile(50), 50_000, 'p50');
  near(h.percentile(90), 90_000, 'p90');
  near(h.percentile(99), 99_000, 'p99');
  near(h.percentile(99.9), 99_900, 'p99.9');
  assert.equal(h.percentile(100), 100_000);
  assert.equal(h.percentile(0), 1);
});

test('values below 256 µs are exact', () => {
  const h = new Histogram();
  for (let v = 0; v < 200; v++) h.record(v);
  assert.equal(h.percentile(50), 99); // rank 100 of 0..199
  assert.equal(h.percentile(1), 1);
  assert.equal(h.percentile(99.5), 198);
});

test('a single value at any magnitude comes back within the relative precision', () => {
  for (const v of [300, 1234, 99_999, 1_000_003, 77_777_777, 10_000_000_000]) {
    const h = new Histogram();
    h.record(v);
    h.record(v * 2);
    near(h.percentile(50), v, `value ${v}`);
  }
});

test('a bimodal distribution puts p50 and p99 in the right mode', () => {
  const h = new Histogram();
  h.record(1000, 980);
  h.record(50_000, 20);
  near(h.percentile(50), 1000, 'p50');
  near(h.percentile(98), 1000, 'p98');
  near(h.percentile(99), 50_000, 'p99');
  near(h.mean, (1000 * 980 + 50_000 * 20) / 1000, 'mean');
});

test('merge equals recording everything into one histogram', () => {
  const a = new Histogram();
  const b = new Histogram();
  const all = new Histogram();
  for (let i = 0; i < 5000; i++) {
    const v = (i * 7919) % 200_000;
    (i % 3 === 0 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  assert.deepEqual(a.summary(), all.summary());
  assert.equal(a.countAtOrBelow(100_000), all.countAtOrBelow(100_000));
});

test('empty histogram, negatives, NaN and reset', () => {
  const h = new Histogram();
  assert.deepEqual(h.summary(), { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  h.record(-5);
  h.record(Number.NaN);
  assert.equal(h.count, 2);
  assert.equal(h.max, 0);
  h.reset();
  assert.equal(h.count, 0);
  const merged = new Histogram();
  merged.merge(h);
  assert.equal(merged.count, 0);
  assert.equal(merged.max, 0);
});
