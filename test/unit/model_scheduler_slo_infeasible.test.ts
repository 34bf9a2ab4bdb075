// SLO-infeasible vs. shed (load_shedding.ts, batch_formation.ts): a query whose SLO is shorter than the
// model's measured latency for a batch of one is refused or dropped with `sloInfeasible` (the worker
// answers DefaultReason.SloInfeasible: not shed, no 429), while a query refused for a backlog stays shed;
// and before any measurement nothing is called infeasible.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FixedBatchSize } from '../../src/batching/aimd_controller.js';
import { sloInfeasible, type ServingReplica } from '../../src/batching/load_shedding.js';
import { ModelScheduler, type SchedulerHooks } from '../../src/batching/model_scheduler.js';
import type { SchedulerOptions } from '../../src/batching/scheduler_options.js';
import { SimClock } from '../../sim/sim_clock.js';

interface Left {
  token: number;
  reason: string;
  sloInfeasible: boolean;
}

function harness(options: Partial<SchedulerOptions> = {}) {
  const clock = new SimClock(1000);
  const sent: { batchId: number; tokens: number[] }[] = [];
  const expired: Left[] = [];
  const rejected: Left[] = [];
  const hooks: SchedulerHooks<string> = {
    sendBatch: (_replicaId, batchId, items) => sent.push({ batchId, tokens: items.map((i) => i.token) }),
    expire: (item, reason, infeasible) => expired.push({ token: item.token, reason, sloInfeasible: infeasible === true }),
    reject: (item, reason, infeasible) => rejected.push({ token: item.token, reason, sloInfeasible: infeasible === true }),
  };
  const s = new ModelScheduler<string>({ latencyModel: { marginSigmaCount: 0 }, ...options }, clock, hooks);
  let token = 0;
  const enqueue = (sloMs: number): number => {
    token++;
    s.enqueue({ token, deadlineMs: clock.nowMs() + sloMs, payload: `q${token}` });
    return token;
  };
  /** Answers the last batch sent after `latencyMs`. */
  const answerLast = (latencyMs: number): void => {
    clock.advanceBy(latencyMs);
    s.onBatchDone(sent.at(-1)!.batchId);
  };
  return { clock, s, sent, expired, rejected, enqueue, answerLast };
}

test('idle replica, SLO shorter than the measured latency of one query: dropped at once as SLO-infeasible, not shed', () => {
  const h = harness();
  h.s.addReplica(1);
  h.enqueue(1000);
  h.answerLast(200); // the model takes 200 ms for one query
  const tight = h.enqueue(100); // a per-request SLO of 100 ms, the replica idle, nothing queued
  assert.equal(h.sent.length, 1, 'never sent');
  assert.deepEqual(h.expired, [{ token: tight, reason: 'deadline', sloInfeasible: true }]);
  assert.deepEqual(h.rejected, []);
  h.s.close();
});

test('refused at arrival behind a batch in flight, but too slow even alone: SLO-infeasible', () => {
  const h = harness();
  h.s.addReplica(1);
  h.enqueue(100);
  h.answerLast(200); // every query has a 100 ms SLO; one query takes 200 ms
  const probe = h.enqueue(100); // idle: the scheduler probes (sends it alone despite the estimate)
  assert.deepEqual(h.sent.at(-1)!.tokens, [probe]);
  const next = h.enqueue(100); // the probe is in flight: refused at once, yet an idle replica could not serve it either
  assert.deepEqual(h.rejected, [{ token: next, reason: 'deadline_unreachable', sloInfeasible: true }]);
  h.s.close();
});

test('backlog: refused at arrival, or dropped after waiting, is shed (not SLO-infeasible)', () => {
  const h = harness({ batchSize: 1 });
  h.s.addReplica(1);
  h.enqueue(1000);
  h.answerLast(10); // 10 ms per query
  h.enqueue(1000); // in flight
  for (let i = 0; i < 5; i++) h.enqueue(60); // each fits behind the one before
  const refused = h.enqueue(65); // five batches ahead: done at 70 ms
  assert.deepEqual(h.rejected, [{ token: refused, reason: 'deadline_unreachable', sloInfeasible: false }]);
  h.answerLast(40); // the batch in flight was slow: the queued ones can no longer all make it
  assert.ok(h.expired.length > 0, 'a query that waited was dropped');
  for (const e of h.expired) assert.deepEqual([e.reason, e.sloInfeasible], ['deadline', false], `token ${e.token}`);
  h.s.close();
});

test('no measurement yet: a query with any SLO is admitted and sent, never called infeasible', () => {
  const h = harness({ batchSize: 1 });
  h.s.addReplica(1);
  const first = h.enqueue(1); // 1 ms: whatever the model's latency, nothing measured says it cannot
  assert.deepEqual(h.sent.at(-1)!.tokens, [first]);
  h.enqueue(1); // behind the batch in flight, still nothing measured: queued as before
  assert.deepEqual(h.rejected, []);
  assert.equal(h.s.stats().queuedCount, 1);
  h.s.close();
});

test('sloInfeasible: every replica must have a measurement above the remaining time', () => {
  const replica = (latencyUs: number | null): ServingReplica => {
    const controller = new FixedBatchSize(4, { marginSigmaCount: 0 });
    if (latencyUs !== null) controller.onBatchDone(1, latencyUs);
    return { controller, inFlight: new Map() };
  };
  const now = 1000;
  assert.equal(sloInfeasible(new Map([[1, replica(200_000)]]), now + 100, now), true);
  assert.equal(sloInfeasible(new Map([[1, replica(200_000)]]), now + 250, now), false);
  assert.equal(sloInfeasible(new Map([[1, replica(null)]]), now + 1, now), false, 'no measurement');
  const mixed = new Map([
    [1, replica(200_000)],
    [2, replica(null)],
  ]);
  assert.equal(sloInfeasible(mixed, now + 100, now), false, 'a replica not yet measured may be fast');
  const bothSlow = new Map([
    [1, replica(200_000)],
    [2, replica(150_000)],
  ]);
  assert.equal(sloInfeasible(bothSlow, now + 100, now), true);
  assert.equal(sloInfeasible(new Map(), now + 100, now), false);
});
