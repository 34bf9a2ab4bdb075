// ModelScheduler with priorities, under a simulated clock: a more urgent query goes into a batch before
// less urgent ones that wait (even with earlier deadlines), equal priorities keep EDF, less urgent queries
// fill a batch only where it still meets their deadlines, expiry and the wake timer see every level,
// backlog shedding counts only what goes first, re-queued queries keep their priority, and nothing
// protects less urgent queries from waiting until their deadline under sustained urgent load.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelScheduler, type QueuedItem, type SchedulerHooks } from '../../src/batching/model_scheduler.js';
import type { SchedulerOptions } from '../../src/batching/scheduler_options.js';
import { SimClock } from '../../sim/sim_clock.js';

function harness(options: Partial<SchedulerOptions>) {
  const clock = new SimClock(1000);
  const sent: { batchId: number; tokens: number[]; predictedUs: number }[] = [];
  const expired: { token: number; reason: string; atMs: number }[] = [];
  const rejected: { token: number; reason: string }[] = [];
  const hooks: SchedulerHooks<string> = {
    sendBatch: (_replicaId, batchId, items, predictedUs) => sent.push({ batchId, tokens: items.map((i) => i.token), predictedUs }),
    expire: (item, reason) => expired.push({ token: item.token, reason, atMs: clock.nowMs() }),
    reject: (item, reason) => rejected.push({ token: item.token, reason }),
  };
  // No safety margin: predictions are the fitted line, so the arithmetic in the tests is exact.
  const s = new ModelScheduler<string>({ latencyModel: { marginSigmaCount: 0 }, ...options }, clock, hooks);
  let token = 0;
  const enqueue = (sloMs: number, priority?: number): number => {
    token++;
    s.enqueue({ token, deadlineMs: clock.nowMs() + sloMs, priority, payload: `q${token}` });
    return token;
  };
  /** Answer batch `index` of `sent` after `latencyMs`; returns its tokens in send order. */
  const answer = (index: number, latencyMs: number): number[] => {
    clock.advanceBy(latencyMs);
    return (s.onBatchDone(sent[index]!.batchId) ?? []).map((i: QueuedItem<string>) => i.token);
  };
  return { clock, s, sent, expired, rejected, enqueue, answer };
}

const tokensOf = (h: ReturnType<typeof harness>): number[][] => h.sent.map((b) => b.tokens);

/** One replica whose latency model has learnt t(n) = `perQueryMs` * n (one sample at n = 1). */
function taught(options: Partial<SchedulerOptions>, perQueryMs: number) {
  const h = harness(options);
  h.s.addReplica(1);
  h.enqueue(1000);
  h.answer(0, perQueryMs);
  return h;
}

test('a more urgent query waiting is batched before less urgent ones, even ones due earlier', () => {
  const h = harness({ batchSize: 2 });
  h.s.addReplica(1);
  h.enqueue(1000); // 1: occupies the replica
  h.enqueue(50); // 2: normal
  h.enqueue(60); // 3: normal
  h.enqueue(500, 3); // 4: urgent, due last
  h.enqueue(400, 3); // 5: urgent
  h.answer(0, 2);
  assert.deepEqual(tokensOf(h), [[1], [5, 4]]);
  h.answer(1, 2);
  assert.deepEqual(tokensOf(h)[2], [2, 3]);
  assert.deepEqual(h.expired, []);
});

test('equal priorities keep earliest-deadline-first, at any level', () => {
  const h = harness({ batchSize: 4 });
  h.s.addReplica(7);
  h.enqueue(100, 9);
  for (const sloMs of [50, 30, 80, 40, 90]) h.enqueue(sloMs, 9);
  h.answer(0, 2);
  assert.deepEqual(tokensOf(h), [[1], [3, 5, 2, 4]]);
  h.answer(1, 2);
  assert.deepEqual(tokensOf(h)[2], [6]);
});

test('a batch takes the urgent queries and fills up with less urgent ones, level by level', () => {
  const h = harness({ batchSize: 4 });
  h.s.addReplica(1);
  h.enqueue(1000);
  h.enqueue(300, 0); // 2
  h.enqueue(300, 5); // 3
  h.enqueue(300, 2); // 4
  h.enqueue(200, 0); // 5
  h.enqueue(300, 2); // 6
  h.answer(0, 1);
  assert.deepEqual(tokensOf(h)[1], [3, 4, 6, 5]);
  h.answer(1, 1);
  assert.deepEqual(tokensOf(h)[2], [2]);
});

test('a more urgent deadline limits how many less urgent queries join', () => {
  const h = taught({ batchSize: 4 }, 10); // t(n) = 10 ms * n
  h.enqueue(1000); // 2: occupies the replica
  h.enqueue(35, 1); // 3: urgent, 25 ms left when the replica frees: a batch of 2 fits it, 3 does not
  h.enqueue(1000); // 4: normal
  h.enqueue(1000); // 5: normal
  h.answer(1, 10);
  assert.deepEqual(tokensOf(h)[2], [3, 4]);
  assert.equal(h.sent[2]!.predictedUs, 20_000);
  h.answer(2, 20);
  assert.deepEqual(tokensOf(h)[3], [5]);
  assert.deepEqual(h.expired, []);
});

test('a less urgent query the batch cannot serve is expired as at the head level, and the next one joins', () => {
  const h = taught({ batchSize: 4 }, 10);
  h.enqueue(1000); // 2: occupies the replica
  h.enqueue(1000, 1); // 3: urgent
  h.enqueue(25); // 4: normal, 15 ms left when the replica frees: not with 3 and 5 (30 ms), waited 40% of its SLO
  h.enqueue(1000); // 5: normal
  h.answer(1, 10);
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason, e.atMs]),
    [[4, 'deadline', h.clock.nowMs()]],
  );
  assert.deepEqual(tokensOf(h)[2], [3, 5]);
});

test('a fresh less urgent query that does not fit is not dropped: the fill stops short of it', () => {
  const h = taught({ batchSize: 4 }, 10);
  h.enqueue(1000); // 2: occupies the replica
  h.enqueue(1000, 1); // 3: urgent
  h.clock.advanceBy(10);
  h.enqueue(15); // 4: normal, just arrived, 15 ms left: a batch of 2 or more misses it
  h.enqueue(1000); // 5: normal
  h.answer(1, 0);
  assert.deepEqual(tokensOf(h)[2], [3]);
  assert.equal(h.expired.length, 0, 'not expired by the fill');
  h.answer(2, 10); // 5 ms left for 4: no batch can serve it any more
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason]),
    [[4, 'deadline']],
  );
  assert.deepEqual(tokensOf(h)[3], [5]);
});

test('expiry and the wake timer watch every level: a less urgent query expires at its own deadline', () => {
  const h = harness({ batchSize: 1 });
  h.s.addReplica(1);
  h.enqueue(100); // 1: occupies the replica
  h.enqueue(100, 4); // 2: urgent, due later
  h.enqueue(5); // 3: normal, due first
  h.clock.advanceBy(5.1);
  assert.deepEqual(h.expired, [{ token: 3, reason: 'deadline', atMs: 1005 }]);
  h.answer(0, 1);
  assert.deepEqual(tokensOf(h), [[1], [2]]);
});

test('backlog shedding counts only the queries at the same priority or above', () => {
  const h = taught({ batchSize: 1 }, 10); // 100 queries per second
  h.enqueue(1000); // in flight
  for (let i = 0; i < 5; i++) h.enqueue(60); // 5 normal queries queued (the 5th done at 60 ms)
  h.enqueue(35, 2); // urgent: nothing goes before it, so it is admitted
  assert.deepEqual(h.rejected, []);
  h.enqueue(65); // normal: behind 6 queries (done at 80 ms), it is shed
  assert.deepEqual(h.rejected, [{ token: 9, reason: 'deadline_unreachable' }]);
  h.answer(1, 10);
  assert.deepEqual(tokensOf(h)[2], [8]);
});

test('queries of a removed replica go back to the queue with their priority', () => {
  const h = harness({ batchSize: 2 });
  h.s.addReplica(1);
  h.enqueue(1000, 6); // 1: urgent, in flight on replica 1
  h.s.addReplica(2);
  h.enqueue(1000); // 2: normal, in flight on replica 2
  h.enqueue(1000); // 3: normal, queued
  h.s.removeReplica(1);
  // Replica 2 is busy; 1 waits again, ahead of 3.
  h.answer(1, 1);
  assert.deepEqual(tokensOf(h)[2], [1, 3]);
});

test('cancel finds a queued query at any level', () => {
  const h = harness({ batchSize: 4 });
  h.s.addReplica(1);
  h.enqueue(1000);
  h.enqueue(1000, 3); // 2
  h.enqueue(1000); // 3
  assert.equal(h.s.cancel(3), true);
  assert.equal(h.s.cancel(2), true);
  assert.equal(h.s.cancel(2), false);
  assert.equal(h.s.stats().queuedCount, 0);
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason]),
    [
      [3, 'cancelled'],
      [2, 'cancelled'],
    ],
  );
});

test('nothing is reserved for less urgent queries: under sustained urgent load they wait until their deadline', () => {
  const h = taught({ batchSize: 1 }, 10);
  h.enqueue(1000, 1); // 2: in flight
  const normal = h.enqueue(100); // 3
  for (let i = 0; i < 12; i++) {
    h.enqueue(1000, 1); // one urgent query per batch keeps the replica busy
    h.answer(h.sent.length - 1, 10);
  }
  assert.ok(!h.sent.some((b) => b.tokens.includes(normal)), 'never sent');
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason]),
    [[normal, 'deadline']],
  );
});

test('a priority outside 0..15 is refused loudly (a corrupt record)', () => {
  const h = harness({ batchSize: 1 });
  h.s.addReplica(1);
  h.enqueue(1000); // occupies the replica
  assert.throws(() => h.enqueue(1000, 16), /priority 16/);
});
