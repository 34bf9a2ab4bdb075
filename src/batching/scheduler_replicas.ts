// The replicas of one ModelScheduler (model_scheduler.ts) and the batches each has in flight: how a
// replica is registered (its batch-size controller) and which free replica gets the next batch.

import { AimdController, FixedBatchSize, type BatchSizeController } from './aimd_controller.js';
import type { SchedulerOptions } from './scheduler_options.js';
import type { QueuedItem } from './scheduler_types.js';

export interface Batch<P> {
  batchId: number;
  replica: Replica<P>;
  items: QueuedItem<P>[];
  sentMs: number;
  timer: unknown;
  timedOut: boolean;
  /** Queries queued when the batch was formed. */
  demandCount: number;
}

export interface Replica<P> {
  replicaId: number;
  controller: BatchSizeController;
  inFlight: Map<number, Batch<P>>;
  /** When this replica was last sent a probe (a query the latency model said could not fit). */
  lastProbeMs: number;
}

/** A replica's batch-size controller: AIMD, or a fixed size (Clipper's batch_size). */
export function newController(o: Readonly<SchedulerOptions>, latencyBudgetUs: number): BatchSizeController {
  const controller =
    o.batchSize > 0
      ? new FixedBatchSize(o.batchSize, o.latencyModel)
      : new AimdController({ ...o.aimd, batchSizeCap: o.batchSizeCap, latencyModel: o.latencyModel });
  controller.setLatencyBudgetUs(latencyBudgetUs);
  return controller;
}

/** A replica with nothing in flight and a fresh controller. */
export function newReplica<P>(replicaId: number, o: Readonly<SchedulerOptions>, latencyBudgetUs: number): Replica<P> {
  return { replicaId, controller: newController(o, latencyBudgetUs), inFlight: new Map(), lastProbeMs: -Infinity };
}

/**
 * The replica with a free slot and the fewest batches in flight; ties go to the first in map order
 * counting from position `rotation` (the caller advances it after each pick, so ties rotate).
 */
export function pickReplica<P>(
  replicas: ReadonlyMap<number, Replica<P>>,
  rotation: number,
  inFlightPerReplica: number,
): Replica<P> | undefined {
  let best: Replica<P> | undefined;
  let index = 0;
  const start = rotation % Math.max(1, replicas.size);
  let bestOrder = Infinity;
  for (const r of replicas.values()) {
    const order = (index - start + replicas.size) % replicas.size;
    index++;
    if (r.inFlight.size >= inFlightPerReplica) continue;
    if (best === undefined || r.inFlight.size < best.inFlight.size || (r.inFlight.size === best.inFlight.size && order < bestOrder)) {
      best = r;
      bestOrder = order;
    }
  }
  return best;
}
