// Deterministic batching simulator: drives the real ModelScheduler (src/batching) with a simulated clock,
// seeded arrivals and simulated containers, and checks invariants as it goes:
//   - no query is sent at or after its deadline, nor when the predicted batch latency does not fit before it;
//   - every query leaves exactly once (completed, expired or rejected) and nothing is left at the end;
//   - no batch is answered twice.
// A violated invariant throws SimInvariantError, whose message starts with the seed (replay with run.ts).
// All times are simulated milliseconds: results say nothing about wall-clock speed.

import { ModelScheduler, type ExpireReason, type QueuedItem, type RejectReason } from '../src/batching/model_scheduler.js';
import type { SchedulerOptions } from '../src/batching/scheduler_options.js';
import { createPrng } from '../src/lib/prng.js';
import { arrivalGaps, type ArrivalSpec } from './arrivals.js';
import { SimClock } from './sim_clock.js';
import { SimContainer, type SimContainerModel } from './sim_container.js';

export type SimEvent =
  | { atMs: number; kind: 'slowdown'; replicaIndex: number; factor: number }
  | { atMs: number; kind: 'kill'; replicaIndex: number; detectMs: number }
  | { atMs: number; kind: 'add'; model: SimContainerModel };

export interface SimConfig {
  seed: number;
  durationMs: number;
  /** Statistics ignore queries arriving before this time. */
  warmupMs: number;
  sloMs: number;
  arrival: ArrivalSpec;
  replicas: SimContainerModel[];
  scheduler: Partial<SchedulerOptions>;
  events?: SimEvent[];
}

export interface BatchTrace {
  atMs: number;
  replicaId: number;
  batchSize: number;
  /** batchSizeMax of that replica after the batch completed. */
  batchSizeMaxAfter: number;
  latencyMs: number;
}

export interface SimResult {
  seed: number;
  offeredCount: number;
  completedCount: number;
  completedInSloCount: number;
  expiredCount: Record<ExpireReason, number>;
  rejectedCount: Record<RejectReason, number>;
  /** Queries sent as probes (the estimate said nothing fits; see ModelScheduler). */
  probeCount: number;
  /** Completed-within-SLO queries per simulated second (after warmup). */
  goodputPerS: number;
  /** Share of completed (sent and answered) queries that met their deadline. */
  inSloShareOfCompleted: number;
  /** Share of offered queries answered with a prediction within the SLO. */
  inSloShareOfOffered: number;
  latencyMsP50: number;
  latencyMsP99: number;
  batchSizeMean: number;
  batches: BatchTrace[];
}

export class SimInvariantError extends Error {
  constructor(seed: number, message: string) {
    super(`seed ${seed}: ${message}`);
    this.name = 'SimInvariantError';
  }
}

interface Query {
  token: number;
  arrivalMs: number;
  state: 'queued' | 'done';
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function runSimulation(config: SimConfig): SimResult {
  const { seed, sloMs, warmupMs, durationMs } = config;
  const fail = (message: string): never => {
    throw new SimInvariantError(seed, message);
  };
  const clock = new SimClock(0);
  const arrivalPrng = createPrng(seed);
  const latencyPrng = createPrng(seed ^ 0x5bd1e995);
  const containers = new Map<number, SimContainer>();
  const queries = new Map<number, Query>();
  const batches: BatchTrace[] = [];
  const answered = new Set<number>();
  const latenciesMs: number[] = [];
  let offeredCount = 0;
  let completedCount = 0;
  let completedInSloCount = 0;
  let _sentQueryCount = 0;
  const expiredCount: Record<ExpireReason, number> = { deadline: 0, replica_failed: 0, cancelled: 0, shutdown: 0 };
  const rejectedCount: Record<RejectReason, number> = { queue_full: 0, deadline_unreachable: 0, no_replica: 0 };

  const counted = (q: Query): boolean => q.arrivalMs >= warmupMs;
  const leave = (item: QueuedItem<Query>, how: string): Query => {
    const q = queries.get(item.token) ?? fail(`${how}: unknown token ${item.token}`);
    if (q.state !== 'queued') fail(`${how}: token ${item.token} left twice`);
    q.state = 'done';
    queries.delete(item.token);
    return q;
  };

  // The scheduler probes at most once per smoothed SLO slack per replica; with one SLO that slack
  // never drops below half of it.
  const kProbeIntervalMinMs = 0.5 * config.sloMs;
  const lastProbeMs = new Map<number, number>();
  let probeCount = 0;
  const scheduler: ModelScheduler<Query> = new ModelScheduler<Query>(config.scheduler, clock, {
    sendBatch(replicaId, batchId, items, predictedLatencyUs, probe) {
      const now = clock.nowMs();
      if (probe) {
        // A probe re-measures a replica whose estimate says nothing fits: one query, rate-limited.
        if (items.length !== 1) fail(`batch ${batchId}: a probe of ${items.length} queries`);
        const last = lastProbeMs.get(replicaId) ?? -Infinity;
        if (now - last < kProbeIntervalMinMs) fail(`batch ${batchId}: probes ${now - last} ms apart on replica ${replicaId}`);
        lastProbeMs.set(replicaId, now);
        probeCount++;
      }
      for (const item of items) {
        if (!(item.deadlineMs > now)) fail(`batch ${batchId}: token ${item.token} sent at ${now} after its deadline ${item.deadlineMs}`);
        if (!probe && predictedLatencyUs / 1000 > item.deadlineMs - now + 1e-9) {
          fail(
            `batch ${batchId}: token ${item.token} sent with ${item.deadlineMs - now} ms left, predicted ${predictedLatencyUs / 1000} ms`,
          );
        }
      }
      _sentQueryCount += items.length;
      const container = containers.get(replicaId) ?? fail(`batch ${batchId} sent to unknown replica ${replicaId}`);
      const sentMs = now;
      container.submit(items.length, () => {
        if (answered.has(batchId)) fail(`batch ${batchId} answered twice`);
        answered.add(batchId);
        const done = scheduler.onBatchDone(batchId);
        const stats = scheduler.stats().replicas.find((r) => r.replicaId === replicaId);
        batches.push({
          atMs: clock.nowMs(),
          replicaId,
          batchSize: items.length,
          batchSizeMaxAfter: stats?.batchSizeMax ?? 0,
          latencyMs: clock.nowMs() - sentMs,
        });
        if (done === null) return;
        for (const item of done) {
          const q = leave(item, 'completed');
          const latencyMs = clock.nowMs() - q.arrivalMs;
          if (!counted(q)) continue;
          completedCount++;
          latenciesMs.push(latencyMs);
          if (clock.nowMs() <= item.deadlineMs) completedInSloCount++;
        }
      });
    },
    expire(item, reason) {
      const q = leave(item, `expire(${reason})`);
      if (counted(q)) expiredCount[reason]++;
    },
    reject(item, reason) {
      const q = leave(item, `reject(${reason})`);
      if (counted(q)) rejectedCount[reason]++;
    },
  });

  let nextReplicaId = 1;
  const addReplica = (model: SimContainerModel): void => {
    const id = nextReplicaId++;
    containers.set(id, new SimContainer(model, clock, latencyPrng));
    scheduler.addReplica(id);
  };
  for (const model of config.replicas) addReplica(model);
  for (const event of config.events ?? []) {
    clock.setTimer(event.atMs, () => {
      if (event.kind === 'add') return addReplica(event.model);
      const id = event.replicaIndex + 1;
      const container = containers.get(id) ?? fail(`event on unknown replica index ${event.replicaIndex}`);
      if (event.kind === 'slowdown') container.slowdownFactor = event.factor;
      else {
        container.kill();
        clock.setTimer(event.detectMs, () => scheduler.removeReplica(id));
      }
    });
  }

  let nextToken = 1;
  const gap = arrivalGaps(config.arrival, arrivalPrng);
  const arrive = (): void => {
    const now = clock.nowMs();
    if (now >= durationMs) return;
    const q: Query = { token: nextToken++, arrivalMs: now, state: 'queued' };
    queries.set(q.token, q);
    if (counted(q)) offeredCount++;
    scheduler.enqueue({ token: q.token, deadlineMs: now + sloMs, payload: q });
    clock.setTimer(gap(now), arrive);
  };
  clock.setTimer(gap(0), arrive);

  // Run until every query has left (in-flight timeouts included), then stop.
  while (clock.pendingTimerCount > 0 && clock.nextTimerMs() < durationMs + 10 * 60_000) clock.advanceTo(clock.nextTimerMs());
  if (queries.size > 0) fail(`${queries.size} queries never left (e.g. token ${queries.keys().next().value})`);
  const stats = scheduler.stats();
  // A hung replica keeps its timed-out batch (and its slot) until it is removed; its queries have left.
  if (stats.queuedCount !== 0 || stats.inFlightQueryCount !== 0 || stats.inFlightBatchCount > stats.batchTimedOutCount) {
    fail(`scheduler not drained: ${JSON.stringify(stats)}`);
  }
  scheduler.close();

  latenciesMs.sort((a, b) => a - b);
  const measuredMs = durationMs - warmupMs;
  const batchSizeSum = batches.reduce((sum, b) => sum + b.batchSize, 0);
  return {
    seed,
    offeredCount,
    completedCount,
    completedInSloCount,
    expiredCount,
    rejectedCount,
    probeCount,
    goodputPerS: (completedInSloCount / measuredMs) * 1000,
    inSloShareOfCompleted: completedCount > 0 ? completedInSloCount / completedCount : 1,
    inSloShareOfOffered: offeredCount > 0 ? completedInSloCount / offeredCount : 1,
    latencyMsP50: quantile(latenciesMs, 0.5),
    latencyMsP99: quantile(latenciesMs, 0.99),
    batchSizeMean: batches.length > 0 ? batchSizeSum / batches.length : 0,
    batches,
  };
}
