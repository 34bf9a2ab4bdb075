// ModelScheduler: the per-model queue and replica scheduler of the batching worker, without I/O. The worker
// (which owns the rings and the container sockets) feeds it events and performs what its hooks ask:
//
//   worker -> scheduler                          scheduler -> worker (hooks)
//   enqueue({ token, deadlineMs, payload })      reject(item, 'queue_full'|'deadline_unreachable'|'no_replica')
//   cancel(token)                                  (synchronously, inside enqueue)
//   addReplica(id) / removeReplica(id)           sendBatch(replicaId, batchId, items, predictedLatencyUs, probe)
//   onBatchDone(batchId) -> items | null         expire(item, 'deadline'|'replica_failed'|'cancelled'|'shutdown')
//   onBatchFailed(batchId, retry)                replicaTimedOut?(replicaId, batchId)
//
// Every event updates state and calls #resume(), the one function that re-derives the next step from state:
// purge expired queries, then for each replica with a free in-flight slot either send a batch now, arm the
// wake timer (delayed batching, or the earliest deadline when no replica is free), or go idle.
//
// Guarantees (checked by test/sim): a query is sent only when its deadline is in the future and the
// controller's predicted batch latency fits before it; otherwise it is expired exactly once. The one
// exception is a probe: when even a fresh query does not fit a batch of one on an idle replica (an estimate
// resting on slow samples, which nothing would correct if nothing were sent), that query is sent alone, at
// most once per usual SLO per replica, flagged `probe` to the hook. Each query
// leaves through exactly one of: returned by onBatchDone, expire, reject. Queries of a failed, removed or
// timed-out replica are re-queued (at most retryMax times, deadline permitting) or expired 'replica_failed'.
//
// Batch formation (replica r, queue in EDF order, head = earliest deadline, n = min(batchSizeMax_r, queued)):
//   1. if predict_r(n) > head.deadline - now: if the head has a tighter SLO than usual (under half the
//      smoothed slack) and the query after a smaller batch could still be served by the next one, shrink n to
//      fit the head; otherwise expire the head ("cannot be met by the next batch") and repeat. Under overload
//      this drops the oldest queries and keeps batches large;
//   2. delayed batching: if n < batchSizeMax_r and batchWaitMs > 0, wait until
//      min(head.enqueued + batchWaitMs, head.deadline - predict_r(batchSizeMax_r));
//   3. send the n earliest-deadline queries.
// Load shedding at enqueue: queue full, or (queued + 1) / throughput > 1.5 x (deadline - now), where
// throughput is the sum over replicas of batchSizeMax / predict(batchSizeMax) (skipped while a replica has
// no estimate); see kBacklogLeniency.
//
// Timed-out batches keep their replica's in-flight slot until onBatchDone/onBatchFailed/removeReplica: a
// replica that hangs must not receive more work; the worker decides (via replicaTimedOut) whether to kill it.
// Re-entrancy: hooks may call back into the scheduler; #resume() defers itself while it is running.

import { AimdController, FixedBatchSize, type BatchSizeController } from './aimd_controller.js';
import type { Clock } from '../lib/clock.js';
import { DeadlineQueue } from '../lib/deadline_queue.js';
import { resolveSchedulerOptions, type SchedulerOptions } from './scheduler_options.js';
import type { ExpireReason, QueuedItem, RejectReason, ReplicaStats, SchedulerHooks, SchedulerStats } from './scheduler_types.js';

export type { ExpireReason, QueuedItem, RejectReason, ReplicaStats, SchedulerHooks, SchedulerStats } from './scheduler_types.js';

interface Batch<P> {
  batchId: number;
  replica: Replica<P>;
  items: QueuedItem<P>[];
  sentMs: number;
  timer: unknown;
  timedOut: boolean;
  /** Queries queued when the batch was formed. */
  demandCount: number;
}

interface Replica<P> {
  replicaId: number;
  controller: BatchSizeController;
  inFlight: Map<number, Batch<P>>;
  /** When this replica was last sent a probe (a query the latency model said could not fit). */
  lastProbeMs: number;
}

const kSlackEwmaWeight = 1 / 64;
const kEpsilonMs = 1e-6;
// The backlog estimate counts queued queries that will expire rather than be served (under overload the
// oldest ones do), so it over-estimates the wait; a query is rejected only when the estimated wait exceeds
// its remaining time by this fraction. Measured in the simulator: 1.0 rejects fresh queries while doomed old
// ones hold the queue, costing ~3% goodput at 2x overload; 0.5 keeps the goodput and still sheds early.
const kBacklogLeniency = 0.5;

export class ModelScheduler<P> {
  readonly #o: Readonly<SchedulerOptions>;
  readonly #clock: Clock;
  readonly #hooks: SchedulerHooks<P>;
  readonly #queue = new DeadlineQueue<QueuedItem<P>>();
  readonly #replicas = new Map<number, Replica<P>>();
  readonly #batches = new Map<number, Batch<P>>();
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
  #inFlightQueryCount = 0;
  readonly #counts = {
    enqueuedCount: 0, sentQueryCount: 0, batchSentCount: 0, batchDoneCount: 0, batchFailedCount: 0, batchTimedOutCount: 0, probeCount: 0,
  };
  readonly #expired: Record<ExpireReason, number> = { deadline: 0, replica_failed: 0, cancelled: 0, shutdown: 0 };
  readonly #rejected: Record<RejectReason, number> = { queue_full: 0, deadline_unreachable: 0, no_replica: 0 };

  constructor(options: Partial<SchedulerOptions>, clock: Clock, hooks: SchedulerHooks<P>) {
    this.#o = resolveSchedulerOptions(options);
    this.#clock = clock;
    this.#hooks = hooks;
    this.#fixedBudget = this.#o.aimd.latencyBudgetUs !== undefined;
    this.#budgetUs = this.#o.aimd.latencyBudgetUs ?? 10_000;
  }

  get options(): Readonly<SchedulerOptions> {
    return this.#o;
  }

  enqueue(input: { token: number; deadlineMs: number; payload: P }): void {
    const now = this.#clock.nowMs();
    const item: QueuedItem<P> = { token: input.token, deadlineMs: input.deadlineMs, payload: input.payload, enqueuedMs: now, sendCount: 0 };
    this.#counts.enqueuedCount++;
    if (this.#closed || this.#replicas.size === 0) return this.#reject(item, 'no_replica');
    if (this.#queue.size >= this.#o.queueBound) return this.#reject(item, 'queue_full');
    if (!(item.deadlineMs > now)) return this.#reject(item, 'deadline_unreachable');
    this.#observeSlack(item.deadlineMs - now);
    if (this.#backlogExceedsDeadline(item, now)) return this.#reject(item, 'deadline_unreachable');
    this.#queue.push(item);
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
    const controller = this.#o.batchSize > 0
      ? new FixedBatchSize(this.#o.batchSize, this.#o.latencyModel)
      : new AimdController({ ...this.#o.aimd, batchSizeCap: this.#o.batchSizeCap, latencyModel: this.#o.latencyModel });
    controller.setLatencyBudgetUs(this.#budgetUs);
    this.#replicas.set(replicaId, { replicaId, controller, inFlight: new Map(), lastProbeMs: -Infinity });
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
      if (!batch.timedOut) for (const item of batch.items) this.#expire(item, 'shutdown');
    }
    for (const item of this.#queue.drain()) this.#expire(item, 'shutdown');
    this.#replicas.clear();
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
      replicas.push({ replicaId: r.replicaId, batchSizeMax: max, inFlightBatchCount: r.inFlight.size, predictedLatencyUsAtMax: r.controller.predictLatencyUs(max) });
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

  #resume(): void {
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
      const head = this.#queue.peek();
      if (head === undefined) return this.#disarm();
      const replica = this.#pickReplica();
      if (replica === undefined) return this.#arm(head.deadlineMs, now);
      const demandCount = this.#queue.size;
      const decision = this.#decide(replica, now);
      if (decision.kind === 'empty') continue;
      if (decision.kind === 'wait') return this.#arm(decision.untilMs, now);
      this.#send(replica, decision.count, decision.predictedUs, demandCount, now, decision.probe === true);
    }
  }

  // Preconditions: the queue holds no query whose deadline is <= now.
  #decide(replica: Replica<P>, now: number):
    { kind: 'empty' } | { kind: 'wait'; untilMs: number } | { kind: 'send'; count: number; predictedUs: number; probe?: boolean } {
    const ctl = replica.controller;
    const max = ctl.batchSizeMax();
    let reset = false;
    for (;;) {
      const head = this.#queue.peek();
      if (head === undefined) return { kind: 'empty' };
      let count = Math.min(max, this.#queue.size);
      const remainingUs = (head.deadlineMs - now) * 1000;
      const predictedUs = ctl.predictLatencyUs(count);
      if (predictedUs > remainingUs) {
        const fit = largestFitting(ctl, count, remainingUs);
        // Far beyond the largest measured batch the estimate only extrapolates (conservatively): send the
        // largest batch it allows and measure it, rather than expire queries on a guess.
        const extrapolating = count > 2 * ctl.observedSizeMax();
        if (fit >= 1 && (extrapolating || (this.#isTighterThanUsual(head) && this.#shrinkKeepsRestFeasible(ctl, fit, max, now)))) {
          return { kind: 'send', count: fit, predictedUs: ctl.predictLatencyUs(fit) };
        }
        if (fit === 0 && this.#isFresh(head, now) && !this.#isTighterThanUsual(head)) {
          if (!reset) {
            // The model says not even a fresh query fits a batch of one: distrust it once (see resetToLatest).
            reset = true;
            ctl.resetLatencyModel();
            continue;
          }
          // Still nothing fits: the estimate may rest on one slow batch (a degenerate fit can only bound
          // a batch of one from above), and with nothing sent it would never be corrected. Probe: send
          // this query alone, at most once per usual SLO per replica, so a model that recovered is seen
          // to (AIMD "never stuck").
          if (now - replica.lastProbeMs >= this.#slackEwmaMs) {
            replica.lastProbeMs = now;
            this.#counts.probeCount++;
            return { kind: 'send', count: 1, predictedUs: ctl.predictLatencyUs(1), probe: true };
          }
        }
        this.#queue.pop();
        this.#expire(head, 'deadline');
        continue;
      }
      if (count < max && this.#o.batchWaitMs > 0) {
        const untilMs = Math.min(head.enqueuedMs + this.#o.batchWaitMs, head.deadlineMs - ctl.predictLatencyUs(max) / 1000);
        if (untilMs > now + kEpsilonMs) return { kind: 'wait', untilMs };
      }
      count = Math.max(1, count);
      return { kind: 'send', count, predictedUs };
    }
  }

  /** Waited less than 10% of its slack at enqueue. */
  #isFresh(item: QueuedItem<P>, now: number): boolean {
    return now - item.enqueuedMs <= 0.1 * (item.deadlineMs - item.enqueuedMs);
  }

  /** Its SLO (slack at enqueue) is under half the usual one: it comes from a tighter app than most. */
  #isTighterThanUsual(item: QueuedItem<P>): boolean {
    return item.deadlineMs - item.enqueuedMs < 0.5 * this.#slackEwmaMs;
  }

  // A smaller batch serves an urgent head only if the query after it can still be served by the batch
  // after that. Only for queries with a tighter SLO than usual (mixed SLOs): with one SLO, shrinking for the
  // oldest query makes batches smaller exactly when load is high (measured: -6% goodput at saturation).
  #shrinkKeepsRestFeasible(ctl: BatchSizeController, fit: number, max: number, now: number): boolean {
    const next = this.#queue.peekAt(fit);
    if (next === undefined) return true;
    const restCount = Math.min(max, this.#queue.size - fit);
    const neededUs = ctl.predictLatencyUs(fit) + ctl.predictLatencyUs(restCount);
    return (next.deadlineMs - now) * 1000 >= neededUs;
  }

  #send(replica: Replica<P>, count: number, predictedUs: number, demandCount: number, now: number, probe: boolean): void {
    const items: QueuedItem<P>[] = [];
    for (let i = 0; i < count; i++) {
      const item = this.#queue.pop()!;
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
    this.#inFlightQueryCount -= batch.items.length;
    this.#requeueOrFail(batch.items, true, this.#clock.nowMs());
    this.#hooks.replicaTimedOut?.(batch.replica.replicaId, batch.batchId);
    this.#resume();
  }

  /** Removes a batch from the in-flight maps and clears its timer (items are the caller's business). */
  #finishBatch(batch: Batch<P>): void {
    this.#clock.clearTimer(batch.timer);
    batch.timer = undefined;
    batch.replica.inFlight.delete(batch.batchId);
    this.#batches.delete(batch.batchId);
    if (!batch.timedOut) this.#inFlightQueryCount -= batch.items.length;
  }

  #requeueOrFail(items: readonly QueuedItem<P>[], retry: boolean, now: number): void {
    for (const item of items) {
      const allowed = retry && !this.#closed && item.sendCount <= this.#o.retryMax && item.deadlineMs > now && !this.#queue.has(item.token);
      if (allowed) this.#queue.push(item);
      else this.#expire(item, 'replica_failed');
    }
  }

  /** The replica with a free slot and the fewest batches in flight; ties rotate. */
  #pickReplica(): Replica<P> | undefined {
    let best: Replica<P> | undefined;
    let index = 0;
    const start = this.#rotation % Math.max(1, this.#replicas.size);
    let bestOrder = Infinity;
    for (const r of this.#replicas.values()) {
      const order = (index - start + this.#replicas.size) % this.#replicas.size;
      index++;
      if (r.inFlight.size >= this.#o.inFlightPerReplica) continue;
      if (best === undefined || r.inFlight.size < best.inFlight.size || (r.inFlight.size === best.inFlight.size && order < bestOrder)) {
        best = r;
        bestOrder = order;
      }
    }
    if (best !== undefined) this.#rotation++;
    return best;
  }

  #purgeExpired(now: number): void {
    for (let head = this.#queue.peek(); head !== undefined && head.deadlineMs <= now; head = this.#queue.peek()) {
      this.#queue.pop();
      this.#expire(head, 'deadline');
    }
  }

  #backlogExceedsDeadline(item: QueuedItem<P>, now: number): boolean {
    // No backlog, no shedding: with the queue empty and a replica free the query is sent at once,
    // and the per-batch check (predicted latency vs. deadline) is the one that applies.
    if (this.#queue.size === 0) {
      for (const r of this.#replicas.values()) if (r.inFlight.size < this.#o.inFlightPerReplica) return false;
    }
    let itemsPerMs = 0;
    for (const r of this.#replicas.values()) {
      const max = r.controller.batchSizeMax();
      const predictedUs = r.controller.optimisticLatencyUs(max);
      if (!(predictedUs > 0)) return false;
      itemsPerMs += (max * 1000) / predictedUs;
    }
    return now + (this.#queue.size + 1) / itemsPerMs > item.deadlineMs + kBacklogLeniency * (item.deadlineMs - now);
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

  #expire(item: QueuedItem<P>, reason: ExpireReason): void {
    this.#expired[reason]++;
    this.#hooks.expire(item, reason);
  }

  #reject(item: QueuedItem<P>, reason: RejectReason): void {
    this.#rejected[reason]++;
    this.#hooks.reject(item, reason);
  }
}

/** Largest n in [1, count] with predict(n) <= budgetUs, or 0 (predict is non-decreasing in n). */
function largestFitting(ctl: BatchSizeController, count: number, budgetUs: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctl.predictLatencyUs(mid) <= budgetUs) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
