// One model of a simulated pipeline: the REAL ModelScheduler (src/batching/model_scheduler.ts) with
// the planned batch size (fixed maximum, or -1 adaptive AIMD) in front of `replicas` simulated
// replicas on a SimClock. A replica serves one batch at a time (the cluster's default of one
// batch in flight per replica); a batch of n takes
//   t(n) × noise + hopOverheadUs,   noise lognormal with mean 1 and the profiled relative deviation,
// drawn from the model's own seeded PRNG. Every sub-query ends exactly once through its callback:
// answered (with the time), or dropped (expired or rejected by the scheduler).

import { ModelScheduler, type QueuedItem } from '../batching/model_scheduler.js';
import type { Prng } from '../lib/prng.js';
import type { SimClock } from '../lib/sim_clock.js';
import { interpolateLatencyStdUs, interpolateLatencyUs, type ModelProfile } from './profile.js';

/** How a sub-query ended: answered at `atMs`, or dropped by the scheduler. */
export type CallEnd = { ok: true; atMs: number } | { ok: false; atMs: number };

interface Pending {
  deadlineMs: number;
  done: (end: CallEnd) => void;
}

interface SimReplica {
  busy: boolean;
  jobs: Array<{ size: number; onDone: () => void }>;
}

export class SimModel {
  readonly #profile: ModelProfile;
  readonly #clock: SimClock;
  readonly #prng: Prng;
  readonly #scheduler: ModelScheduler<Pending>;
  readonly #replicas = new Map<number, SimReplica>();
  #nextToken = 1;
  #open = 0;
  #callCount = 0;
  #batchCount = 0;
  #batchedCount = 0;
  #busyMs = 0;

  constructor(profile: ModelProfile, config: { batchSize: number; replicas: number }, clock: SimClock, prng: Prng) {
    this.#profile = profile;
    this.#clock = clock;
    this.#prng = prng;
    this.#scheduler = new ModelScheduler<Pending>({ batchSize: config.batchSize }, clock, {
      sendBatch: (replicaId, batchId, items) => this.#sendBatch(replicaId, batchId, items.length),
      expire: (item) => this.#end(item, false),
      reject: (item) => this.#end(item, false),
    });
    for (let id = 1; id <= config.replicas; id++) {
      this.#replicas.set(id, { busy: false, jobs: [] });
      this.#scheduler.addReplica(id);
    }
  }

  /**
   * Queues a sub-query due at `deadlineMs`; `done` is called once, possibly synchronously (rejected).
   * Returns its token, for cancel().
   */
  submit(deadlineMs: number, done: (end: CallEnd) => void): number {
    const token = this.#nextToken++;
    this.#open++;
    this.#callCount++;
    this.#scheduler.enqueue({ token, deadlineMs, payload: { deadlineMs, done } });
    return token;
  }

  /** Drops a sub-query still queued (its `done` is called, not ok); one already sent runs to its end. */
  cancel(token: number): void {
    this.#scheduler.cancel(token);
  }

  /** Sub-queries submitted that have not ended. */
  get openCount(): number {
    return this.#open;
  }

  /** Sub-queries submitted. */
  get callCount(): number {
    return this.#callCount;
  }

  get meanBatch(): number {
    return this.#batchCount > 0 ? this.#batchedCount / this.#batchCount : 0;
  }

  /** Share of the replicas' time spent serving batches over `windowMs`. */
  utilization(windowMs: number): number {
    return windowMs > 0 ? this.#busyMs / (windowMs * this.#replicas.size) : 0;
  }

  close(): void {
    this.#scheduler.close();
  }

  /** Latency (ms) of one batch of n: the profiled mean times seeded lognormal noise, plus the hop. */
  #serviceMs(n: number): number {
    const meanUs = interpolateLatencyUs(this.#profile, n);
    const cv = meanUs > 0 ? interpolateLatencyStdUs(this.#profile, n) / meanUs : 0;
    let factor = 1;
    if (cv > 0) {
      const sigma2 = Math.log(1 + cv * cv);
      factor = Math.exp(Math.sqrt(sigma2) * this.#prng.normal() - sigma2 / 2);
    }
    return (meanUs * factor + this.#profile.hopOverheadUs) / 1000;
  }

  #sendBatch(replicaId: number, batchId: number, size: number): void {
    const replica = this.#replicas.get(replicaId);
    if (replica === undefined) throw new Error(`pipeline simulation: batch ${batchId} sent to unknown replica ${replicaId}`);
    replica.jobs.push({ size, onDone: () => this.#batchDone(batchId, size) });
    if (!replica.busy) this.#startNext(replica);
  }

  #startNext(replica: SimReplica): void {
    const job = replica.jobs.shift();
    replica.busy = job !== undefined;
    if (job === undefined) return;
    const ms = this.#serviceMs(job.size);
    this.#busyMs += ms;
    this.#clock.setTimer(ms, () => {
      job.onDone();
      this.#startNext(replica);
    });
  }

  #batchDone(batchId: number, size: number): void {
    this.#batchCount++;
    this.#batchedCount += size;
    const items = this.#scheduler.onBatchDone(batchId);
    for (const item of items ?? []) this.#end(item, true);
  }

  #end(item: QueuedItem<Pending>, ok: boolean): void {
    this.#open--;
    item.payload.done({ ok, atMs: this.#clock.nowMs() });
  }
}
