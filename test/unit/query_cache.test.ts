// QueryCache: the query core's encoding of inputs into prediction-cache keys (the exact bytes a
// worker would see, with the input type), coalescing of identical queries, and the per-model
// switches. The off-heap cache itself is tested in prediction_cache.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputTypeCode } from '../../src/input_types.js';
import { CacheResult, QueryCache } from '../../src/query/query_cache.js';
import type { QueryInput } from '../../src/query/query_processor.js';
import { kPlacementA, kPlacementB } from '../helpers/fake_batching.js';

/** Look `input` up; if it misses as the owner, settle it with `output`. Returns the first result. */
function fill(cache: QueryCache, type: InputTypeCode, input: QueryInput, output: string, placement = kPlacementA): CacheResult {
  const found = cache.lookup(placement, type, input);
  if (found === CacheResult.Owner) cache.settle(cache.handle, output);
  return found;
}

test('the cache off: every lookup bypasses, and is counted', () => {
  const cache = new QueryCache(0);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Doubles, [1]), CacheResult.Bypass);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Strings, 'x'), CacheResult.Bypass);
  assert.equal(cache.stats().bypassCount, 2);
  assert.equal(cache.stats().entryCount, 0);
});

test('a settled output is a hit for the same model, type and input, and only for them', () => {
  const cache = new QueryCache(1 << 16);
  assert.equal(fill(cache, InputTypeCode.Doubles, [1.5, 2], '"d"'), CacheResult.Owner);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Doubles, [1.5, 2]), CacheResult.Hit);
  assert.equal(cache.hitOutput, '"d"');
  // The same numbers as another type are other bytes (or the same bytes with another type): misses.
  assert.equal(fill(cache, InputTypeCode.Floats, [1.5, 2], '"f"'), CacheResult.Owner);
  assert.equal(fill(cache, InputTypeCode.Integers, [1, 2], '"i"'), CacheResult.Owner);
  assert.equal(fill(cache, InputTypeCode.Doubles, [1.5, 2], '"b"', kPlacementB), CacheResult.Owner);
  assert.equal(fill(cache, InputTypeCode.Doubles, [1.5, 2.5], '"d2"'), CacheResult.Owner);
  assert.equal(fill(cache, InputTypeCode.Strings, 'ab', '"s"'), CacheResult.Owner);
  assert.equal(fill(cache, InputTypeCode.Bytes, Buffer.from('ab'), '"y"'), CacheResult.Owner);
  for (const [type, input, out] of [
    [InputTypeCode.Floats, [1.5, 2], '"f"'],
    [InputTypeCode.Integers, [1, 2], '"i"'],
    [InputTypeCode.Strings, 'ab', '"s"'],
    [InputTypeCode.Bytes, Buffer.from('ab'), '"y"'],
  ] as const) {
    assert.equal(cache.lookup(kPlacementA, type, input as number[] | string | Buffer), CacheResult.Hit);
    assert.equal(cache.hitOutput, out);
  }
});

test('keys longer than the scratch buffer, then short ones again, still match byte for byte', () => {
  const cache = new QueryCache(1 << 20);
  const long = Array.from({ length: 3000 }, (_, i) => i * 0.5);
  fill(cache, InputTypeCode.Doubles, [7, 8], '"short"');
  fill(cache, InputTypeCode.Doubles, long, '"long"');
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Doubles, long), CacheResult.Hit);
  assert.equal(cache.hitOutput, '"long"');
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Doubles, [7, 8]), CacheResult.Hit);
  assert.equal(cache.hitOutput, '"short"');
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Doubles, [...long.slice(0, -1), -1]), CacheResult.Owner);
  const wide = 'é'.repeat(5000); // 10 000 utf8 bytes from 5000 UTF-16 units
  fill(cache, InputTypeCode.Strings, wide, '"wide"');
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Strings, wide), CacheResult.Hit);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Strings, `${'é'.repeat(4999)}e`), CacheResult.Owner);
});

test('identical queries in flight coalesce: waiters get the output, or undefined when the owner fails', () => {
  const cache = new QueryCache(1 << 16);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Strings, 'q'), CacheResult.Owner);
  const owner = cache.handle;
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Strings, 'q'), CacheResult.Attached);
  const got: (string | undefined)[] = [];
  cache.attach(cache.handle, (out) => got.push(out));
  cache.settle(owner, undefined);
  assert.deepEqual([...got], [undefined]);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Strings, 'q'), CacheResult.Owner, 'a failure is not cached');
  const second = cache.handle;
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Strings, 'q'), CacheResult.Attached);
  cache.attach(cache.handle, (out) => got.push(out));
  cache.settle(second, '"ok"');
  assert.deepEqual(got, [undefined, '"ok"']);
  assert.equal(cache.stats().pendingCount, 0);
  assert.equal(cache.stats().coalescedCount, 2);
});

test('inputs too large to key bypass the cache; a model can be switched off and forgotten', () => {
  const cache = new QueryCache(1 << 20);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Bytes, Buffer.alloc(1 << 20)), CacheResult.Bypass);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Strings, 'é'.repeat(1 << 18)), CacheResult.Bypass);
  fill(cache, InputTypeCode.Integers, [1], '"1"');
  cache.setEnabled(kPlacementA, false);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Integers, [1]), CacheResult.Bypass);
  cache.setEnabled(kPlacementA, true);
  assert.equal(fill(cache, InputTypeCode.Integers, [1], '"1"'), CacheResult.Owner, 'switching off dropped the entries');
  cache.forgetModel(kPlacementA);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Integers, [1]), CacheResult.Owner);
});

test('a packed input (typed array) keys as the same values as number[]: either form hits the other', () => {
  const cache = new QueryCache(1 << 20);
  const values = Array.from({ length: 1000 }, (_, i) => (i - 500) / 3);
  const ints = Array.from({ length: 1000 }, (_, i) => i * 7 - 3000);
  assert.equal(fill(cache, InputTypeCode.Doubles, values, '"d"'), CacheResult.Owner);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Doubles, Float64Array.from(values)), CacheResult.Hit);
  assert.equal(cache.hitOutput, '"d"');
  assert.equal(fill(cache, InputTypeCode.Floats, Float32Array.from(values), '"f"'), CacheResult.Owner);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Floats, values), CacheResult.Hit, 'number[] is written as float32 too');
  assert.equal(cache.hitOutput, '"f"');
  assert.equal(fill(cache, InputTypeCode.Integers, Int32Array.from(ints), '"i"'), CacheResult.Owner);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Integers, ints), CacheResult.Hit);
  // A view into a bigger array keys by its own elements only; one changed element misses.
  const big = new Float64Array(1002);
  big.set(values, 1);
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Doubles, big.subarray(1, 1001)), CacheResult.Hit);
  big[500] = 0.125;
  assert.equal(cache.lookup(kPlacementA, InputTypeCode.Doubles, big.subarray(1, 1001)), CacheResult.Owner);
});
