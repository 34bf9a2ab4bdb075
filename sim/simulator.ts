// Deterministic batching simulator: drives the real ModelScheduler (src/batching) with a simulated clock,
// seeded arrivals and simulated containers, and checks invariants as it goes:
//   - no query is sent at or after its deadline, nor when the predicted batch latency does not fit before it;
//   - every query leaves exactly once (completed, expired or rejected) and nothing is left at the end;
//   - no batch is answered twice;
//   - with a priority mix: a batch is a prefix of the queue's order, i.e. no query that waits (never sent)
//     is more urgent than the least urgent query in the batch, nor due earlier at that same priority.
// A violated invariant throws SimInvariantError, whose message starts with the seed (replay with run.ts).
// All times are simulated milliseconds: results say nothing about wall-clock speed.

import { ModelScheduler, type ExpireReason, type QueuedItem, type RejectReason } from '../src/batching/model_scheduler.js';
import type { SchedulerOptions } from '../src/batching/scheduler_options.js';
import { createPrng, type Prng } from '../src/lib/prng.js';
import { arrivalGaps, type ArrivalSpec } from './arrivals.js';
import { SimClock } from './sim_clock.js';
import { SimContainer, type SimContainerModel } from './sim_container.js';
import { batchOrderViolation, PriorityMix, type PriorityShare, type SimPriorityTally } from './sim_priorities.js';

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
  /** Priorities of arriving queries (drawn with their shares, from a PRNG of their own); absent: all normal (0). */
  priorityMix?: readonly PriorityShare[];
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
  /**
   * Queries that left without a prediction (expired or rejected) more than 1 ms after they arrived:
   * shed late (a batch dropped them, or their deadline passed in the queue) rather than at admission.
   */
  lateDefaultCount: number;
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
  /** Only with a priorityMix: the tallies per priority. */
  byPriority?: Record<number, SimPriorityTally>;
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
  deadlineMs: number;
  priority: number;
  /** The batch it was last sent in; -1 while it was never sent. */
  batchId: number;
  state: 'queued' | 'done';
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function runSimulation(config: SimConfig): SimResult {
  return new BatchingSimulation(config).run();
}

/** One run: the scheduler, its simulated replicas and arrivals, the invariant checks and the tallies. */
class BatchingSimulation {
  readonly #config: SimConfig;
  readonly #clock = new SimClock(0);
  readonly #latencyPrng: Prng;
  readonly #mix: PriorityMix | null;
  readonly #scheduler: ModelScheduler<Query>;
  readonly #containers = new Map<number, SimContainer>();
  /** Queries that have not left yet, by token. */
  readonly #queries = new Map<number, Query>();
  readonly #answeredBatchIds = new Set<number>();
  // The scheduler probes at most once per smoothed SLO slack per replica; with one SLO that slack
  // never drops below half of it.
  readonly #probeIntervalMinMs: number;
  readonly #lastProbeMs = new Map<number, number>();
  #nextReplicaId = 1;
  #nextToken = 1;
  // Tallies for the result; all but batches and probeCount count only queries arriving after warmup.
  readonly #batches: BatchTrace[] = [];
  readonly #latenciesMs: number[] = [];
  #offeredCount = 0;
  #completedCount = 0;
  #completedInSloCount = 0;
  #probeCount = 0;
  #lateDefaultCount = 0;
  readonly #expiredCount: Record<ExpireReason, number> = { deadline: 0, replica_failed: 0, cancelled: 0, shutdown: 0 };
  readonly #rejectedCount: Record<RejectReason, number> = { queue_full: 0, deadline_unreachable: 0, no_replica: 0 };

  constructor(config: SimConfig) {
    this.#config = config;
    this.#latencyPrng = createPrng(config.seed ^ 0x5bd1e995);
    this.#mix = config.priorityMix === undefined ? null : new PriorityMix(config.priorityMix, config.seed);
    this.#probeIntervalMinMs = 0.5 * config.sloMs;
    this.#scheduler = new ModelScheduler<Query>(config.scheduler, this.#clock, {
      sendBatch: (replicaId, batchId, items, predictedLatencyUs, probe) =>
        this.#sendBatch(replicaId, batchId, items, predictedLatencyUs, probe),
      expire: (item, reason) => {
        const q = this.#leave(item, `expire(${reason})`);
        if (this.#counted(q)) this.#expiredCount[reason]++;
        this.#countDefault(q);
      },
      reject: (item, reason) => {
        const q = this.#leave(item, `reject(${reason})`);
        if (this.#counted(q)) this.#rejectedCount[reason]++;
        this.#countDefault(q);
      },
    });
  }

  run(): SimResult {
    const config = this.#config;
    for (const model of config.replicas) this.#addReplica(model);
    for (const event of config.events ?? []) this.#clock.setTimer(event.atMs, () => this.#applyEvent(event));
    const gap = arrivalGaps(config.arrival, createPrng(config.seed));
    const arrive = (): void => {
      if (this.#arrive()) this.#clock.setTimer(gap(this.#clock.nowMs()), arrive);
    };
    this.#clock.setTimer(gap(0), arrive);
    // Run until every query has left (in-flight timeouts included), then stop.
    const clock = this.#clock;
    while (clock.pendingTimerCount > 0 && clock.nextTimerMs() < config.durationMs + 10 * 60_000) clock.advanceTo(clock.nextTimerMs());
    this.#checkDrained();
    this.#scheduler.close();
    return this.#result();
  }

  #fail(message: string): never {
    throw new SimInvariantError(this.#config.seed, message);
  }

  #counted(q: Query): boolean {
    return q.arrivalMs >= this.#config.warmupMs;
  }

  #countDefault(q: Query): void {
    if (this.#counted(q) && this.#clock.nowMs() - q.arrivalMs > 1) this.#lateDefaultCount++;
  }

  #addReplica(model: SimContainerModel): void {
    const id = this.#nextReplicaId++;
    this.#containers.set(id, new SimContainer(model, this.#clock, this.#latencyPrng));
    this.#scheduler.addReplica(id);
  }

  #applyEvent(event: SimEvent): void {
    if (event.kind === 'add') return this.#addReplica(event.model);
    const id = event.replicaIndex + 1;
    const container = this.#containers.get(id) ?? this.#fail(`event on unknown replica index ${event.replicaIndex}`);
    if (event.kind === 'slowdown') container.slowdownFactor = event.factor;
    else {
      container.kill();
      this.#clock.setTimer(event.detectMs, () => this.#scheduler.removeReplica(id));
    }
  }

  /** A query arrives now; false once arrivals have ended (then nothing arrives). */
  #arrive(): boolean {
    const now = this.#clock.nowMs();
    if (now >= this.#config.durationMs) return false;
    const priority = this.#mix?.draw() ?? 0;
    const deadlineMs = now + this.#config.sloMs;
    const q: Query = { token: this.#nextToken++, arrivalMs: now, deadlineMs, priority, batchId: -1, state: 'queued' };
    this.#queries.set(q.token, q);
    if (this.#counted(q)) {
      this.#offeredCount++;
      if (this.#mix !== null) this.#mix.tallies[priority]!.offeredCount++;
    }
    this.#scheduler.enqueue({ token: q.token, deadlineMs, priority, payload: q });
    return true;
  }

  /** A query leaves the scheduler (completed, expired or rejected): exactly once. */
  #leave(item: QueuedItem<Query>, how: string): Query {
    const q = this.#queries.get(item.token) ?? this.#fail(`${how}: unknown token ${item.token}`);
    if (q.state !== 'queued') this.#fail(`${how}: token ${item.token} left twice`);
    q.state = 'done';
    this.#queries.delete(item.token);
    return q;
  }

  #sendBatch(replicaId: number, batchId: number, items: readonly QueuedItem<Query>[], predictedLatencyUs: number, probe: boolean): void {
    const now = this.#clock.nowMs();
    if (probe) this.#checkProbe(replicaId, batchId, items.length, now);
    for (const item of items) {
      if (!(item.deadlineMs > now))
        this.#fail(`batch ${batchId}: token ${item.token} sent at ${now} after its deadline ${item.deadlineMs}`);
      if (!probe && predictedLatencyUs / 1000 > item.deadlineMs - now + 1e-9) {
        this.#fail(
          `batch ${batchId}: token ${item.token} sent with ${item.deadlineMs - now} ms left, predicted ${predictedLatencyUs / 1000} ms`,
        );
      }
    }
    if (this.#mix !== null) this.#checkOrder(batchId, items);
    const container = this.#containers.get(replicaId) ?? this.#fail(`batch ${batchId} sent to unknown replica ${replicaId}`);
    container.submit(items.length, () => this.#batchDone(replicaId, batchId, items.length, now));
  }

  /** A batch is a prefix of the scheduler's order (sim_priorities.ts); marks its queries sent. */
  #checkOrder(batchId: number, items: readonly QueuedItem<Query>[]): void {
    const sent = items.map((item) => item.payload);
    for (const q of sent) q.batchId = batchId;
    const violation = batchOrderViolation(batchId, sent, this.#queries.values());
    if (violation !== null) this.#fail(violation);
  }

  /** A probe re-measures a replica whose estimate says nothing fits: one query, rate-limited. */
  #checkProbe(replicaId: number, batchId: number, batchSize: number, now: number): void {
    if (batchSize !== 1) this.#fail(`batch ${batchId}: a probe of ${batchSize} queries`);
    const last = this.#lastProbeMs.get(replicaId) ?? -Infinity;
    if (now - last < this.#probeIntervalMinMs) this.#fail(`batch ${batchId}: probes ${now - last} ms apart on replica ${replicaId}`);
    this.#lastProbeMs.set(replicaId, now);
    this.#probeCount++;
  }

  #batchDone(replicaId: number, batchId: number, batchSize: number, sentMs: number): void {
    if (this.#answeredBatchIds.has(batchId)) this.#fail(`batch ${batchId} answered twice`);
    this.#answeredBatchIds.add(batchId);
    const done = this.#scheduler.onBatchDone(batchId);
    const now = this.#clock.nowMs();
    const stats = this.#scheduler.stats().replicas.find((r) => r.replicaId === replicaId);
    this.#batches.push({ atMs: now, replicaId, batchSize, batchSizeMaxAfter: stats?.batchSizeMax ?? 0, latencyMs: now - sentMs });
    if (done === null) return;
    for (const item of done) {
      const q = this.#leave(item, 'completed');
      if (!this.#counted(q)) continue;
      this.#completedCount++;
      this.#latenciesMs.push(now - q.arrivalMs);
      if (now > item.deadlineMs) continue;
      this.#completedInSloCount++;
      if (this.#mix !== null) this.#mix.tallies[q.priority]!.completedInSloCount++;
    }
  }

  #checkDrained(): void {
    const queries = this.#queries;
    if (queries.size > 0) this.#fail(`${queries.size} queries never left (e.g. token ${queries.keys().next().value})`);
    const stats = this.#scheduler.stats();
    // A hung replica keeps its timed-out batch (and its slot) until it is removed; its queries have left.
    if (stats.queuedCount !== 0 || stats.inFlightQueryCount !== 0 || stats.inFlightBatchCount > stats.batchTimedOutCount) {
      this.#fail(`scheduler not drained: ${JSON.stringify(stats)}`);
    }
  }

  #result(): SimResult {
    const latenciesMs = this.#latenciesMs.sort((a, b) => a - b);
    const { seed, durationMs, warmupMs } = this.#config;
    const measuredMs = durationMs - warmupMs;
    const batches = this.#batches;
    const offeredCount = this.#offeredCount;
    const completedCount = this.#completedCount;
    const completedInSloCount = this.#completedInSloCount;
    const batchSizeSum = batches.reduce((sum, b) => sum + b.batchSize, 0);
    return {
      seed,
      offeredCount,
      completedCount,
      completedInSloCount,
      expiredCount: this.#expiredCount,
      rejectedCount: this.#rejectedCount,
      probeCount: this.#probeCount,
      lateDefaultCount: this.#lateDefaultCount,
      goodputPerS: (completedInSloCount / measuredMs) * 1000,
      inSloShareOfCompleted: completedCount > 0 ? completedInSloCount / completedCount : 1,
      inSloShareOfOffered: offeredCount > 0 ? completedInSloCount / offeredCount : 1,
      latencyMsP50: quantile(latenciesMs, 0.5),
      latencyMsP99: quantile(latenciesMs, 0.99),
      batchSizeMean: batches.length > 0 ? batchSizeSum / batches.length : 0,
      batches,
      ...(this.#mix === null ? {} : { byPriority: this.#mix.tallies }),
    };
  }
}
