// One model version's actor inside a batching worker. The ModelScheduler (pure: EDF queue per priority, AIMD or
// fixed batch sizes per replica, delayed batching, shedding, in-flight timeouts) decides what to
// send where; this actor owns what the scheduler must not: the links to the replicas, the encoding
// of batches, the answers, and the measurements the metrics endpoint reads. Its ports (replies,
// replica links, clock, the worker's ring) are injected, so it runs against fakes in unit tests.

import assert from 'node:assert/strict';
import { outputToJson } from './output_json.js';
import type { Clock } from '../lib/clock.js';
import { ModelScheduler, type ExpireReason, type QueuedItem, type RejectReason } from './model_scheduler.js';
import { DefaultReason } from '../ipc/records.js';
import type { InputType } from '../input_types.js';
import type { PredictMessage } from '../rpc/protocol.js';
import { newBucketHistogram, observeBucket } from '../lib/bucket_histogram.js';
import { kPriorityNormal, type ModelActorSpec, type ModelActorStats } from './protocol.js';
import type { ReplicaConnector, ReplicaLink, ReplicaLinkEvents } from './replica_link.js';

interface QueryPayload {
  /** Element count (numeric) or byte length. */
  count: number;
  bytes: Buffer;
}

/** Replica state changes the worker reports to the main thread. */
export type ReplicaStateListener = (replicaId: number, connected: boolean, reason: string) => void;

/** The worker's query ring, as an actor sees it around replica events. */
export interface ActorIo {
  /** Take every query published so far (before a replica's answer frees it for the next batch). */
  pull(): void;
  /** A replica may have become free: make sure new queries wake the worker again. */
  rearm(): void;
}

/** Where answers go (the worker's reply ring: ReplyWriter). */
export interface ReplySink {
  ok(token: number, outputJson: string): void;
  fallback(token: number, reason: DefaultReason, detail?: string): void;
}

/** What an actor is built with: its ports to the worker and the replicas, and the clock. */
export interface ModelActorDeps {
  replies: ReplySink;
  connect: ReplicaConnector;
  clock: Clock;
  onReplicaState: ReplicaStateListener;
  io: ActorIo;
}

/** Upper bounds (inclusive) of the histogram buckets the actor keeps; the last bucket is +Inf. */
/** How long after its last refusal a shedding model keeps asking to be woken for each query burst. */
const kShedWakeWindowMs = 100;

export const kBatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
export const kLatencyUsBuckets = [100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

export class ModelActor {
  readonly spec: ModelActorSpec;
  readonly #deps: ModelActorDeps;
  readonly #replies: ReplySink;
  readonly #clock: Clock;
  readonly #replicas = new Map<number, ReplicaLink>();
  readonly #scheduler: ModelScheduler<QueryPayload>;
  readonly #sentAtMs = new Map<number, number>();
  readonly #batchSize = newBucketHistogram(kBatchSizeBuckets);
  readonly #batchLatencyUs = newBucketHistogram(kLatencyUsBuckets);
  readonly #queueUs = newBucketHistogram(kLatencyUsBuckets);
  #modelErrorCount = 0;
  /** When this model last refused a query at arrival for its deadline (shedding, or an SLO-infeasible query). */
  #lastShedMs = -Infinity;
  /** Smoothed replica round trip of a batch, µs (Infinity until one is measured). */
  #roundTripUsEwma = Infinity;

  constructor(spec: ModelActorSpec, deps: ModelActorDeps) {
    this.spec = spec;
    this.#deps = deps;
    this.#replies = deps.replies;
    this.#clock = deps.clock;
    this.#scheduler = new ModelScheduler<QueryPayload>(spec.scheduler, deps.clock, {
      sendBatch: (replicaId, batchId, items) => this.#sendBatch(replicaId, batchId, items),
      expire: (item, reason, sloInfeasible) => this.#onExpire(item, reason, sloInfeasible === true),
      reject: (item, reason, sloInfeasible) => this.#onReject(item, reason, sloInfeasible === true),
      // A replica that does not answer in time: drop the connection (its batches go back to the
      // queue) and dial again; the manager restarts the process if it is dead.
      replicaTimedOut: (replicaId) => this.#replicas.get(replicaId)?.reset('in-flight batch timed out'),
    });
  }

  /** Queue what follows (enqueue, cancel) without sending until release(): see ModelScheduler.hold. */
  hold(): void {
    this.#scheduler.hold();
  }

  release(): void {
    this.#scheduler.release();
  }

  /** `priority`: 0 (normal, the default) .. kPriorityMax, larger = more urgent (batched first when both wait). */
  enqueue(token: number, deadlineMs: number, count: number, bytes: Buffer, priority: number = kPriorityNormal): void {
    this.#scheduler.enqueue({ token, deadlineMs, priority, payload: { count, bytes } });
  }

  cancel(token: number): void {
    this.#scheduler.cancel(token);
  }

  /** The model's batch size changed (admin set_model_batch_size): -1 adaptive, else a fixed maximum. */
  setBatchSize(batchSize: number): void {
    this.#scheduler.setBatchSize(batchSize);
  }

  get openQueryCount(): number {
    return this.#scheduler.openQueryCount;
  }

  /** Whether an answer to what is in flight is expected within `us` (nothing in flight: true). */
  expectsAnswerWithinUs(us: number): boolean {
    return this.#sentAtMs.size === 0 || this.#roundTripUsEwma < us;
  }

  /** Could a query for this model be sent (or refused) right now? */
  canSendNow(): boolean {
    return this.#scheduler.canSendNow();
  }

  /**
   * Should a query published now wake the worker? Yes when it could be sent at once, and while this
   * model sheds (an overflow query was refused within the last kShedWakeWindowMs): a refusal must
   * be answered when the query arrives, not when the batch in flight returns and the worker next
   * pulls the ring (docs/reliability.md §2).
   */
  wantsWake(): boolean {
    return this.#scheduler.canSendNow() || this.#clock.nowMs() - this.#lastShedMs < kShedWakeWindowMs;
  }

  /** `secret`: what the replica must prove it holds (rpc/replica_auth.ts); null: no check. */
  addReplica(replicaId: number, host: string, port: number, secret: Uint8Array | null = null): void {
    this.removeReplica(replicaId);
    const { name: model, version, inputType } = this.spec;
    const address = { model, version, inputType, replicaId, host, port, secret };
    this.#replicas.set(replicaId, this.#deps.connect(address, this.#linkEvents(replicaId)));
  }

  removeReplica(replicaId: number): void {
    const link = this.#replicas.get(replicaId);
    if (link === undefined) return;
    this.#replicas.delete(replicaId);
    link.close('replica removed');
  }

  close(): void {
    for (const id of [...this.#replicas.keys()]) this.removeReplica(id);
    this.#scheduler.close();
  }

  stats(): ModelActorStats {
    return {
      modelIndex: this.spec.modelIndex,
      name: this.spec.name,
      version: this.spec.version,
      scheduler: this.#scheduler.stats(),
      batchSize: structuredClone(this.#batchSize),
      batchLatencyUs: structuredClone(this.#batchLatencyUs),
      queueUs: structuredClone(this.#queueUs),
      modelErrorCount: this.#modelErrorCount,
    };
  }

  #linkEvents(replicaId: number): ReplicaLinkEvents {
    return {
      onReady: () => {
        this.#deps.onReplicaState(replicaId, true, '');
        this.#scheduler.addReplica(replicaId);
        this.#deps.io.rearm();
      },
      onDown: (reason, lostBatchIds) => {
        for (const id of lostBatchIds) this.#sentAtMs.delete(id);
        // Its in-flight batches are re-queued by the scheduler, deadlines and retries permitting.
        this.#scheduler.removeReplica(replicaId);
        this.#deps.onReplicaState(replicaId, false, reason);
        this.#deps.io.rearm();
      },
      onResult: (batchId, outputs) => this.#onResult(batchId, outputs),
      onBatchError: (batchId, message) => {
        const items = this.#finish(batchId);
        if (items !== null) this.#fail(items, `${this.spec.name}:${this.spec.version} failed: ${message}`);
        this.#deps.io.rearm();
      },
    };
  }

  #onResult(batchId: number, outputs: unknown[]): void {
    const items = this.#finish(batchId);
    if (items !== null) {
      if (outputs.length !== items.length) {
        this.#fail(items, `${this.spec.name}:${this.spec.version} returned ${outputs.length} outputs for a batch of ${items.length}`);
      } else {
        for (let i = 0; i < items.length; i++) this.#replies.ok(items[i]!.token, outputToJson(outputs[i]));
      }
    }
    this.#deps.io.rearm();
  }

  /** A batch is back: first take the queries published meanwhile, so the next batch includes them. */
  #finish(batchId: number): readonly QueuedItem<QueryPayload>[] | null {
    this.#deps.io.pull();
    const sentAtMs = this.#sentAtMs.get(batchId);
    if (sentAtMs !== undefined) {
      this.#sentAtMs.delete(batchId);
      const roundTripUs = (this.#clock.nowMs() - sentAtMs) * 1000;
      observeBucket(this.#batchLatencyUs, roundTripUs);
      this.#roundTripUsEwma =
        this.#roundTripUsEwma === Infinity ? roundTripUs : this.#roundTripUsEwma + (roundTripUs - this.#roundTripUsEwma) / 8;
    }
    return this.#scheduler.onBatchDone(batchId);
  }

  #fail(items: readonly QueuedItem<QueryPayload>[], message: string): void {
    this.#modelErrorCount++;
    for (const item of items) this.#replies.fallback(item.token, DefaultReason.ModelError, message);
  }

  #sendBatch(replicaId: number, batchId: number, items: readonly QueuedItem<QueryPayload>[]): void {
    if (items.length === 0) assert.fail('the scheduler sent an empty batch');
    const link = this.#replicas.get(replicaId);
    const nowMs = this.#clock.nowMs();
    if (link === undefined || !link.send(encodeBatch(batchId, this.spec.inputType, items))) {
      // Defer: the scheduler may be mid-#resume(); it re-queues the batch's queries.
      queueMicrotask(() => this.#scheduler.onBatchFailed(batchId, true));
      return;
    }
    this.#sentAtMs.set(batchId, nowMs);
    observeBucket(this.#batchSize, items.length);
    for (const item of items) observeBucket(this.#queueUs, (nowMs - item.enqueuedMs) * 1000);
  }

  #onExpire(item: QueuedItem<QueryPayload>, reason: ExpireReason, sloInfeasible: boolean): void {
    // 'cancelled' needs no answer (the client is gone), nor 'deadline' once the deadline has come (the
    // frontend answers it then). A query dropped before its deadline, because no batch can serve it
    // in time, is answered at once rather than left to wait for its deadline: shed when a backlog is
    // to blame, SLO-infeasible (not shed) when its SLO is shorter than the model's measured latency for
    // one query (batch_formation.ts). A failed replica or a shutdown is answered at once, with the reason.
    if (reason === 'deadline') {
      if (item.deadlineMs > this.#clock.nowMs()) this.#replies.fallback(item.token, unreachableReason(sloInfeasible));
    } else if (reason === 'replica_failed')
      this.#replies.fallback(item.token, DefaultReason.ReplicaFailed, 'its replica failed or timed out');
    else if (reason === 'shutdown') this.#replies.fallback(item.token, DefaultReason.NoReplica);
  }

  #onReject(item: QueuedItem<QueryPayload>, reason: RejectReason, sloInfeasible: boolean): void {
    switch (reason) {
      case 'no_replica':
        this.#replies.fallback(item.token, DefaultReason.NoReplica);
        break;
      case 'queue_full':
        this.#replies.fallback(item.token, DefaultReason.QueueFull);
        break;
      case 'deadline_unreachable':
        // SLO-infeasible too: a refusal at arrival, to be answered at once (wantsWake).
        this.#lastShedMs = this.#clock.nowMs();
        this.#replies.fallback(item.token, unreachableReason(sloInfeasible));
        break;
    }
  }
}

/** A query that cannot meet its deadline: shed (a backlog), or SLO-infeasible (too slow even when idle: not shed). */
function unreachableReason(sloInfeasible: boolean): DefaultReason {
  return sloInfeasible ? DefaultReason.SloInfeasible : DefaultReason.DeadlineUnreachable;
}

function encodeBatch(id: number, type: InputType, items: readonly QueuedItem<QueryPayload>[]): PredictMessage {
  const n = items.length;
  if (type === 'strings') return { t: 'predict', id, type, n, items: items.map((q) => q.payload.bytes.toString('utf8')) };
  if (type === 'bytes') return { t: 'predict', id, type, n, items: items.map((q) => q.payload.bytes) };
  const lens: number[] = new Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    lens[i] = items[i]!.payload.count;
    total += items[i]!.payload.bytes.length;
  }
  const data = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const q of items) offset += q.payload.bytes.copy(data, offset);
  return { t: 'predict', id, type, n, lens, data };
}
