import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combine, type CombineOptions, type CombineResult } from '../../src/selection/policies/combine.js';

function out(r: CombineResult): unknown {
  assert.equal(r.kind, 'combined');
  return r.kind === 'combined' ? r.output : undefined;
}

const kAuto: CombineOptions = { mode: 'auto', tolerance: 0.5, confidenceMin: 0 };

test('numbers: weighted mean, confidence = weight within tolerance of the mean', () => {
  const r = combine([1, 2, 10], Float64Array.of(0.5, 0.3, 0.2), kAuto);
  assert.equal(r.kind, 'combined');
  const mean = 0.5 * 1 + 0.3 * 2 + 0.2 * 10; // 3.1
  assert.ok(Math.abs((out(r) as number) - mean) < 1e-12);
  assert.equal(r.confidence, 0); // none within 0.5 of 3.1
  const near = combine([1, 1.2, 10], Float64Array.of(0.45, 0.45, 0.1), { ...kAuto, tolerance: 1 });
  // mean = 0.45 + 0.54 + 1 = 1.99; models 0 and 1 are within 1
  assert.ok(Math.abs(near.confidence - 0.9) < 1e-12);
  assert.deepEqual(near.agreeing, [0, 1]);
  assert.deepEqual(near.contributors, [0, 1, 2]);
});

test('labels: weighted vote, confidence = winner weight share', () => {
  const r = combine(['cat', 'dog', 'dog'], Float64Array.of(0.5, 0.3, 0.2), kAuto);
  assert.equal(r.kind, 'combined');
  assert.equal(out(r), 'cat'); // 0.5 vs 0.5: tie → first voter's label
  assert.equal(r.confidence, 0.5);
  const r2 = combine(['cat', 'dog', 'dog'], Float64Array.of(0.4, 0.3, 0.3), kAuto);
  assert.equal(out(r2), 'dog');
  assert.ok(Math.abs(r2.confidence - 0.6) < 1e-12);
  assert.deepEqual(r2.agreeing, [1, 2]);
});

test('vote mode treats numbers as class labels; mean mode reads numeric strings', () => {
  const v = combine([1, 0, 1], Float64Array.of(0.2, 0.6, 0.2), { ...kAuto, mode: 'vote' });
  assert.equal(out(v), 0);
  const m = combine(['1.5', 'x', '2.5'], Float64Array.of(1, 1, 1), { ...kAuto, mode: 'mean' });
  assert.equal(out(m), 2);
  assert.deepEqual(m.contributors, [0, 2]);
  const o = combine([{ k: 1 }, { k: 1 }, { k: 2 }], Float64Array.of(1, 1, 1), kAuto);
  assert.deepEqual(out(o), { k: 1 });
});

test('stragglers: only arrived models, weights renormalised', () => {
  const r = combine([undefined, 4, 8], Float64Array.of(0.8, 0.1, 0.1), kAuto);
  assert.equal(r.kind, 'combined');
  assert.equal(out(r), 6);
  assert.deepEqual(r.contributors, [1, 2]);
  const short = combine(['a'], Float64Array.of(0.1, 0.9), kAuto); // fewer outputs than models
  assert.equal(out(short), 'a');
  assert.equal(short.confidence, 1);
  const zero = combine([2, 4, undefined], Float64Array.of(0, 0, 1), kAuto); // arrived weights sum to 0
  assert.equal(out(zero), 3);
});

test('nothing arrived → default', () => {
  const r = combine([undefined, undefined], Float64Array.of(0.5, 0.5), kAuto);
  assert.equal(r.kind, 'default');
  assert.equal(r.kind === 'default' && r.reason, 'nothing_arrived');
  const r2 = combine(['x', 'y'], Float64Array.of(0.5, 0.5), { ...kAuto, mode: 'mean' });
  assert.equal(r2.kind === 'default' && r2.reason, 'nothing_arrived');
});

test('below the minimum confidence → default', () => {
  const opts = { ...kAuto, confidenceMin: 0.7 };
  const low = combine(['cat', 'dog', 'dog'], Float64Array.of(0.4, 0.3, 0.3), opts);
  assert.equal(low.kind, 'default');
  assert.equal(low.kind === 'default' && low.reason, 'low_confidence');
  assert.ok(Math.abs(low.confidence - 0.6) < 1e-12);
  const high = combine(['cat', 'dog', 'dog'], Float64Array.of(0.2, 0.4, 0.4), opts);
  assert.equal(high.kind, 'combined');
});
