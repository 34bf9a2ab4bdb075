// PredictionCache: exact-bytes keys, coalescing of identical in-flight queries, byte bound, invalidation
// (also of pending entries), per-model switch and large-input bypass.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PredictionCache, type PendingHandle } from '../../src/cache/prediction_cache.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function own(cache: PredictionCache, key: string): PendingHandle {
  const r = cache.lookup(key, () => assert.fail('owner waiter must not be called'));
  assert.equal(r.kind, 'owner');
  return (r as { handle: PendingHandle }).handle;
}

test('keys differ by model, version, input type and every byte; identical inputs share a key', () => {
  const c = new PredictionCache();
  const base = c.key('m', '1', 'bytes', bytes(1, 2, 3));
  assert.equal(c.key('m', '1', 'bytes', bytes(1, 2, 3)), base);
  assert.notEqual(c.key('m', '1', 'bytes', bytes(1, 2, 4)), base);
  assert.notEqual(c.key('m', '1', 'ints', bytes(1, 2, 3)), base);
  assert.notEqual(c.key('m', '2', 'bytes', bytes(1, 2, 3)), base);
  assert.notEqual(c.key('n', '1', 'bytes', bytes(1, 2, 3)), base);
  // Length-prefixed parts: moving characters between name and version cannot collide.
  assert.notEqual(c.key('m1', '', 'bytes', bytes(1)), c.key('m', '1', 'bytes', bytes(1)));
  // All 256 byte values survive (latin1), and a view at an offset keys its own bytes only.
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const k1 = c.key('m', '1', 'bytes', all);
  c.put(k1, text('x'));
  const copy = new Uint8Array(300);
  copy.set(all, 44);
  assert.deepEqual(c.get(c.key('m', '1', 'bytes', copy.subarray(44))), text('x'));
  assert.equal(c.get(c.key('m', '1', 'bytes', copy.subarray(43, 299))), undefined);
});

test('hit after settle; concurrent identical lookups attach and are settled together', () => {
  const c = new PredictionCache();
  const key = c.key('m', '1', 'strings', text('hello'));
  const handle = own(c, key);
  const got: (Uint8Array | undefined)[] = [];
  assert.deepEqual(c.lookup(key, (o) => got.push(o)), { kind: 'attached' });
  assert.deepEqual(c.lookup(key, (o) => got.push(o)), { kind: 'attached' });
  assert.equal(c.stats().pendingCount, 1);
  c.settle(handle, text('world'));
  assert.deepEqual(got, [text('world'), text('world')]);
  const hit = c.lookup(key, () => assert.fail());
  assert.equal(hit.kind, 'hit');
  assert.deepEqual((hit as { output: Uint8Array }).output, text('world'));
  c.settle(handle, text('again')); // settling twice is a no-op
  const s = c.stats();
  assert.equal(s.hitCount, 1);
  assert.equal(s.missCount, 3);
  assert.equal(s.coalescedCount, 2);
  assert.equal(s.pendingCount, 0);
  assert.equal(s.entryCount, 1);
});

test('a failed owner settles waiters with undefined and caches nothing; the next query owns again', () => {
  const c = new PredictionCache();
  const key = c.key('m', '1', 'bytes', bytes(9));
  const handle = own(c, key);
  let got: Uint8Array | undefined | null = null;
  c.lookup(key, (o) => { got = o; });
  c.settle(handle, undefined);
  assert.equal(got, undefined);
  assert.equal(c.get(key), undefined);
  own(c, key);
});

test('stored output is a copy of the caller buffer', () => {
  const c = new PredictionCache();
  const key = c.key('m', '1', 'bytes', bytes(1));
  const out = bytes(5, 6);
  c.put(key, out);
  out[0] = 0;
  assert.deepEqual(c.get(key), bytes(5, 6));
});

test('bounded in bytes: least recently used entries are evicted; oversized outputs are not cached', () => {
  const c = new PredictionCache({ bytesMax: 4096 });
  const keys = Array.from({ length: 20 }, (_, i) => c.key('m', '1', 'bytes', bytes(i)));
  for (const k of keys) c.put(k, new Uint8Array(400));
  const s = c.stats();
  assert.ok(s.bytes <= 4096, String(s.bytes));
  assert.ok(s.entryCount < 20 && s.entryCount > 0);
  assert.ok(s.evictedCount > 0);
  assert.ok(c.get(keys[19]!) !== undefined);
  assert.equal(c.get(keys[0]!), undefined);
  const big = c.key('m', '1', 'bytes', bytes(200));
  c.put(big, new Uint8Array(5000));
  assert.equal(c.get(big), undefined);
});

test('invalidateModel drops that version only, and a pending result from before is not cached', () => {
  const c = new PredictionCache();
  const k1 = c.key('m', '1', 'bytes', bytes(1));
  const k2 = c.key('m', '2', 'bytes', bytes(1));
  const kOther = c.key('other', '1', 'bytes', bytes(1));
  c.put(k1, text('a'));
  c.put(k2, text('b'));
  c.put(kOther, text('c'));
  const kPending = c.key('m', '1', 'bytes', bytes(2));
  const handle = own(c, kPending);
  let waited: Uint8Array | undefined;
  c.lookup(kPending, (o) => { waited = o; });
  c.invalidateModel('m', '1');
  assert.equal(c.get(k1), undefined);
  assert.deepEqual(c.get(k2), text('b'));
  assert.deepEqual(c.get(kOther), text('c'));
  // A query after the redeploy does not attach to the old pending entry.
  const fresh = own(c, kPending);
  c.settle(handle, text('old'));
  assert.deepEqual(waited, text('old')); // the old waiter still gets its answer
  assert.equal(c.get(kPending), undefined); // but the old output is not cached
  c.settle(fresh, text('new'));
  assert.deepEqual(c.get(kPending), text('new'));
  c.invalidateModel('m');
  assert.equal(c.get(k2), undefined);
  assert.equal(c.get(kPending), undefined);
  assert.deepEqual(c.get(kOther), text('c'));
});

test('caching can be turned off per model; large inputs bypass', () => {
  const c = new PredictionCache({ inputBytesMax: 8 });
  const k = c.key('m', '1', 'bytes', bytes(1));
  c.put(k, text('a'));
  c.setModelEnabled('m', false);
  assert.equal(c.get(k), undefined);
  assert.equal(c.key('m', '1', 'bytes', bytes(1)), '');
  assert.deepEqual(c.lookup('', () => {}), { kind: 'bypass' });
  c.setModelEnabled('m', true);
  assert.notEqual(c.key('m', '1', 'bytes', bytes(1)), '');
  assert.equal(c.key('m', '1', 'bytes', new Uint8Array(9)), '');
  assert.equal(c.stats().bypassCount, 1);
  assert.throws(() => new PredictionCache({ bytesMax: 0 }), /cache.bytesMax/);
});
