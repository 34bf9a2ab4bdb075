// The batching workers as the query-core simulator sees them: a BatchingPort whose "workers" are
// simulated. One worker per model (placement): a bounded ring of records that refuses a query when
// full, batches taken from it when the worker is idle, seeded service times, and replies that are
// sometimes a model error or a failed replica, come after the deadline, or never come (the replica
// died with the batch). Like the real worker, a query whose deadline passed while queued, and a
// cancelled one, get no reply: the query core answers them at the deadline (or not at all).

import assert from 'node:assert/strict';
import { DefaultReason, ReplyStatus } from '../../src/ipc/records.js';
import type { Placement } from '../../src/batching/protocol.js';
import type { InputTypeCode } from '../../src/input_types.js';
import type { Clock } from '../../src/lib/clock.js';
import type { Prng } from '../../src/lib/prng.js';
import type { BatchingPort } from '../../src/query/ports.js';

export interface SimModelSpec {
  readonly name: string;
  /** Service time of a batch of n: (baseMs + perItemMs * n) * (1 + noiseFraction * N(0, 1)), at least 10% of it. */
  readonly baseMs: number;
  readonly perItemMs: number;
  readonly noiseFraction: number;
  readonly batchMax: number;
}

/** Shares (0..1) of the queries of a finished batch whose reply goes wrong, each way. */
export interface SimFaults {
  readonly modelErrorShare: number;
  readonly replicaFailedShare: number;
  /** The reply comes after the query's deadline (the core must ignore it). */
  readonly lateShare: number;
  /** No reply ever (the replica died with the batch): the core answers at the deadline. */
  readonly dropShare: number;
}

export type ReplyFn = (token: number, status: ReplyStatus, reason: DefaultReason, text: string) => void;

export interface SimPoolCounts {
  submitted: number;
  refused: number;
  cancelRecords: number;
  cancelsDropped: number;
  expiredInRing: number;
  unreachable: number;
  replies: number;
  lateReplies: number;
  droppedReplies: number;
  modelErrors: number;
}

interface Job {
  token: number;
  deadlineMs: number;
  key: string;
}

/** What a model answers for an input: a pure function of the model and the input, so any cached
 * or coalesced answer can be checked. */
export function simOutputJson(modelName: string, key: string): string {
  return JSON.stringify(`${modelName}:${key}`);
}

/** The key an input is known by in the simulator (same bytes → same key). */
export function simInputKey(input: readonly number[] | string | Buffer): string {
  if (typeof input === 'string') return `s${input}`;
  if (Buffer.isBuffer(input)) return `b${input.toString('hex')}`;
  return `n${input.join(',')}`;
}

class SimModelWorker {
  readonly ring: Job[] = [];
  busy = false;

  constructor(readonly spec: SimModelSpec) {}
}

export class SimBatchingPool implements BatchingPort {
  readonly inputBytesMax = 64 * 1024;
  readonly counts: SimPoolCounts = {
    submitted: 0,
    refused: 0,
    cancelRecords: 0,
    cancelsDropped: 0,
    expiredInRing: 0,
    unreachable: 0,
    replies: 0,
    lateReplies: 0,
    droppedReplies: 0,
    modelErrors: 0,
  };
  /** Every token ever written, with its deadline (a cancel must name one). */
  readonly #written = new Map<number, number>();
  readonly #workers: SimModelWorker[];
  readonly #clock: Clock;
  readonly #prng: Prng;
  readonly #faults: SimFaults;
  readonly #ringRecordsMax: number;
  readonly #fail: (message: string) => never;
  #onReply: ReplyFn = () => undefined;

  constructor(options: {
    models: readonly SimModelSpec[];
    ringRecordsMax: number;
    faults: SimFaults;
    clock: Clock;
    prng: Prng;
    fail: (message: string) => never;
  }) {
    this.#workers = options.models.map((spec) => new SimModelWorker(spec));
    this.#clock = options.clock;
    this.#prng = options.prng;
    this.#faults = options.faults;
    this.#ringRecordsMax = options.ringRecordsMax;
    this.#fail = options.fail;
  }

  /** Where replies go (the query core's onReply); set once the core exists. */
  connect(onReply: ReplyFn): void {
    this.#onReply = onReply;
  }

  placement(modelIndex: number): Placement {
    assert(modelIndex >= 0 && modelIndex < this.#workers.length);
    return { workerIndex: modelIndex, modelIndex };
  }

  /** Whether a query with this token was ever written to a ring. */
  wasWritten(token: number): boolean {
    return this.#written.has(token);
  }

  /** Records still in rings or in service (0 once the run has drained). */
  get queuedCount(): number {
    return this.#workers.reduce((n, w) => n + w.ring.length + (w.busy ? 1 : 0), 0);
  }

  submitNumeric(
    placement: Placement,
    token: number,
    deadlineMs: number,
    _priority: number,
    _type: InputTypeCode,
    values: readonly number[],
  ): boolean {
    return this.#submit(placement, token, deadlineMs, simInputKey(values));
  }

  submitBytes(
    placement: Placement,
    token: number,
    deadlineMs: number,
    _priority: number,
    _type: InputTypeCode,
    value: string | Buffer,
  ): boolean {
    return this.#submit(placement, token, deadlineMs, simInputKey(value));
  }

  cancel(placement: Placement, token: number): void {
    if (!this.#written.has(token)) this.#fail(`cancel of token ${token}, which was never written to a ring`);
    const worker = this.#worker(placement);
    // A cancel is a ring record too: best effort, dropped when the ring is full.
    if (worker.ring.length >= this.#ringRecordsMax) {
      this.counts.cancelsDropped++;
      return;
    }
    this.counts.cancelRecords++;
    const i = worker.ring.findIndex((job) => job.token === token);
    if (i >= 0) worker.ring.splice(i, 1);
  }

  #worker(placement: Placement): SimModelWorker {
    return this.#workers[placement.modelIndex] ?? this.#fail(`unknown placement ${JSON.stringify(placement)}`);
  }

  #submit(placement: Placement, token: number, deadlineMs: number, key: string): boolean {
    const worker = this.#worker(placement);
    if (worker.ring.length >= this.#ringRecordsMax) {
      this.counts.refused++;
      return false;
    }
    if (this.#written.has(token)) this.#fail(`token ${token} written twice`);
    this.#written.set(token, deadlineMs);
    this.counts.submitted++;
    worker.ring.push({ token, deadlineMs, key });
    // The worker wakes on the doorbell: start a batch on the next turn if it is idle.
    if (!worker.busy) {
      worker.busy = true;
      this.#clock.setTimer(0, () => this.#startBatch(worker));
    }
    return true;
  }

  /** Take up to batchMax queries that can still make their deadline, and serve them. */
  #startBatch(worker: SimModelWorker): void {
    const nowMs = this.#clock.nowMs();
    const spec = worker.spec;
    const batch: Job[] = [];
    while (worker.ring.length > 0 && batch.length < spec.batchMax) {
      const job = worker.ring.shift()!;
      if (job.deadlineMs <= nowMs) {
        this.counts.expiredInRing++; // no reply: the core answers at the deadline
      } else if (job.deadlineMs - nowMs < spec.baseMs + spec.perItemMs) {
        this.counts.unreachable++;
        this.#reply(job, ReplyStatus.Default, DefaultReason.DeadlineUnreachable, '');
      } else {
        batch.push(job);
      }
    }
    if (batch.length === 0) {
      worker.busy = false;
      return;
    }
    const meanMs = spec.baseMs + spec.perItemMs * batch.length;
    const serviceMs = Math.max(0.1 * meanMs, meanMs * (1 + spec.noiseFraction * this.#prng.normal()));
    this.#clock.setTimer(serviceMs, () => {
      for (const job of batch) this.#finish(worker, job);
      this.#startBatch(worker);
    });
  }

  /** One query of a finished batch: its reply, or a fault. */
  #finish(worker: SimModelWorker, job: Job): void {
    const f = this.#faults;
    const u = this.#prng.next();
    if (u < f.dropShare) {
      this.counts.droppedReplies++;
      return;
    }
    let v = u - f.dropShare;
    if (v < f.lateShare) {
      // Held back until after the deadline (a slow reply drain, a reply ring that was full).
      this.counts.lateReplies++;
      const atMs = Math.max(this.#clock.nowMs(), job.deadlineMs) + 0.001 + this.#prng.next() * 5;
      this.#clock.setTimer(atMs - this.#clock.nowMs(), () => {
        this.#reply(job, ReplyStatus.Ok, DefaultReason.None, simOutputJson(worker.spec.name, job.key));
      });
      return;
    }
    v -= f.lateShare;
    if (v < f.modelErrorShare) {
      this.counts.modelErrors++;
      this.#reply(job, ReplyStatus.Default, DefaultReason.ModelError, 'simulated model error');
    } else if (v - f.modelErrorShare < f.replicaFailedShare) {
      this.#reply(job, ReplyStatus.Default, DefaultReason.ReplicaFailed, 'simulated replica failure');
    } else {
      this.#reply(job, ReplyStatus.Ok, DefaultReason.None, simOutputJson(worker.spec.name, job.key));
    }
  }

  #reply(job: Job, status: ReplyStatus, reason: DefaultReason, text: string): void {
    this.counts.replies++;
    this.#onReply(job.token, status, reason, text);
  }
}
