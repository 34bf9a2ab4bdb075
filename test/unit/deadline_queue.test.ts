// DeadlineQueue: EDF order with FIFO ties, cancel by token, and a model-based fuzz against a sorted array
// (seeded; a failure prints the seed and step).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineQueue } from '../../src/lib/deadline_queue.js';
import { createPrng } from '../../src/lib/prng.js';

interface Item {
  token: number;
  deadlineMs: number;
}

test('pops in deadline order, ties in insertion order', () => {
  const q = new DeadlineQueue<Item>();
  q.push({ token: 1, deadlineMs: 30 });
  q.push({ token: 2, deadlineMs: 10 });
  q.push({ token: 3, deadlineMs: 20 });
  q.push({ token: 4, deadlineMs: 10 });
  assert.equal(q.size, 4);
  assert.equal(q.peek()?.token, 2);
  assert.deepEqual(
    [q.pop(), q.pop(), q.pop(), q.pop()].map((i) => i?.token),
    [2, 4, 3, 1],
  );
  assert.equal(q.pop(), undefined);
  assert.equal(q.size, 0);
});

test('peekAt walks pop order without popping', () => {
  const q = new DeadlineQueue<Item>();
  for (const [token, d] of [
    [1, 5],
    [2, 3],
    [3, 9],
    [4, 1],
    [5, 3],
  ] as const)
    q.push({ token, deadlineMs: d });
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((k) => q.peekAt(k)?.token),
    [4, 2, 5, 1, 3],
  );
  assert.equal(q.size, 5);
  assert.equal(q.peekAt(5), undefined);
});

test('remove by token keeps the heap valid; unknown tokens and duplicates', () => {
  const q = new DeadlineQueue<Item>();
  for (let t = 1; t <= 7; t++) q.push({ token: t, deadlineMs: 100 - t });
  assert.equal(q.remove(4)?.token, 4);
  assert.equal(q.remove(4), undefined);
  assert.equal(q.has(4), false);
  assert.equal(q.has(5), true);
  assert.throws(() => q.push({ token: 5, deadlineMs: 1 }), /already queued/);
  assert.deepEqual(
    Array.from({ length: 6 }, () => q.pop()!.token),
    [7, 6, 5, 3, 2, 1],
  );
});

for (const seed of [1, 2, 3, 42, 1234]) {
  test(`fuzz against a sorted array model (seed ${seed})`, () => {
    const prng = createPrng(seed);
    const q = new DeadlineQueue<Item>();
    let model: { item: Item; seq: number }[] = [];
    let seq = 0;
    let nextToken = 1;
    for (let step = 0; step < 5000; step++) {
      const op = prng.nextInt(10);
      const where = `seed ${seed} step ${step}`;
      if (op < 5) {
        // Small deadline range forces many ties.
        const item = { token: nextToken++, deadlineMs: prng.nextInt(50) + (prng.next() < 0.5 ? 0.5 : 0) };
        q.push(item);
        model.push({ item, seq: seq++ });
        model.sort((a, b) => a.item.deadlineMs - b.item.deadlineMs || a.seq - b.seq);
      } else if (op < 8) {
        const got = q.pop();
        const want = model.shift();
        assert.equal(got?.token, want?.item.token, where);
      } else {
        // Cancel a random live token, or a dead one.
        const token = model.length > 0 && prng.next() < 0.8 ? model[prng.nextInt(model.length)]!.item.token : nextToken + 5;
        const got = q.remove(token);
        const index = model.findIndex((e) => e.item.token === token);
        if (index >= 0) model = model.filter((_, i) => i !== index);
        assert.equal(got?.token, index >= 0 ? token : undefined, where);
      }
      if (model.length > 0 && step % 7 === 0) {
        const k = prng.nextInt(model.length);
        assert.equal(q.peekAt(k)?.token, model[k]!.item.token, `${where} peekAt(${k})`);
      }
      assert.equal(q.peekAt(model.length), undefined);
      assert.equal(q.size, model.length, where);
      assert.equal(q.peek()?.token, model[0]?.item.token, where);
    }
  });
}
