// PredictionCache (off-heap log + index): exact-bytes keys, coalescing of identical in-flight queries,
// byte and entry bounds, eviction with one reinsertion of visited entries, invalidation (also of
// pending entries), per-model switch, large-input bypass, and a seeded model check against a Map.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CacheResult, PredictionCache } from '../../src/cache/prediction_cache.js';
import { createPrng } from '../../src/lib/prng.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const kBytes = 5;

function own(cache: PredictionCache, model: number, key: Uint8Array): number {
  assert.equal(cache.lookup(model, kBytes, key), CacheResult.Owner);
  return cache.handle;
}

function put(cache: PredictionCache, model: number, key: Uint8Array, output: string): void {
  cache.settle(own(cache, model, key), output);
}

test('keys differ by model, input type and every byte; identical inputs share an entry', () => {
  const c = new PredictionCache();
  put(c, 1, bytes(1, 2, 3), 'a');
  assert.equal(c.get(1, kBytes, bytes(1, 2, 3)), 'a');
  assert.equal(c.lookup(1, kBytes, bytes(1, 2, 3)), CacheResult.Hit);
  assert.equal(c.hitOutput, 'a');
  assert.equal(c.get(1, kBytes, bytes(1, 2, 4)), undefined);
  assert.equal(c.get(1, kBytes, bytes(1, 2)), undefined, 'a prefix is another key');
  assert.equal(c.get(1, kBytes, bytes(1, 2, 3, 0)), undefined, 'a trailing zero is another key');
  assert.equal(c.get(1, 4, bytes(1, 2, 3)), undefined);
  assert.equal(c.get(2, kBytes, bytes(1, 2, 3)), undefined);
  // All 256 byte values are kept, and a view at an offset keys its own bytes only.
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  put(c, 1, all, 'x');
  const copy = new Uint8Array(300);
  copy.set(all, 44);
  assert.equal(c.get(1, kBytes, copy.subarray(44, 300)), 'x');
  assert.equal(c.get(1, kBytes, copy.subarray(44, 299)), undefined);
  assert.equal(c.get(1, kBytes, copy.subarray(43, 299)), undefined);
  // Outputs are utf8 text, kept exactly; the empty input and the empty output are legal.
  put(c, 1, bytes(), '');
  put(c, 1, bytes(7), '"héllo ✓"');
  assert.equal(c.get(1, kBytes, bytes()), '');
  assert.equal(c.get(1, kBytes, bytes(7)), '"héllo ✓"');
});

test('hit after settle; concurrent identical lookups attach and are settled together', () => {
  const c = new PredictionCache();
  const key = new TextEncoder().encode('hello');
  const handle = own(c, 1, key);
  const got: (string | undefined)[] = [];
  assert.equal(c.lookup(1, kBytes, key), CacheResult.Attached);
  assert.equal(c.handle, handle);
  c.attach(c.handle, (o) => got.push(o));
  assert.equal(c.lookup(1, kBytes, key), CacheResult.Attached);
  c.attach(c.handle, (o) => got.push(o));
  assert.equal(c.stats().pendingCount, 1);
  c.settle(handle, 'world');
  assert.deepEqual(got, ['world', 'world']);
  assert.equal(c.lookup(1, kBytes, key), CacheResult.Hit);
  assert.equal(c.hitOutput, 'world');
  c.settle(handle, 'again'); // settling twice is a no-op
  assert.equal(c.get(1, kBytes, key), 'world');
  assert.deepEqual(got, ['world', 'world']);
  const s = c.stats();
  assert.equal(s.hitCount, 1);
  assert.equal(s.missCount, 3);
  assert.equal(s.coalescedCount, 2);
  assert.equal(s.pendingCount, 0);
  assert.equal(s.entryCount, 1);
});

test('a failed owner settles waiters with undefined and caches nothing; the next query owns again', () => {
  const c = new PredictionCache();
  const handle = own(c, 1, bytes(9));
  let got: string | undefined | null = null;
  assert.equal(c.lookup(1, kBytes, bytes(9)), CacheResult.Attached);
  c.attach(c.handle, (o) => {
    got = o;
  });
  c.settle(handle, undefined);
  assert.equal(got, undefined);
  assert.equal(c.get(1, kBytes, bytes(9)), undefined);
  own(c, 1, bytes(9));
});

test('put replaces the output of an existing key', () => {
  const c = new PredictionCache();
  c.put(1, kBytes, bytes(1), 'a');
  c.put(1, kBytes, bytes(1), 'b');
  assert.equal(c.get(1, kBytes, bytes(1)), 'b');
  assert.equal(c.stats().entryCount, 1);
});

test('bounded in bytes: the oldest entries are evicted; outputs over a quarter of the log are not cached', () => {
  const c = new PredictionCache({ bytesMax: 4096 });
  const out = 'x'.repeat(400);
  for (let i = 0; i < 20; i++) c.put(1, kBytes, bytes(i), out);
  const s = c.stats();
  assert.ok(s.bytes <= 4096, String(s.bytes));
  assert.ok(s.entryCount < 20 && s.entryCount > 0, String(s.entryCount));
  assert.equal(s.evictedCount, 20 - s.entryCount);
  assert.equal(c.get(1, kBytes, bytes(19)), out);
  assert.equal(c.get(1, kBytes, bytes(0)), undefined);
  c.put(1, kBytes, bytes(200), 'y'.repeat(1100));
  assert.equal(c.get(1, kBytes, bytes(200)), undefined);
  // 3-byte characters count as 3 bytes: 400 of them do not fit in a quarter of the log either.
  c.put(1, kBytes, bytes(201), '✓'.repeat(400));
  assert.equal(c.get(1, kBytes, bytes(201)), undefined);
  c.put(1, kBytes, bytes(202), '✓'.repeat(300));
  assert.equal(c.get(1, kBytes, bytes(202)), '✓'.repeat(300));
});

test('a recently hit entry survives eviction that takes an unvisited entry of the same age', () => {
  const c = new PredictionCache({ bytesMax: 4096 });
  const out = 'o'.repeat(200); // records of 240 bytes: 17 fit
  for (let i = 0; i < 10; i++) c.put(1, kBytes, bytes(i), out);
  assert.equal(c.lookup(1, kBytes, bytes(0)), CacheResult.Hit); // 0 is visited, 1 is not
  for (let i = 10; i < 24; i++) c.put(1, kBytes, bytes(i), out);
  assert.equal(c.get(1, kBytes, bytes(0)), out, 'the visited entry moved to the head instead of being dropped');
  assert.equal(c.get(1, kBytes, bytes(1)), undefined);
  // Reinsertion clears the mark: without another hit, it is evicted on the next pass.
  for (let i = 24; i < 50; i++) c.put(1, kBytes, bytes(i), out);
  assert.equal(c.get(1, kBytes, bytes(0)), undefined);
});

test('bounded in entries: many tiny records keep the index at most half full and every key findable', () => {
  const c = new PredictionCache({ bytesMax: 4096 }); // 64 entries at most
  for (let i = 0; i < 1000; i++) c.put(1, kBytes, bytes(i & 255, i >> 8), String(i));
  const s = c.stats();
  assert.ok(s.entryCount <= 64, String(s.entryCount));
  for (let i = 1000 - s.entryCount; i < 1000; i++) assert.equal(c.get(1, kBytes, bytes(i & 255, i >> 8)), String(i));
});

test('invalidateModel drops that model only, and a pending result from before is not cached', () => {
  const c = new PredictionCache();
  c.put(1, kBytes, bytes(1), 'a');
  c.put(2, kBytes, bytes(1), 'b');
  const handle = own(c, 1, bytes(2));
  let waited: string | undefined;
  assert.equal(c.lookup(1, kBytes, bytes(2)), CacheResult.Attached);
  c.attach(c.handle, (o) => {
    waited = o;
  });
  c.invalidateModel(1);
  assert.equal(c.get(1, kBytes, bytes(1)), undefined);
  assert.equal(c.get(2, kBytes, bytes(1)), 'b');
  // A query after the redeploy does not attach to the old pending entry.
  const fresh = own(c, 1, bytes(2));
  c.settle(handle, 'old');
  assert.equal(waited, 'old'); // the old waiter still gets its answer
  assert.equal(c.get(1, kBytes, bytes(2)), undefined); // but the old output is not cached
  c.settle(fresh, 'new');
  assert.equal(c.get(1, kBytes, bytes(2)), 'new');
  assert.equal(c.stats().pendingCount, 0);
});

test('a pending entry evicted before it settles still settles its waiters, uncached', () => {
  const c = new PredictionCache({ bytesMax: 4096 });
  const handle = own(c, 1, bytes(99));
  let waited: string | undefined;
  assert.equal(c.lookup(1, kBytes, bytes(99)), CacheResult.Attached);
  c.attach(c.handle, (o) => {
    waited = o;
  });
  for (let i = 0; i < 40; i++) c.put(1, kBytes, bytes(i), 'z'.repeat(200));
  assert.equal(c.lookup(1, kBytes, bytes(99)), CacheResult.Owner, 'evicted: a new query owns it again');
  c.settle(handle, 'late');
  assert.equal(waited, 'late');
  assert.equal(c.stats().pendingCount, 1); // the new owner's
});

test('caching can be turned off per model; large inputs bypass', () => {
  const c = new PredictionCache({ inputBytesMax: 8 });
  c.put(1, kBytes, bytes(1), 'a');
  c.setModelEnabled(1, false);
  assert.equal(c.get(1, kBytes, bytes(1)), undefined);
  assert.equal(c.lookup(1, kBytes, bytes(1)), CacheResult.Bypass);
  c.setModelEnabled(1, true);
  assert.equal(c.lookup(1, kBytes, bytes(1)), CacheResult.Owner);
  assert.equal(c.lookup(1, kBytes, new Uint8Array(9)), CacheResult.Bypass);
  assert.equal(c.stats().bypassCount, 2);
  assert.throws(() => new PredictionCache({ bytesMax: 100 }), /cache.bytesMax/);
});

test('a key too large for a record bypasses the cache instead of failing the query', () => {
  // 64 KiB keys are admitted by default, but a 128 KiB log cannot hold a record of one.
  const c = new PredictionCache({ bytesMax: 128 * 1024 });
  const big = new Uint8Array(64 * 1024);
  assert.equal(c.lookup(1, kBytes, big), CacheResult.Bypass);
  const fits = new Uint8Array(32 * 1024 - 64);
  assert.equal(c.lookup(1, kBytes, fits), CacheResult.Owner);
  c.settle(c.handle, 'ok');
  assert.equal(c.get(1, kBytes, fits), 'ok');
});

test('forgetModel drops the entries and the settings of a model id that is gone', () => {
  const c = new PredictionCache();
  c.put(1, kBytes, bytes(1), 'a');
  c.setModelEnabled(2, false);
  c.forgetModel(1);
  c.forgetModel(2);
  assert.equal(c.get(1, kBytes, bytes(1)), undefined);
  assert.equal(c.lookup(2, kBytes, bytes(1)), CacheResult.Owner, 'a forgotten id is no longer marked off');
});

test('seeded model check: every hit returns the last output settled for exactly that key', () => {
  const prng = createPrng(2026);
  const c = new PredictionCache({ bytesMax: 16 * 1024 });
  const truth = new Map<string, string>();
  const owners = new Map<string, number>(); // key → handle of its outstanding owner
  const keyOf = (model: number, key: Uint8Array): string => `${model}/${Buffer.from(key).toString('hex')}`;
  let hits = 0;
  for (let step = 0; step < 40_000; step++) {
    const model = 1 + prng.nextInt(3);
    const key = Uint8Array.from({ length: prng.nextInt(12) }, () => prng.nextInt(4)); // few keys: many repeats
    const id = keyOf(model, key);
    const r = c.lookup(model, kBytes, key);
    if (r === CacheResult.Hit) {
      hits++;
      assert.equal(c.hitOutput, truth.get(id), `step ${step}: hit for ${id}`);
    } else if (r === CacheResult.Attached) {
      assert.equal(c.handle, owners.get(id), `step ${step}: attached to ${id}'s owner`);
    } else {
      assert.equal(r, CacheResult.Owner);
      owners.set(id, c.handle);
    }
    // Settle some outstanding owners, with outputs of varied length (some fail).
    if (prng.next() < 0.5 && owners.size > 0) {
      const [settleId, handle] = [...owners][prng.nextInt(owners.size)]!;
      owners.delete(settleId);
      const fail = prng.next() < 0.1;
      const output = fail ? undefined : `${step}:${'v'.repeat(prng.nextInt(300))}`;
      c.settle(handle, output);
      if (output !== undefined) truth.set(settleId, output);
      else truth.delete(settleId);
    }
    if (prng.next() < 0.001) {
      const m = 1 + prng.nextInt(3);
      c.invalidateModel(m);
      for (const id2 of [...truth.keys()]) if (id2.startsWith(`${m}/`)) truth.delete(id2);
      for (const id2 of [...owners.keys()]) if (id2.startsWith(`${m}/`)) owners.delete(id2);
    }
    assert.ok(c.stats().bytes <= 16 * 1024);
  }
  assert.ok(hits > 1000, `hits ${hits}`);
  const s = c.stats();
  assert.ok(s.evictedCount > 0 && s.entryCount > 0, JSON.stringify(s));
});
