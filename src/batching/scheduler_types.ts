// Types shared by ModelScheduler and its owner (the batching worker): queued items, hooks, stats.

export interface QueuedItem<P> {
  readonly token: number;
  readonly deadlineMs: number;
  /** 0 (normal) .. kPriorityMax, larger = more urgent (protocol.ts). */
  readonly priority: number;
  readonly payload: P;
  /** Scheduler clock time at enqueue. */
  readonly enqueuedMs: number;
  /** Times this query has been sent. */
  sendCount: number;
}

export type ExpireReason = 'deadline' | 'replica_failed' | 'cancelled' | 'shutdown';
export type RejectReason = 'queue_full' | 'deadline_unreachable' | 'no_replica';

export interface SchedulerHooks<P> {
  /** `probe`: a single query sent although the latency model said it could not fit (never-stuck re-measurement). */
  sendBatch(replicaId: number, batchId: number, items: readonly QueuedItem<P>[], predictedLatencyUs: number, probe: boolean): void;
  /**
   * `sloInfeasible` (with 'deadline' or 'deadline_unreachable'): not a backlog; the query's SLO is shorter than
   * the latency model's measured estimate for a batch of one (load_shedding.ts, batch_formation.ts).
   */
  expire(item: QueuedItem<P>, reason: ExpireReason, sloInfeasible?: boolean): void;
  reject(item: QueuedItem<P>, reason: RejectReason, sloInfeasible?: boolean): void;
  replicaTimedOut?(replicaId: number, batchId: number): void;
}

export interface ReplicaStats {
  replicaId: number;
  batchSizeMax: number;
  inFlightBatchCount: number;
  predictedLatencyUsAtMax: number;
}

export interface SchedulerStats {
  queuedCount: number;
  inFlightBatchCount: number;
  inFlightQueryCount: number;
  latencyBudgetUs: number;
  replicas: ReplicaStats[];
  enqueuedCount: number;
  sentQueryCount: number;
  batchSentCount: number;
  batchDoneCount: number;
  batchFailedCount: number;
  batchTimedOutCount: number;
  /** Queries sent although the latency model said they could not fit (to re-measure a replica). */
  probeCount: number;
  expiredCount: Record<ExpireReason, number>;
  rejectedCount: Record<RejectReason, number>;
}
