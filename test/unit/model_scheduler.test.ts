// ModelScheduler edge cases under a simulated clock: no replicas, EDF order, expiry before send, queries a
// batch cannot serve in time, cancel, queue bound and backlog shedding, replica removal (re-queue), in-flight
// timeout, delayed batching bounded by the deadline, failure without retry, re-entrant hooks, close.
// The accounting invariant (each query leaves exactly once) is asserted by the scheduler itself and checked
// over whole runs by the simulator (sim/, test/sim).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelScheduler, type QueuedItem, type SchedulerHooks } from '../../src/batching/model_scheduler.js';
import type { SchedulerOptions } from '../../src/batching/scheduler_options.js';
import { SimClock } from '../../sim/sim_clock.js';

interface Sent {
  replicaId: number;
  batchId: number;
  tokens: number[];
  atMs: number;
}

function harness(options: Partial<SchedulerOptions>, hookOverrides: Partial<SchedulerHooks<string>> = {}) {
  const clock = new SimClock(1000);
  const sent: Sent[] = [];
  const expired: { token: number; reason: string; atMs: number }[] = [];
  const rejected: { token: number; reason: string }[] = [];
  const timedOut: number[] = [];
  const hooks: SchedulerHooks<string> = {
    sendBatch: (replicaId, batchId, items) => {
      sent.push({ replicaId, batchId, tokens: items.map((i) => i.token), atMs: clock.nowMs() });
    },
    expire: (item, reason) => expired.push({ token: item.token, reason, atMs: clock.nowMs() }),
    reject: (item, reason) => rejected.push({ token: item.token, reason }),
    replicaTimedOut: (_replicaId, batchId) => timedOut.push(batchId),
    ...hookOverrides,
  };
  // No safety margin: predictions are the fitted line, so the arithmetic in the tests is exact.
  const s = new ModelScheduler<string>({ latencyModel: { marginSigmaCount: 0 }, ...options }, clock, hooks);
  let token = 0;
  const enqueue = (sloMs: number): number => {
    token++;
    s.enqueue({ token, deadlineMs: clock.nowMs() + sloMs, payload: `q${token}` });
    return token;
  };
  return { clock, s, sent, expired, rejected, timedOut, enqueue };
}

/** Answers a batch after `latencyMs`; returns the delivered tokens. */
function answer(h: ReturnType<typeof harness>, batchId: number, latencyMs: number): number[] | null {
  h.clock.advanceBy(latencyMs);
  const items = h.s.onBatchDone(batchId);
  return items === null ? null : items.map((i: QueuedItem<string>) => i.token);
}

test('no replica: enqueue rejects at once; a past deadline is unreachable', () => {
  const h = harness({});
  h.enqueue(10);
  assert.deepEqual(h.rejected, [{ token: 1, reason: 'no_replica' }]);
  h.s.addReplica(1);
  h.s.enqueue({ token: 99, deadlineMs: h.clock.nowMs(), payload: 'late' });
  assert.deepEqual(h.rejected[1], { token: 99, reason: 'deadline_unreachable' });
  assert.equal(h.sent.length, 0);
});

test('sends at once when a replica is idle, then the queue in deadline order', () => {
  const h = harness({ batchSize: 4 });
  h.s.addReplica(7);
  h.enqueue(100);
  assert.deepEqual(
    h.sent.map((b) => b.tokens),
    [[1]],
  );
  h.enqueue(50);
  h.enqueue(30);
  h.enqueue(80);
  h.enqueue(40);
  h.enqueue(90);
  assert.equal(h.sent.length, 1);
  assert.deepEqual(answer(h, h.sent[0]!.batchId, 2), [1]);
  assert.deepEqual(h.sent[1]!.tokens, [3, 5, 2, 4]);
  assert.equal(h.sent[1]!.replicaId, 7);
  assert.deepEqual(answer(h, h.sent[1]!.batchId, 2), [3, 5, 2, 4]);
  assert.deepEqual(h.sent[2]!.tokens, [6]);
  assert.equal(h.s.onBatchDone(12345), null);
  const st = h.s.stats();
  assert.equal(st.sentQueryCount, 6);
  assert.equal(st.inFlightQueryCount, 1);
  assert.equal(st.replicas[0]!.batchSizeMax, 4);
});

test('a query whose deadline passes while replicas are busy is expired at its deadline, never sent', () => {
  const h = harness({ batchSize: 1 });
  h.s.addReplica(1);
  h.enqueue(100); // occupies the replica
  h.enqueue(5);
  h.clock.advanceBy(4.9);
  assert.equal(h.expired.length, 0);
  h.clock.advanceBy(0.2);
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason]),
    [[2, 'deadline']],
  );
  assert.equal(h.expired[0]!.atMs, 1005);
  answer(h, h.sent[0]!.batchId, 10);
  assert.equal(h.sent.length, 1);
  assert.equal(h.s.stats().queuedCount, 0);
});

test('a query the next batch cannot serve in time is expired instead of sent', () => {
  const h = harness({ batchSize: 1 });
  h.s.addReplica(1);
  h.enqueue(100);
  answer(h, h.sent[0]!.batchId, 10); // the replica takes 10 ms per batch
  h.enqueue(100); // sent at once
  h.enqueue(25); // admitted: the replica should free up in 10 ms and serve it in 10 more
  h.enqueue(200);
  answer(h, h.sent[1]!.batchId, 20); // but that batch is slow: 5 ms left, a batch now predicted at 15 ms
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason]),
    [[3, 'deadline']],
  );
  assert.deepEqual(
    h.sent.map((b) => b.tokens),
    [[1], [2], [4]],
  );
  h.enqueue(8); // 8 ms left, the replica busy for 15 ms: shed at once, not left to expire
  assert.deepEqual(h.rejected, [{ token: 5, reason: 'deadline_unreachable' }]);
});

test('a batch shrinks to fit a query with a tighter SLO than usual when the rest stays feasible', () => {
  const h = harness({ batchSize: 8 });
  h.s.addReplica(1);
  // Teach the model t(n) = 1 ms + 1 ms * n with two sizes.
  h.enqueue(1000);
  for (let i = 0; i < 4; i++) h.enqueue(1000);
  answer(h, h.sent[0]!.batchId, 2);
  assert.equal(h.sent[1]!.tokens.length, 4);
  answer(h, h.sent[1]!.batchId, 5);
  h.enqueue(1000); // token 6 occupies the replica for 2 ms
  for (let i = 0; i < 7; i++) h.enqueue(1000);
  h.enqueue(2 + 8.5); // token 14: 8.5 ms left when the replica frees -> t(8) = 9 ms misses, t(7) = 8 ms fits
  assert.deepEqual(h.rejected, []);
  answer(h, h.sent[2]!.batchId, 2);
  assert.deepEqual(h.sent[3]!.tokens, [14, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(h.expired, []);
});

test('cancel drops a queued query and reports it; unknown tokens return false', () => {
  const h = harness({ batchSize: 2 });
  h.s.addReplica(1);
  h.enqueue(100);
  h.enqueue(100);
  h.enqueue(100);
  assert.equal(h.s.cancel(2), true);
  assert.equal(h.s.cancel(2), false);
  assert.equal(h.s.cancel(1), false); // in flight: cannot be recalled
  answer(h, h.sent[0]!.batchId, 1);
  assert.deepEqual(
    h.sent.map((b) => b.tokens),
    [[1], [3]],
  );
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason]),
    [[2, 'cancelled']],
  );
});

test('queue bound rejects with queue_full; backlog beyond the deadline rejects with deadline_unreachable', () => {
  const h = harness({ batchSize: 1, queueBound: 2 });
  h.s.addReplica(1);
  h.enqueue(1000); // in flight, not queued
  h.enqueue(1000);
  h.enqueue(1000);
  h.enqueue(1000);
  assert.deepEqual(h.rejected, [{ token: 4, reason: 'queue_full' }]);

  const g = harness({ batchSize: 1 });
  g.s.addReplica(1);
  g.enqueue(1000);
  answer(g, g.sent[0]!.batchId, 10); // 10 ms per query: 100 queries per second
  g.enqueue(1000); // in flight
  for (let i = 0; i < 5; i++) g.enqueue(60); // each fits: the 5th is done at 10 + 4 x 10 + 10 = 60 ms
  g.enqueue(65); // behind them: the replica frees at 10 ms, 5 batches ahead and its own end at 70 ms
  assert.deepEqual(g.rejected, [{ token: 8, reason: 'deadline_unreachable' }]);
  g.enqueue(200);
  g.enqueue(30); // due first (EDF): only the batch in flight is ahead of it, done at 20 ms
  assert.equal(g.rejected.length, 1);
});

test('no backlog, no shedding: an idle replica takes a query even after erratic latencies inflated the estimate', () => {
  // The production margin (3 sigma) on a history of 1 ms, 10 ms and 900 ms batches makes the
  // throughput estimate tiny; with nothing queued and the replica free, that must not shed.
  const h = harness({ latencyModel: { marginSigmaCount: 3 } });
  h.s.addReplica(1);
  for (const latencyMs of [1, 10, 900]) {
    h.enqueue(5000);
    answer(h, h.sent.at(-1)!.batchId, latencyMs);
  }
  h.enqueue(3000);
  assert.deepEqual(h.rejected, []);
  assert.equal(h.sent.length, 4, 'sent to the idle replica');
});

test('never stuck: after a slow batch makes even one query look infeasible, a probe is sent and the model recovers', () => {
  const h = harness({ batchSize: 64 });
  h.s.addReplica(1);
  h.enqueue(20);
  answer(h, h.sent[0]!.batchId, 25); // one slow batch: 25 ms, over the 20 ms SLO
  // The only sample says any batch takes at least 25 ms: without a probe nothing is ever sent.
  h.enqueue(20);
  assert.equal(h.sent.length, 2, 'a fresh query is sent alone as a probe');
  assert.deepEqual(h.sent[1]!.tokens, [2]);
  answer(h, h.sent[1]!.batchId, 1); // the replica is fast again
  for (let i = 0; i < 10; i++) h.enqueue(20);
  assert.equal(h.sent.length, 3, 'with a fresh sample, queries are sent again');
  answer(h, h.sent[2]!.batchId, 1);
  // While the estimate still rests on the slow batch (a batch of one predicted at ~13 ms), queries
  // behind the busy replica are shed at once (answered, not left to expire); each fast batch
  // corrects the estimate, and batches form again within a few rounds.
  for (let round = 0; round < 5 && h.sent.at(-1)!.tokens.length < 2; round++) {
    for (let i = 0; i < 10; i++) h.enqueue(20);
    answer(h, h.sent.at(-1)!.batchId, 1);
  }
  assert.ok(h.sent.at(-1)!.tokens.length >= 2, 'and batches form again');
  assert.deepEqual(h.expired, [], 'nothing left to expire');
  assert.equal(h.s.stats().probeCount, 1);
  // Probes are rate-limited to one per SLO-length interval per replica: the simulator (sim/) checks that invariant.
});

test('a load ramp after batches of one grows the batch instead of shedding', () => {
  // Every sample so far is a batch of one taking 8 ms: the conservative fit would say a batch of
  // 64 takes 512 ms and shed everything beyond ~2 queued, so batches could never grow.
  const h = harness({ batchSize: 64 });
  h.s.addReplica(1);
  for (let i = 0; i < 3; i++) {
    h.enqueue(100);
    answer(h, h.sent.at(-1)!.batchId, 8);
  }
  h.enqueue(100); // in flight
  for (let i = 0; i < 30; i++) h.enqueue(100);
  assert.deepEqual(h.rejected, [], 'nothing shed while the backlog is unmeasured');
  // The per-batch check stays conservative where the estimate only extrapolates: each batch at most
  // doubles the largest measured one, is measured, and the next grows again until the queue is
  // served; nothing is expired on the extrapolated estimate.
  const sizes: number[] = [];
  while (h.s.stats().queuedCount > 0 || h.s.stats().inFlightBatchCount > 0) {
    answer(h, h.sent.at(-1)!.batchId, 8);
    if (h.s.stats().inFlightBatchCount > 0) sizes.push(h.sent.at(-1)!.tokens.length);
  }
  // 2 then 4 (extrapolating from batches of one); then two sizes measured at 8 ms fit a flat line,
  // which says the remaining 24 fit one batch.
  assert.deepEqual(sizes, [2, 4, 24], 'the batch grows until the 30 queued are served');
  assert.deepEqual(h.rejected, []);
  assert.deepEqual(h.expired, []);
});

test('removing a replica re-queues its in-flight queries to another replica', () => {
  const h = harness({ batchSize: 2 });
  h.s.addReplica(1);
  h.s.addReplica(2);
  h.enqueue(100);
  h.enqueue(100);
  assert.deepEqual(
    h.sent.map((b) => [b.replicaId, b.tokens]),
    [
      [1, [1]],
      [2, [2]],
    ],
  );
  h.s.removeReplica(1);
  assert.equal(h.sent.length, 2); // replica 2 is busy
  assert.equal(h.s.stats().queuedCount, 1);
  assert.deepEqual(answer(h, h.sent[1]!.batchId, 1), [2]);
  assert.deepEqual(h.sent[2]!.tokens, [1]);
  assert.equal(h.sent[2]!.replicaId, 2);
  assert.equal(h.s.onBatchDone(h.sent[0]!.batchId), null); // the removed replica's batch is gone
  // A second failure exceeds retryMax (1): the query fails.
  h.s.removeReplica(2);
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason]),
    [[1, 'replica_failed']],
  );
  h.enqueue(100);
  assert.deepEqual(h.rejected.at(-1), { token: 3, reason: 'no_replica' });
});

test('in-flight timeout: queries move to another replica, the hook fires, a late reply returns null', () => {
  const h = harness({ batchSize: 4, inFlightTimeoutMs: 50 });
  h.s.addReplica(1);
  h.enqueue(500);
  h.s.addReplica(2);
  h.enqueue(500); // goes to the idle replica 2
  answer(h, h.sent[1]!.batchId, 1);
  h.clock.advanceBy(48);
  assert.deepEqual(h.timedOut, []);
  h.clock.advanceBy(1);
  assert.deepEqual(h.timedOut, [h.sent[0]!.batchId]);
  assert.deepEqual(h.sent.at(-1), { replicaId: 2, batchId: 3, tokens: [1], atMs: 1050 });
  // Replica 1 keeps its slot until it answers: new work goes to replica 2 only.
  h.enqueue(500);
  assert.equal(h.sent.length, 3);
  assert.equal(h.s.onBatchDone(h.sent[0]!.batchId), null);
  assert.deepEqual(h.sent.at(-1)!.tokens, [3]);
  assert.equal(h.sent.at(-1)!.replicaId, 1);
  assert.equal(h.s.stats().batchTimedOutCount, 1);
});

test('failure without retry fails the queries; with retry and no time left they fail too', () => {
  const h = harness({ batchSize: 4 });
  h.s.addReplica(1);
  h.enqueue(100);
  h.s.onBatchFailed(h.sent[0]!.batchId, false);
  h.enqueue(10);
  h.clock.advanceBy(11);
  h.s.onBatchFailed(h.sent[1]!.batchId, true);
  assert.deepEqual(
    h.expired.map((e) => [e.token, e.reason]),
    [
      [1, 'replica_failed'],
      [2, 'replica_failed'],
    ],
  );
  assert.equal(h.s.stats().batchFailedCount, 2);
});

test('delayed batching waits for more queries, sends when full, and never waits past the deadline', () => {
  const h = harness({ batchSize: 4, batchWaitMs: 5 });
  h.s.addReplica(1);
  h.enqueue(100);
  assert.equal(h.sent.length, 0);
  h.clock.advanceBy(4.9);
  assert.equal(h.sent.length, 0);
  h.clock.advanceBy(0.1);
  assert.deepEqual(
    h.sent.map((b) => [b.tokens, b.atMs]),
    [[[1], 1005]],
  );
  answer(h, h.sent[0]!.batchId, 2); // t(<=4) is about 2 ms
  h.enqueue(100);
  h.enqueue(100);
  h.enqueue(100);
  assert.equal(h.sent.length, 1);
  h.enqueue(100);
  assert.deepEqual(h.sent[1]!.tokens, [2, 3, 4, 5]); // full: no wait
  answer(h, h.sent[1]!.batchId, 2);
  const start = h.clock.nowMs();
  h.enqueue(3); // 3 ms left, a batch takes 2 ms: wait at most 1 ms
  h.clock.advanceBy(1);
  assert.deepEqual(h.sent[2]!.tokens, [6]);
  assert.ok(h.sent[2]!.atMs - start <= 1 + 1e-9);
  assert.deepEqual(h.expired, []);
});

test('re-entrant hooks: a synchronous send failure re-queues and another replica takes the batch', () => {
  let s: ModelScheduler<string> | undefined;
  let failNext = true;
  const h = harness(
    { batchSize: 2 },
    {
      sendBatch: (replicaId, _batchId, items) => {
        order.push([replicaId, items.map((i) => i.token)]);
        if (failNext) {
          failNext = false;
          s!.removeReplica(replicaId); // the connection broke while writing
        }
      },
    },
  );
  const order: [number, number[]][] = [];
  s = h.s;
  h.s.addReplica(1);
  h.s.addReplica(2);
  h.enqueue(100);
  assert.deepEqual(order, [
    [1, [1]],
    [2, [1]],
  ]);
  assert.deepEqual(
    h.s.stats().replicas.map((r) => r.replicaId),
    [2],
  );
});

test('close expires queued and in-flight queries and leaves no timer behind', () => {
  const h = harness({ batchSize: 1, batchWaitMs: 0 });
  h.s.addReplica(1);
  h.enqueue(100);
  h.enqueue(100);
  h.s.close();
  assert.deepEqual(h.expired.map((e) => [e.token, e.reason]).sort(), [
    [1, 'shutdown'],
    [2, 'shutdown'],
  ]);
  assert.equal(h.clock.pendingTimerCount, 0);
  h.enqueue(100);
  assert.deepEqual(h.rejected.at(-1), { token: 3, reason: 'no_replica' });
});

test('options are validated by name', () => {
  const clock = new SimClock();
  const hooks = { sendBatch() {}, expire() {}, reject() {} };
  assert.throws(() => new ModelScheduler({ batchSize: 0 }, clock, hooks), /scheduler.batchSize/);
  assert.throws(() => new ModelScheduler({ queueBound: 0 }, clock, hooks), /scheduler.queueBound/);
  assert.throws(() => new ModelScheduler({ batchWaitMs: -1 }, clock, hooks), /scheduler.batchWaitMs/);
  assert.throws(() => new ModelScheduler({ nope: 1 } as never, clock, hooks), /scheduler.nope is not a known option/);
});
