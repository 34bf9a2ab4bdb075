// PriorityDeadlineQueue: priority-then-EDF order (FIFO ties), one level behaving exactly as a
// DeadlineQueue, the earliest deadline over all levels, counts by level, and a model-based fuzz
// against a sorted array (seeded; a failure prints the seed and step).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PriorityDeadlineQueue } from '../../src/batching/priority_deadline_queue.js';
import { kPriorityMax } from '../../src/batching/protocol.js';
import { DeadlineQueue } from '../../src/lib/deadline_queue.js';
import { createPrng } from '../../src/lib/prng.js';

interface Item {
  token: number;
  deadlineMs: number;
  priority: number;
}

test('more urgent levels pop first, earliest deadline first within a level', () => {
  const q = new PriorityDeadlineQueue<Item>();
  q.push({ token: 1, deadlineMs: 10, priority: 0 });
  q.push({ token: 2, deadlineMs: 50, priority: 3 });
  q.push({ token: 3, deadlineMs: 5, priority: 0 });
  q.push({ token: 4, deadlineMs: 20, priority: 3 });
  q.push({ token: 5, deadlineMs: 1, priority: 1 });
  assert.equal(q.size, 5);
  assert.equal(q.peek()?.token, 4);
  assert.equal(q.earliestDeadlineMs(), 1);
  assert.deepEqual([q.levelBelow(kPriorityMax + 1), q.levelBelow(3), q.levelBelow(1), q.levelBelow(0)], [3, 1, 0, -1]);
  assert.deepEqual([q.countAtOrAbove(0), q.countAtOrAbove(1), q.countAtOrAbove(2), q.countAtOrAbove(4)], [5, 3, 2, 0]);
  assert.deepEqual([q.levelSize(0), q.levelHead(0)?.token, q.levelSize(7), q.levelHead(7)], [2, 3, 0, undefined]);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((k) => q.peekAt(k)?.token),
    [4, 2, 5, 3, 1, undefined],
  );
  assert.deepEqual(
    Array.from({ length: 5 }, () => q.pop()!.token),
    [4, 2, 5, 3, 1],
  );
  assert.equal(q.pop(), undefined);
  assert.equal(q.earliestDeadlineMs(), Infinity);
});

test('popEarliest takes the earliest deadline of any level (a tie goes to the more urgent)', () => {
  const q = new PriorityDeadlineQueue<Item>();
  q.push({ token: 1, deadlineMs: 7, priority: 0 });
  q.push({ token: 2, deadlineMs: 7, priority: 2 });
  q.push({ token: 3, deadlineMs: 3, priority: 0 });
  assert.deepEqual(
    Array.from({ length: 3 }, () => q.popEarliest()!.token),
    [3, 2, 1],
  );
  assert.equal(q.popEarliest(), undefined);
});

test('a token is queued once across levels; priorities outside 0..kPriorityMax are refused', () => {
  const q = new PriorityDeadlineQueue<Item>();
  q.push({ token: 1, deadlineMs: 1, priority: 0 });
  assert.throws(() => q.push({ token: 1, deadlineMs: 1, priority: 4 }), /already queued/);
  assert.throws(() => q.push({ token: 1, deadlineMs: 1, priority: 0 }), /already queued/);
  for (const priority of [-1, kPriorityMax + 1, 1.5, Number.NaN]) {
    assert.throws(() => q.push({ token: 9, deadlineMs: 1, priority }), /priority/);
  }
  assert.equal(q.size, 1);
  assert.equal(q.has(1), true);
  assert.equal(q.remove(1)?.token, 1);
  assert.equal(q.has(1), false);
  assert.equal(q.remove(1), undefined);
});

test('with one priority it pops exactly as a DeadlineQueue', () => {
  const prng = createPrng(5);
  const q = new PriorityDeadlineQueue<Item>();
  const plain = new DeadlineQueue<Item>();
  for (let token = 1; token <= 500; token++) {
    const item = { token, deadlineMs: prng.nextInt(40), priority: 6 };
    q.push(item);
    plain.push(item);
    if (prng.next() < 0.3) assert.equal(q.pop(), plain.pop());
  }
  while (plain.size > 0) assert.equal(q.pop(), plain.pop());
  assert.equal(q.size, 0);
});

for (const seed of [1, 2, 3, 42, 1234]) {
  test(`fuzz against a sorted array model (seed ${seed})`, () => {
    const prng = createPrng(seed);
    const q = new PriorityDeadlineQueue<Item>();
    let model: { item: Item; seq: number }[] = [];
    const order = (a: { item: Item; seq: number }, b: { item: Item; seq: number }): number =>
      b.item.priority - a.item.priority || a.item.deadlineMs - b.item.deadlineMs || a.seq - b.seq;
    let seq = 0;
    let nextToken = 1;
    for (let step = 0; step < 5000; step++) {
      const op = prng.nextInt(12);
      const where = `seed ${seed} step ${step}`;
      if (op < 6) {
        // Few levels and a small deadline range force ties.
        const item = { token: nextToken++, deadlineMs: prng.nextInt(50), priority: prng.nextInt(4) * 5 };
        q.push(item);
        model.push({ item, seq: seq++ });
        model.sort(order);
      } else if (op < 8) {
        assert.equal(q.pop()?.token, model.shift()?.item.token, where);
      } else if (op < 9) {
        // Earliest deadline of all; ties: the more urgent, then the first pushed.
        const want = [...model].sort((a, b) => a.item.deadlineMs - b.item.deadlineMs || order(a, b))[0];
        assert.equal(q.popEarliest()?.token, want?.item.token, where);
        model = model.filter((e) => e !== want);
      } else {
        const token = model.length > 0 && prng.next() < 0.8 ? model[prng.nextInt(model.length)]!.item.token : nextToken + 5;
        const index = model.findIndex((e) => e.item.token === token);
        assert.equal(q.remove(token)?.token, index >= 0 ? token : undefined, where);
        if (index >= 0) model = model.filter((_, i) => i !== index);
      }
      if (model.length > 0 && step % 7 === 0) {
        const k = prng.nextInt(model.length);
        assert.equal(q.peekAt(k)?.token, model[k]!.item.token, `${where} peekAt(${k})`);
        const p = prng.nextInt(kPriorityMax + 1);
        assert.equal(q.countAtOrAbove(p), model.filter((e) => e.item.priority >= p).length, `${where} countAtOrAbove(${p})`);
      }
      assert.equal(q.size, model.length, where);
      assert.equal(q.peek()?.token, model[0]?.item.token, where);
      assert.equal(q.earliestDeadlineMs(), Math.min(...model.map((e) => e.item.deadlineMs)), where);
    }
  });
}
