// Batch formation: what ModelScheduler sends to one replica with a free in-flight slot, given the
// queue in priority-then-EDF order (priority_deadline_queue.ts; head = the most urgent level's earliest
// deadline) and n = min(batchSizeMax_r, queued at the head's level):
//   1. if predict_r(n) > head.deadline - now: if the head has a tighter SLO than usual (under half the
//      smoothed slack) and the query after a smaller batch could still be served by the next one, shrink n to
//      fit the head; otherwise expire the head ("cannot be met by the next batch") and repeat. Under overload
//      this drops the oldest queries and keeps batches large. Where n is more than twice the largest batch
//      measured on r, the prediction only extrapolates: n is first cut to twice that size (grow, measure,
//      grow again), and heads are expired against the cut size. A batch is never sized for an old head
//      with the usual SLO: that kept the queue old and every batch small (docs/reliability.md §2);
//   2. fill: while n < batchSizeMax_r, add queries of the next less urgent level (earliest deadline first)
//      as long as the batch still fits every deadline in it, the tightest being one of the levels' heads. A
//      level's head that the batch with that level cannot serve is expired as in 1 (unless fresh); a level
//      that does not fit whole ends the fill. A less urgent query never takes the place of a more urgent
//      one that waits: every batch is a prefix of the queue's order;
//   3. delayed batching: if n < batchSizeMax_r and batchWaitMs > 0, wait until
//      min(head.enqueued + batchWaitMs, tightest deadline - predict_r(batchSizeMax_r));
//   4. send the first n queries.
// With one priority (the default for every query) step 2 adds nothing: plain EDF as before. Less urgent
// queries get what the more urgent leave of each batch: nothing guarantees them a share of the replicas
// (nor does Triton's priority queue); under sustained urgent load they expire (the scheduler's purge).
// The one exception to "sent only if predicted to fit" is a probe: when even a fresh query does not fit a
// batch of one on an idle replica (an estimate resting on slow samples, which nothing would correct if
// nothing were sent), that query is sent alone, at most once per usual SLO per replica.
// An expired query whose whole SLO (deadline - enqueued) is shorter than the replica's measured mean for a
// batch of one is reported SLO-infeasible: it would have missed its deadline with no backlog at all, so it
// is not shed (no 429, no retry). The mean, not the margin: a query dropped only on the margin (noise) may
// be backlog, and stays shed. Never without a measurement (the estimate is then 0).

import type { BatchSizeController } from './aimd_controller.js';
import type { PriorityDeadlineQueue } from './priority_deadline_queue.js';
import type { QueuedItem } from './scheduler_types.js';

export type BatchDecision =
  | { kind: 'empty' }
  | { kind: 'wait'; untilMs: number }
  | { kind: 'send'; count: number; predictedUs: number; probe: boolean };

/** What formation reads, and changes, of one replica. */
export interface FormingReplica {
  readonly controller: BatchSizeController;
  /** When this replica was last sent a probe (a query the latency model said could not fit). */
  lastProbeMs: number;
}

const kEpsilonMs = 1e-6;

export class BatchFormer<P> {
  readonly #queue: PriorityDeadlineQueue<QueuedItem<P>>;
  readonly #batchWaitMs: number;
  /** Called with a head popped because no batch can meet its deadline; `sloInfeasible`: not even a batch of one sent at its arrival. */
  readonly #expireHead: (item: QueuedItem<P>, sloInfeasible: boolean) => void;

  constructor(
    queue: PriorityDeadlineQueue<QueuedItem<P>>,
    batchWaitMs: number,
    expireHead: (item: QueuedItem<P>, sloInfeasible: boolean) => void,
  ) {
    this.#queue = queue;
    this.#batchWaitMs = batchWaitMs;
    this.#expireHead = expireHead;
  }

  /**
   * The next step for `replica`. `usualSlackMs`: the smoothed slack of queries at enqueue.
   * Precondition: the queue holds no query whose deadline is <= now.
   */
  decide(replica: FormingReplica, now: number, usualSlackMs: number): BatchDecision {
    const ctl = replica.controller;
    const max = ctl.batchSizeMax();
    let reset = false;
    for (;;) {
      const head = this.#queue.peek();
      if (head === undefined) return { kind: 'empty' };
      const observedMax = ctl.observedSizeMax();
      const remainingUs = (head.deadlineMs - now) * 1000;
      let sizeMax = max;
      let count = Math.min(max, this.#queue.levelSize(head.priority));
      let predictedUs = ctl.predictLatencyUs(count);
      if (predictedUs > remainingUs && observedMax > 0 && count > 2 * observedMax) {
        // Far beyond the largest measured batch the estimate only extrapolates (conservatively): the
        // batch grows to at most twice that size, is measured, and the next may grow again. Heads are
        // expired against this size, not against a guess about a larger one.
        sizeMax = 2 * observedMax;
        count = sizeMax;
        predictedUs = ctl.predictLatencyUs(count);
      }
      if (predictedUs <= remainingUs) return this.#fillSendOrWait(ctl, head, count, sizeMax, predictedUs, now);
      const fit = largestFitting(ctl, count, remainingUs);
      // Never size a batch for the oldest query by default: under overload the queue is full of old
      // queries, and a batch sized for each head in turn keeps it old, so every batch stays small (the
      // bistable collapse of docs/reliability.md §2). Only a head with a tighter SLO than usual (mixed
      // SLOs) may shrink the batch, and only when the queries after it stay feasible.
      if (fit >= 1 && isTighterThanUsual(head, usualSlackMs) && this.#shrinkKeepsRestFeasible(ctl, fit, sizeMax, now)) {
        return { kind: 'send', count: fit, predictedUs: ctl.predictLatencyUs(fit), probe: false };
      }
      if (fit === 0 && isFresh(head, now) && !isTighterThanUsual(head, usualSlackMs)) {
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
        if (now - replica.lastProbeMs >= usualSlackMs) {
          replica.lastProbeMs = now;
          return { kind: 'send', count: 1, predictedUs: ctl.predictLatencyUs(1), probe: true };
        }
      }
      this.#queue.pop();
      this.#expire(ctl, head);
    }
  }

  /**
   * The head's level fits a batch of `count`: fill it from less urgent levels, then send it, or wait
   * for more queries (delayed batching).
   */
  #fillSendOrWait(
    ctl: BatchSizeController,
    head: QueuedItem<P>,
    count: number,
    max: number,
    predictedUs: number,
    now: number,
  ): BatchDecision {
    // count < max means the head's level is all in the batch: what may follow is the next level's.
    const fill = count < max && this.#queue.size > count ? this.#fill(ctl, head, count, max, now) : null;
    const n = fill?.count ?? count;
    const tightestMs = fill?.tightestMs ?? head.deadlineMs;
    if (n < max && this.#batchWaitMs > 0) {
      const untilMs = Math.min(head.enqueuedMs + this.#batchWaitMs, tightestMs - ctl.predictLatencyUs(max) / 1000);
      if (untilMs > now + kEpsilonMs) return { kind: 'wait', untilMs };
    }
    return { kind: 'send', count: Math.max(1, n), predictedUs: fill === null ? predictedUs : ctl.predictLatencyUs(n), probe: false };
  }

  /**
   * Step 2: add less urgent levels to a batch of `count` (the head's whole level), each as far as the batch
   * still meets every deadline in it. A level's head that the batch with that whole level (up to the
   * batch size) cannot serve is expired, as at the head's level, unless it is fresh (then the fill stops:
   * a fresh query is not dropped on an estimate); the tightest deadline of a more urgent level only limits
   * how many join.
   */
  #fill(ctl: BatchSizeController, head: QueuedItem<P>, count: number, max: number, now: number): { count: number; tightestMs: number } {
    const queue = this.#queue;
    let n = count;
    let tightestMs = head.deadlineMs;
    for (let p = queue.levelBelow(head.priority); p >= 0 && n < max; ) {
      const levelHead = queue.levelHead(p)!;
      const room = Math.min(max - n, queue.levelSize(p));
      const bindingMs = Math.min(tightestMs, levelHead.deadlineMs);
      if (ctl.predictLatencyUs(n + room) <= (bindingMs - now) * 1000) {
        n += room;
        tightestMs = bindingMs;
        p = queue.levelBelow(p);
        continue;
      }
      if (levelHead.deadlineMs < tightestMs && !isFresh(levelHead, now)) {
        queue.popLevel(p);
        this.#expire(ctl, levelHead);
        if (queue.levelSize(p) === 0) p = queue.levelBelow(p);
        continue;
      }
      const fit = largestFitting(ctl, n + room, (bindingMs - now) * 1000);
      if (fit > n) {
        n = fit;
        tightestMs = bindingMs;
      }
      break;
    }
    return { count: n, tightestMs };
  }

  /** Reports a popped query expired: SLO-infeasible when its SLO is shorter than the measured mean of a batch of one. */
  #expire(ctl: BatchSizeController, item: QueuedItem<P>): void {
    this.#expireHead(item, ctl.optimisticLatencyUs(1) > (item.deadlineMs - item.enqueuedMs) * 1000);
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
}

/** Waited less than 10% of its slack at enqueue. */
function isFresh(item: QueuedItem<unknown>, now: number): boolean {
  return now - item.enqueuedMs <= 0.1 * (item.deadlineMs - item.enqueuedMs);
}

/** Its SLO (slack at enqueue) is under half the usual one: it comes from a tighter app than most. */
function isTighterThanUsual(item: QueuedItem<unknown>, usualSlackMs: number): boolean {
  return item.deadlineMs - item.enqueuedMs < 0.5 * usualSlackMs;
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
