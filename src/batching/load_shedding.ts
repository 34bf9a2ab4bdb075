// Load shedding at enqueue (ModelScheduler): a query is rejected 'deadline_unreachable' when the
// queue ahead of it cannot be served before its deadline. The estimated wait is
// (queued + 1) / throughput, throughput being the sum over replicas of batchSizeMax / predict(batchSizeMax);
// the query is shed when that wait exceeds its remaining time by more than kBacklogLeniency. Skipped
// while a replica has no latency estimate, and when there is no backlog at all.

import type { BatchSizeController } from './aimd_controller.js';

/** What the estimate reads of one replica. */
export interface ServingReplica {
  readonly controller: BatchSizeController;
  readonly inFlight: { readonly size: number };
}

// The backlog estimate counts queued queries that will expire rather than be served (under overload the
// oldest ones do), so it over-estimates the wait; a query is rejected only when the estimated wait exceeds
// its remaining time by this fraction. Measured in the simulator: 1.0 rejects fresh queries while doomed old
// ones hold the queue, costing ~3% goodput at 2x overload; 0.5 keeps the goodput and still sheds early.
const kBacklogLeniency = 0.5;

/** Whether a query due at `deadlineMs`, behind `queuedCount` others, should be shed now. */
export function backlogExceedsDeadline(
  queuedCount: number,
  replicas: ReadonlyMap<number, ServingReplica>,
  inFlightPerReplica: number,
  deadlineMs: number,
  now: number,
): boolean {
  // No backlog, no shedding: with the queue empty and a replica free the query is sent at once,
  // and the per-batch check (predicted latency vs. deadline) is the one that applies.
  if (queuedCount === 0) {
    for (const r of replicas.values()) if (r.inFlight.size < inFlightPerReplica) return false;
  }
  let itemsPerMs = 0;
  for (const r of replicas.values()) {
    const max = r.controller.batchSizeMax();
    const predictedUs = r.controller.optimisticLatencyUs(max);
    if (!(predictedUs > 0)) return false;
    itemsPerMs += (max * 1000) / predictedUs;
  }
  return now + (queuedCount + 1) / itemsPerMs > deadlineMs + kBacklogLeniency * (deadlineMs - now);
}
