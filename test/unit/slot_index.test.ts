// SlotIndex: open addressing with backward-shift deletion keeps every present entry reachable from
// its home slot, whatever the order of inserts and removes (seeded, with many colliding hashes).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotIndex } from '../../src/cache/slot_index.js';
import { createPrng } from '../../src/lib/prng.js';

/** The offset stored for (hash, offset) if it can be found by probing from its home, else -1. */
function probe(index: SlotIndex, hash: number, offset: number): number {
  for (let i = index.home(hash); index.offsetAt(i) >= 0; i = index.next(i)) {
    if (index.hashAt(i) === hash && index.offsetAt(i) === offset) return offset;
  }
  return -1;
}

test('seeded churn: every present entry stays reachable, removed ones are gone, the count is exact', () => {
  const prng = createPrng(404);
  const index = new SlotIndex(64);
  const present = new Map<number, number>(); // offset → hash
  let nextOffset = 0;
  for (let step = 0; step < 20_000; step++) {
    if (present.size < 40 && (present.size === 0 || prng.next() < 0.55)) {
      // Hashes from a small range: long probe runs that wrap around the end of the table.
      const hash = (60 + prng.nextInt(12)) >>> 0;
      const offset = nextOffset;
      nextOffset += 8;
      index.insert(hash, offset);
      present.set(offset, hash);
    } else {
      const offsets = [...present.keys()];
      const offset = offsets[prng.nextInt(offsets.length)]!;
      const hash = present.get(offset)!;
      index.remove(hash, offset);
      present.delete(offset);
      assert.equal(probe(index, hash, offset), -1);
    }
    assert.equal(index.count, present.size);
    if (step % 97 === 0) for (const [offset, hash] of present) assert.equal(probe(index, hash, offset), offset, `step ${step}`);
  }
});

test('setOffset repoints an entry; slotOf of a missing entry is an invariant failure', () => {
  const index = new SlotIndex(8);
  index.insert(3, 100);
  index.setOffset(index.slotOf(3, 100), 200);
  assert.equal(probe(index, 3, 200), 200);
  assert.throws(() => index.slotOf(3, 100), /missing from the index/);
  assert.throws(() => new SlotIndex(12), /power of two/);
});
