// Batch formation: what ModelScheduler sends to one replica with a free in-flight slot, given the
// queue in EDF order (head = earliest deadline) and n = min(batchSizeMax_r, queued):
//   1. if predict_r(n) > head.deadline - now: if the head has a tighter SLO than usual (under half the
//      smoothed slack) and the query after a smaller batch could still be served by the next one, shrink n to
//      fit the head; otherwise expire the head ("cannot be met by the next batch") and repeat. Under overload
//      this drops the oldest queries and keeps batches large;
//   2. delayed batching: if n < batchSizeMax_r and batchWaitMs > 0, wait until
//      min(head.enqueued + batchWaitMs, head.deadline - predict_r(batchSizeMax_r));
//   3. send the n earliest-deadline queries.
// The one exception to "sent only if predicted to fit" is a probe: when even a fresh query does not fit a
// batch of one on an idle replica (an estimate resting on slow samples, which nothing would correct if
// nothing were sent), that query is sent alone, at most once per usual SLO per replica.

import type { BatchSizeController } from './aimd_controller.js';
import type { DeadlineQueue } from '../lib/deadline_queue.js';
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
  readonly #queue: DeadlineQueue<QueuedItem<P>>;
  readonly #batchWaitMs: number;
  /** Called with a head popped because no batch can meet its deadline. */
  readonly #expireHead: (item: QueuedItem<P>) => void;

  constructor(queue: DeadlineQueue<QueuedItem<P>>, batchWaitMs: number, expireHead: (item: QueuedItem<P>) => void) {
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
      const count = Math.min(max, this.#queue.size);
      const remainingUs = (head.deadlineMs - now) * 1000;
      const predictedUs = ctl.predictLatencyUs(count);
      if (predictedUs <= remainingUs) return this.#sendOrWait(ctl, head, count, max, predictedUs, now);
      const fit = largestFitting(ctl, count, remainingUs);
      // Far beyond the largest measured batch the estimate only extrapolates (conservatively): send the
      // largest batch it allows and measure it, rather than expire queries on a guess.
      const extrapolating = count > 2 * ctl.observedSizeMax();
      if (fit >= 1 && (extrapolating || (isTighterThanUsual(head, usualSlackMs) && this.#shrinkKeepsRestFeasible(ctl, fit, max, now)))) {
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
      this.#expireHead(head);
    }
  }

  /** The head fits a batch of `count`: send it, or wait for more queries (delayed batching). */
  #sendOrWait(ctl: BatchSizeController, head: QueuedItem<P>, count: number, max: number, predictedUs: number, now: number): BatchDecision {
    if (count < max && this.#batchWaitMs > 0) {
      const untilMs = Math.min(head.enqueuedMs + this.#batchWaitMs, head.deadlineMs - ctl.predictLatencyUs(max) / 1000);
      if (untilMs > now + kEpsilonMs) return { kind: 'wait', untilMs };
    }
    return { kind: 'send', count: Math.max(1, count), predictedUs, probe: false };
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
