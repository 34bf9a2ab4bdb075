// ModelScheduler: the per-model queue and replica scheduler of the batching worker, without I/O. The worker
// (which owns the rings and the container sockets) feeds it events and performs what its hooks ask:
//
//   worker -> scheduler                          scheduler -> worker (hooks)
//   enqueue({ token, deadlineMs, priority?, payload })
//                                                reject(item, 'queue_full'|'deadline_unreachable'|'no_replica')
//   cancel(token)                                  (synchronously, inside enqueue)
//   addReplica(id) / removeReplica(id)           sendBatch(replicaId, batchId, items, predictedLatencyUs, probe)
//   onBatchDone(batchId) -> items | null         expire(item, 'deadline'|'replica_failed'|'cancelled'|'shutdown')
//   onBatchFailed(batchId, retry)                replicaTimedOut?(replicaId, batchId)
//
// Every event updates state and calls #resume(), the one function that re-derives the next step from state:
// purge expired queries, then for each replica with a free in-flight slot either send a batch now, arm the
// wake timer (delayed batching, or the earliest deadline when no replica is free), or go idle.
//
// Priorities (protocol.ts: 0 normal .. kPriorityMax, larger = more urgent): the queue keeps one EDF queue per
// level (priority_deadline_queue.ts); a batch takes the most urgent queries first, EDF within a level, and
// less urgent ones only where they fit (batch_formation.ts). Expiry and the wake timer look at every level's
// deadlines; backlog shedding counts only the queries at the new one's priority or above, which go first.
//
// Guarantees (checked by the simulator in sim/, and the accounting below by assertions): a query is sent
// only when its deadline is in the future and the controller's predicted batch latency fits before it
// (batch_formation.ts, which also describes the one exception, a probe); otherwise it is expired exactly
// once. Each query leaves through exactly one of: returned by onBatchDone, expire, reject. Queries of a
// failed, removed or timed-out replica are re-queued (at most retryMax times, deadline permitting) or
// expired 'replica_failed'. Load shedding at enqueue: queue full, or a backlog that cannot be served
// before the deadline (load_shedding.ts). A query refused or dropped for its deadline whose SLO is shorter
// than the measured latency of a batch of one is flagged `sloInfeasible` to the hooks: not shed.
//
// Timed-out batches keep their replica's in-flight slot until onBatchDone/onBatchFailed/removeReplica: a
// replica that hangs must not receive more work; the worker decides (via replicaTimedOut) whether to kill it.
// Re-entrancy: hooks may call back into the scheduler; #resume() defers itself while it is running.

import assert from 'node:assert/strict';
import { BatchFormer } from './batch_formation.js';
import type { Clock } from '../lib/clock.js';
import { backlogExceedsDeadline, type QueuePosition, sloInfeasible } from './load_shedding.js';
import { PriorityDeadlineQueue } from './priority_deadline_queue.js';
import { kPriorityMax, kPriorityNormal } from './protocol.js';
import { resolveSchedulerOptions, type SchedulerOptions } from './scheduler_options.js';
import { newController, newReplica, pickReplica, type Batch, type Replica } from './scheduler_replicas.js';
import type { ExpireReason, QueuedItem, RejectReason, ReplicaStats, SchedulerHooks, SchedulerStats } from './scheduler_types.js';

export type { ExpireReason, QueuedItem, RejectReason, ReplicaStats, SchedulerHooks, SchedulerStats } from './scheduler_types.js';

const kSlackEwmaWeight = 1 / 64;

export class ModelScheduler<P> {
  #o: Readonly<SchedulerOptions>;
  readonly #clock: Clock;
  readonly #hooks: SchedulerHooks<P>;
  readonly #queue = new PriorityDeadlineQueue<QueuedItem<P>>();
  readonly #replicas = new Map<number, Replica<P>>();
  readonly #batches = new Map<number, Batch<P>>();
  readonly #former: BatchFormer<P>;
  readonly #fixedBudget: boolean;
  #budgetUs: number;
  #slackEwmaMs = 0;
  #nextBatchId = 1;
  #rotation = 0;
  #wakeTimer: unknown = undefined;
  #wakeAtMs = Infinity;
  #resuming = false;
  #resumeAgain = false;
  #held = false;
  #closed = false;
  /** Queries in batches in flight that have not timed out. */
  #inFlightQueryCount = 0;
  /** Queries admitted to the queue by enqueue, and queries that left (expired or returned by onBatchDone). */
  #admittedCount = 0;
  #leftCount = 0;
  readonly #counts = {
    enqueuedCount: 0,
    sentQueryCount: 0,
    batchSentCount: 0,
    batchDoneCount: 0,
    batchFailedCount: 0,
    batchTimedOutCount: 0,
    probeCount: 0,
  };
  readonly #expired: Record<ExpireReason, number> = { deadline: 0, replica_failed: 0, cancelled: 0, shutdown: 0 };
  readonly #rejected: Record<RejectReason, number> = { queue_full: 0, deadline_unreachable: 0, no_replica: 0 };

  constructor(options: Partial<SchedulerOptions>, clock: Clock, hooks: SchedulerHooks<P>) {
    this.#o = resolveSchedulerOptions(options);
    this.#clock = clock;
    this.#hooks = hooks;
    this.#fixedBudget = this.#o.aimd.latencyBudgetUs !== undefined;
    this.#budgetUs = this.#o.aimd.latencyBudgetUs ?? 10_000;
    this.#former = new BatchFormer(this.#queue, this.#o.batchWaitMs, (item, infeasible) => this.#expire(item, 'deadline', infeasible));
  }

  get options(): Readonly<SchedulerOptions> {
    return this.#o;
  }

  /** `priority`: 0 (normal, the default) .. kPriorityMax, larger = more urgent. */
  enqueue(input: { token: number; deadlineMs: number; priority?: number; payload: P }): void {
    const now = this.#clock.nowMs();
    const item: QueuedItem<P> = {
      token: input.token,
      deadlineMs: input.deadlineMs,
      priority: input.priority ?? kPriorityNormal,
      payload: input.payload,
      enqueuedMs: now,
      sendCount: 0,
    };
    this.#counts.enqueuedCount++;
    if (this.#closed || this.#replicas.size === 0) return this.#reject(item, 'no_replica');
    if (this.#queue.size >= this.#o.queueBound) return this.#reject(item, 'queue_full');
    if (!(item.deadlineMs > now)) return this.#reject(item, 'deadline_unreachable');
    this.#observeSlack(item.deadlineMs - now);
    if (backlogExceedsDeadline(this.#positionOf(item), this.#replicas, this.#o.inFlightPerReplica, item.deadlineMs, now)) {
      return this.#reject(item, 'deadline_unreachable', sloInfeasible(this.#replicas, item.deadlineMs, now));
    }
    this.#queue.push(item);
    this.#admittedCount++;
    this.#resume();
  }

  /**
   * While held, events only update state: queries enqueued together (one drain of the worker's ring)
   * then go out as one batch at release(), instead of the first alone on an idle replica.
   */
  hold(): void {
    this.#held = true;
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#resume();
  }

  /** Drops a queued query (client gone); reports it as expired 'cancelled'. False when it is not queued. */
  cancel(token: number): boolean {
    const item = this.#queue.remove(token);
    if (item === undefined) return false;
    this.#expire(item, 'cancelled');
    this.#resume();
    return true;
  }

  addReplica(replicaId: number): void {
    if (this.#closed) return;
    if (this.#replicas.has(replicaId)) throw new Error(`replica ${replicaId} is already registered`);
    this.#replicas.set(replicaId, newReplica(replicaId, this.#o, this.#budgetUs));
    this.#resume();
  }

  /** A new batch size (-1 adaptive, else a fixed maximum): each replica gets a fresh controller; batches in flight go on. */
  setBatchSize(batchSize: number): void {
    this.#o = resolveSchedulerOptions({ ...this.#o, batchSize });
    for (const r of this.#replicas.values()) r.controller = newController(this.#o, this.#budgetUs);
    this.#resume();
  }

  /** Unregisters a replica; its in-flight queries are re-queued (deadline and retryMax permitting) or expired. */
  removeReplica(replicaId: number): void {
    const replica = this.#replicas.get(replicaId);
    if (replica === undefined) return;
    this.#replicas.delete(replicaId);
    const now = this.#clock.nowMs();
    for (const batch of [...replica.inFlight.values()]) {
      this.#finishBatch(batch);
      if (!batch.timedOut) this.#requeueOrFail(batch.items, true, now);
    }
    this.#resume();
  }

  /** A reply arrived: returns the batch's queries in send order, or null when the batch is unknown or timed out. */
  onBatchDone(batchId: number): QueuedItem<P>[] | null {
    const batch = this.#batches.get(batchId);
    if (batch === undefined) return null;
    this.#finishBatch(batch);
    this.#counts.batchDoneCount++;
    const latencyUs = (this.#clock.nowMs() - batch.sentMs) * 1000;
    batch.replica.controller.onBatchDone(batch.items.length, latencyUs, batch.demandCount);
    // A timed-out batch's queries were re-queued or expired when it timed out: they left through there.
    if (!batch.timedOut) {
      this.#inFlightQueryCount -= batch.items.length;
      this.#leftCount += batch.items.length;
    }
    this.#resume();
    return batch.timedOut ? null : batch.items;
  }

  /** The batch failed (error frame, broken connection); retry re-queues its queries where allowed. */
  onBatchFailed(batchId: number, retry: boolean): void {
    const batch = this.#batches.get(batchId);
    if (batch === undefined) return;
    this.#finishBatch(batch);
    this.#counts.batchFailedCount++;
    if (!batch.timedOut) this.#requeueOrFail(batch.items, retry, this.#clock.nowMs());
    this.#resume();
  }

  /** Expires every queued and in-flight query ('shutdown') and stops all timers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    for (const batch of [...this.#batches.values()]) {
      this.#finishBatch(batch);
      if (batch.timedOut) continue;
      for (const item of batch.items) {
        this.#inFlightQueryCount--;
        this.#expire(item, 'shutdown');
      }
    }
    for (let item = this.#queue.pop(); item !== undefined; item = this.#queue.pop()) this.#expire(item, 'shutdown');
    this.#replicas.clear();
    this.#checkAccounting();
    assert.equal(this.#leftCount, this.#admittedCount, 'every admitted query has left at close');
  }

  /** Queries queued or in flight (cheap; for the worker's light-load test). */
  get openQueryCount(): number {
    return this.#queue.size + this.#inFlightQueryCount;
  }

  /** True when a query enqueued now could be sent at once, or rejected at once (no replica). */
  canSendNow(): boolean {
    if (this.#replicas.size === 0) return true;
    for (const r of this.#replicas.values()) if (r.inFlight.size < this.#o.inFlightPerReplica) return true;
    return false;
  }

  stats(): SchedulerStats {
    const replicas: ReplicaStats[] = [];
    for (const r of this.#replicas.values()) {
      const max = r.controller.batchSizeMax();
      replicas.push({
        replicaId: r.replicaId,
        batchSizeMax: max,
        inFlightBatchCount: r.inFlight.size,
        predictedLatencyUsAtMax: r.controller.predictLatencyUs(max),
      });
    }
    return {
      queuedCount: this.#queue.size,
      inFlightBatchCount: this.#batches.size,
      inFlightQueryCount: this.#inFlightQueryCount,
      latencyBudgetUs: this.#budgetUs,
      replicas,
      ...this.#counts,
      expiredCount: { ...this.#expired },
      rejectedCount: { ...this.#rejected },
    };
  }

  /**
   * Where a new query would stand in the queue: behind every query of its priority or above, or, due
   * before its own level's head (a tighter SLO than those queued), behind only the more urgent ones.
   */
  #positionOf(item: QueuedItem<P>): QueuePosition {
    const levelHead = this.#queue.levelHead(item.priority);
    const first = levelHead !== undefined && item.deadlineMs < levelHead.deadlineMs;
    const aheadCount = first && item.priority >= kPriorityMax ? 0 : this.#queue.countAtOrAbove(first ? item.priority + 1 : item.priority);
    return { aheadCount, headDeadlineMs: aheadCount > 0 ? this.#queue.peek()!.deadlineMs : Infinity };
  }

  /** Each admitted query is queued, in flight, or has left, and only one of them (a query leaves once). */
  #checkAccounting(): void {
    // `if` first: this runs on every event, and assert's argument handling is not free.
    if (this.#inFlightQueryCount < 0 || this.#admittedCount - this.#leftCount !== this.#queue.size + this.#inFlightQueryCount) {
      assert.fail(
        `scheduler accounting: admitted ${this.#admittedCount} - left ${this.#leftCount} != queued ${this.#queue.size}` +
          ` + in flight ${this.#inFlightQueryCount}`,
      );
    }
  }

  #resume(): void {
    this.#checkAccounting();
    if (this.#closed || this.#held) return;
    if (this.#resuming) {
      this.#resumeAgain = true;
      return;
    }
    this.#resuming = true;
    try {
      do {
        this.#resumeAgain = false;
        this.#dispatch();
      } while (this.#resumeAgain && !this.#closed);
    } finally {
      this.#resuming = false;
    }
  }

  #dispatch(): void {
    for (;;) {
      const now = this.#clock.nowMs();
      this.#purgeExpired(now);
      if (this.#queue.size === 0) return this.#disarm();
      const replica = pickReplica(this.#replicas, this.#rotation, this.#o.inFlightPerReplica);
      if (replica === undefined) return this.#arm(this.#queue.earliestDeadlineMs(), now);
      this.#rotation++;
      const demandCount = this.#queue.size;
      const decision = this.#former.decide(replica, now, this.#slackEwmaMs);
      if (decision.kind === 'empty') continue;
      if (decision.kind === 'wait') return this.#arm(decision.untilMs, now);
      if (decision.probe) this.#counts.probeCount++;
      this.#send(replica, decision.count, decision.predictedUs, demandCount, now, decision.probe);
    }
  }

  #send(replica: Replica<P>, count: number, predictedUs: number, demandCount: number, now: number, probe: boolean): void {
    const items: QueuedItem<P>[] = [];
    for (let i = 0; i < count; i++) {
      const item = this.#queue.pop();
      if (item === undefined) assert.fail('a batch larger than the queue');
      item.sendCount++;
      items.push(item);
    }
    const batchId = this.#nextBatchId++;
    const batch: Batch<P> = { batchId, replica, items, sentMs: now, timer: undefined, timedOut: false, demandCount };
    batch.timer = this.#clock.setTimer(this.#o.inFlightTimeoutMs, () => this.#onInFlightTimeout(batch));
    replica.inFlight.set(batchId, batch);
    this.#batches.set(batchId, batch);
    this.#inFlightQueryCount += count;
    this.#counts.batchSentCount++;
    this.#counts.sentQueryCount += count;
    this.#hooks.sendBatch(replica.replicaId, batchId, items, predictedUs, probe);
  }

  #onInFlightTimeout(batch: Batch<P>): void {
    batch.timer = undefined;
    if (this.#closed || batch.timedOut || !this.#batches.has(batch.batchId)) return;
    batch.timedOut = true;
    this.#counts.batchTimedOutCount++;
    this.#requeueOrFail(batch.items, true, this.#clock.nowMs());
    this.#hooks.replicaTimedOut?.(batch.replica.replicaId, batch.batchId);
    this.#resume();
  }

  /** Removes a batch from the in-flight maps and clears its timer (its queries are the caller's business). */
  #finishBatch(batch: Batch<P>): void {
    this.#clock.clearTimer(batch.timer);
    batch.timer = undefined;
    batch.replica.inFlight.delete(batch.batchId);
    this.#batches.delete(batch.batchId);
  }

  /** The queries of a batch that failed or timed out, still counted in flight: back to the queue, or expired. */
  #requeueOrFail(items: readonly QueuedItem<P>[], retry: boolean, now: number): void {
    for (const item of items) {
      this.#inFlightQueryCount--;
      const allowed = retry && !this.#closed && item.sendCount <= this.#o.retryMax && item.deadlineMs > now && !this.#queue.has(item.token);
      if (allowed) this.#queue.push(item);
      else this.#expire(item, 'replica_failed');
    }
  }

  /** Expires every queued query whose deadline has come, at whatever priority. */
  #purgeExpired(now: number): void {
    while (this.#queue.earliestDeadlineMs() <= now) this.#expire(this.#queue.popEarliest()!, 'deadline');
  }

  #observeSlack(slackMs: number): void {
    this.#slackEwmaMs = this.#slackEwmaMs === 0 ? slackMs : this.#slackEwmaMs + kSlackEwmaWeight * (slackMs - this.#slackEwmaMs);
    if (this.#fixedBudget) return;
    const budgetUs = this.#slackEwmaMs * 1000 * this.#o.sloBudgetFraction;
    if (Math.abs(budgetUs - this.#budgetUs) <= 0.02 * this.#budgetUs) return;
    this.#budgetUs = budgetUs;
    for (const r of this.#replicas.values()) r.controller.setLatencyBudgetUs(budgetUs);
  }

  #arm(atMs: number, now: number): void {
    if (this.#wakeTimer !== undefined && this.#wakeAtMs === atMs) return;
    this.#disarm();
    this.#wakeAtMs = atMs;
    this.#wakeTimer = this.#clock.setTimer(Math.max(0, atMs - now), () => {
      this.#wakeTimer = undefined;
      this.#wakeAtMs = Infinity;
      this.#resume();
    });
  }

  #disarm(): void {
    if (this.#wakeTimer === undefined) return;
    this.#clock.clearTimer(this.#wakeTimer);
    this.#wakeTimer = undefined;
    this.#wakeAtMs = Infinity;
  }

  #expire(item: QueuedItem<P>, reason: ExpireReason, infeasible = false): void {
    this.#leftCount++;
    this.#expired[reason]++;
    this.#hooks.expire(item, reason, infeasible);
  }

  #reject(item: QueuedItem<P>, reason: RejectReason, infeasible = false): void {
    this.#rejected[reason]++;
    this.#hooks.reject(item, reason, infeasible);
  }
}
