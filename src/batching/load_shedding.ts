// Load shedding at enqueue (ModelScheduler): admission control. A query is rejected
// 'deadline_unreachable' at once when the batches ahead of it cannot finish before its deadline, so
// that under overload the queue holds only work that can still be served and the overflow is
// answered at arrival (a 429 or the default output within the same drain), not at its deadline.
//
// The estimate, for one replica serving batches of n = batchSizeMax in t(n) (the fitted mean):
//
//   completion = freeAt + (floor(queued / n) + 1) * t(n)
//
// freeAt is when the replica can take the next batch (now when it has a free in-flight slot, else
// the predicted end of its batch due first). With several replicas, n is their summed batch size,
// t(n) the time of one round (summed n over summed throughput) and freeAt the earliest. The mean,
// not the conservative prediction: batch formation drops the rare admitted query that the margin
// says cannot be served (answered at once too: model_actor.ts), and shedding on the margin would
// refuse work a full batch can do. Skipped while a replica has no latency estimate, and when there
// is no backlog at all.
//
// A refused query is SLO-infeasible, not shed, when no backlog is to blame: on every replica the fitted
// mean for a batch of one (while the fit rests on one batch size, its mean at that size) exceeds its whole
// remaining time, so it would miss its deadline with an empty queue and a free replica too. It is answered
// at once all the same, but not as overload (no 429: retrying or adding replicas cannot help). Never
// without a measurement on every replica (the estimate is then 0): such a query is judged as before.

import type { BatchSizeController } from './aimd_controller.js';

// Deviations of margin in the admission estimate: batch formation keeps the latency model's full margin
// (3), but on a noisy machine (relative deviation 20-40%) a full margin on both the batch in flight and
// the query's own batch refused most of the load a replica could serve (measured: 35% goodput at 2x).
const kAdmissionSigmaCount = 1;

/** What the estimate reads of one replica. */
export interface ServingReplica {
  readonly controller: BatchSizeController;
  readonly inFlight: ReadonlyMap<number, { readonly sentMs: number; readonly items: { readonly length: number } }>;
}

/** Where a new query would stand: queries ahead of it (at its priority or above) and the earliest deadline among them. */
export interface QueuePosition {
  aheadCount: number;
  /** The deadline of the first query ahead (Infinity when none): a batch must serve it too. */
  headDeadlineMs: number;
}

/** Whether a query due at `deadlineMs`, at `position` in the queue, should be shed now. */
export function backlogExceedsDeadline(
  position: QueuePosition,
  replicas: ReadonlyMap<number, ServingReplica>,
  inFlightPerReplica: number,
  deadlineMs: number,
  now: number,
): boolean {
  const queued = position.aheadCount;
  let freeAtMs = Infinity;
  for (const r of replicas.values()) freeAtMs = Math.min(freeAtMs, replicaFreeAtMs(r, inFlightPerReplica, now));
  // No backlog, no shedding: with the queue empty and a replica free the query is sent at once,
  // and the per-batch check (predicted latency vs. deadline) is the one that applies.
  if (queued === 0 && freeAtMs === now) return false;
  let roundSize = 0;
  let itemsPerMs = 0;
  for (const r of replicas.values()) {
    const n = r.controller.batchSizeMax();
    const batchMs = r.controller.optimisticLatencyUs(n) / 1000;
    if (!(batchMs > 0)) return false;
    roundSize += n;
    itemsPerMs += n / batchMs;
  }
  const rounds = Math.floor(queued / roundSize);
  // In the next round its batch holds at least the queries ahead of it, and itself; in a later round,
  // assume a full batch: the queries after it fill it, and it must not get too slow for any of them.
  const inRound = rounds === 0 ? queued + 1 : roundSize;
  let ownBatchMs = 0;
  for (const r of replicas.values()) {
    const share = Math.ceil((inRound * r.controller.batchSizeMax()) / roundSize);
    ownBatchMs = Math.max(ownBatchMs, batchLatencyMs(r.controller, share));
  }
  const doneMs = freeAtMs + (rounds * roundSize) / itemsPerMs + ownBatchMs;
  // In the next batch it must not make the batch too slow for the query at the queue's head, which
  // batch formation would then drop (late) to keep the batch: shed the newcomer now instead.
  const bindingMs = rounds === 0 ? Math.min(deadlineMs, position.headDeadlineMs) : deadlineMs;
  return doneMs > bindingMs;
}

/** Whether a query due at `deadlineMs` misses it even alone on an idle replica (see above); false without a measurement. */
export function sloInfeasible(replicas: ReadonlyMap<number, ServingReplica>, deadlineMs: number, now: number): boolean {
  if (replicas.size === 0) return false;
  for (const r of replicas.values()) {
    // 0 (no sample yet) is never above the remaining time.
    if (!(r.controller.optimisticLatencyUs(1) / 1000 > deadlineMs - now)) return false;
  }
  return true;
}

/**
 * A batch's latency as formation will judge it: the conservative prediction where the model has
 * measured batches this large, the fitted mean beyond (extrapolated, a conservative prediction of a
 * model measured only on small batches would shed the load that lets batches grow and be measured).
 */
function batchLatencyMs(ctl: BatchSizeController, size: number): number {
  return (size <= ctl.observedSizeMax() ? ctl.predictLatencyUs(size, kAdmissionSigmaCount) : ctl.optimisticLatencyUs(size)) / 1000;
}

/** When a replica can take its next batch: now with a free slot, else when its earliest batch should end. */
function replicaFreeAtMs(r: ServingReplica, inFlightPerReplica: number, now: number): number {
  if (r.inFlight.size < inFlightPerReplica) return now;
  let endMs = Infinity;
  for (const b of r.inFlight.values()) {
    endMs = Math.min(endMs, b.sentMs + batchLatencyMs(r.controller, b.items.length));
  }
  return Math.max(now, endMs);
}
