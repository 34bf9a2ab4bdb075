// Query priorities (query/priority.ts): the core's range, and Triton's `priority` parameter mapped
// onto it (1 is Triton's highest; 0 and values beyond its 16 levels are the default, normal).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kPriorityMax, kPriorityNormal } from '../../src/batching/protocol.js';
import { isQueryPriority, priorityFromTriton } from '../../src/query/priority.js';

test('core priorities are the integers 0..15', () => {
  assert.deepEqual([kPriorityNormal, kPriorityMax], [0, 15]);
  for (const p of [0, 1, 7, 15]) assert.equal(isQueryPriority(p), true, `${p}`);
  for (const p of [-1, 16, 0.5, Number.NaN, Infinity]) assert.equal(isQueryPriority(p), false, `${p}`);
});

test("Triton's priority: 1 is the most urgent, larger is less urgent, 0 and beyond 16 are normal", () => {
  assert.deepEqual([0, 1, 2, 8, 15, 16, 17, 2 ** 40].map(priorityFromTriton), [0, 15, 14, 8, 1, 0, 0, 0]);
  for (let t = 1; t < 16; t++) assert.ok(priorityFromTriton(t) > priorityFromTriton(t + 1), `Triton ${t} is more urgent than ${t + 1}`);
  for (let t = 0; t <= 20; t++) assert.equal(isQueryPriority(priorityFromTriton(t)), true);
});
