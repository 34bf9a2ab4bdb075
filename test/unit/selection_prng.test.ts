import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../src/lib/prng.js';

test('same seed gives the same stream, different seeds differ', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const sa = Array.from({ length: 20 }, () => a.next());
  const sb = Array.from({ length: 20 }, () => b.next());
  const sc = Array.from({ length: 20 }, () => c.next());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('next() is in [0, 1) and roughly uniform', () => {
  const p = new Prng(7);
  const bins = new Array<number>(10).fill(0);
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const x = p.next();
    assert.ok(x >= 0 && x < 1);
    bins[Math.floor(x * 10)]!++;
  }
  // chi-square with 9 degrees of freedom; 27.9 is the 0.001 critical value
  const expected = n / 10;
  const chi2 = bins.reduce((s, o) => s + (o - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 27.9, `chi2 ${chi2}`);
});

test('nextInt(n) covers [0, n) and rejects bad n', () => {
  const p = new Prng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const k = p.nextInt(5);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 5);
    seen.add(k);
  }
  assert.equal(seen.size, 5);
  assert.throws(() => p.nextInt(0), RangeError);
  assert.throws(() => p.nextInt(1.5), RangeError);
});

test('getState / fromState continues the same stream', () => {
  const p = new Prng(99);
  p.next();
  const q = Prng.fromState(p.getState());
  for (let i = 0; i < 10; i++) assert.equal(q.nextUint32(), p.nextUint32());
});
