// Batch size controllers, one per replica. Both implement BatchSizeController and both keep a LatencyModel
// of the replica, which the scheduler uses to predict how long a batch of n queries will take.
//
// AimdController (paper §4.3.1, Clipper's README promise; the C++ never shipped it, spec §4.3c):
//   - additive increase: after a batch whose demand reached the limit (batchSize, or the queries queued when
//     it was formed, >= batchSizeMax) and whose measured latency stayed inside the budget,
//     batchSizeMax += additiveStep (capped at batchSizeCap, and not past a size the latency model already
//     predicts to exceed the budget);
//   - multiplicative backoff: after any batch whose latency exceeded the budget,
//     batchSizeMax = max(1, min(batchSizeMax - 1, floor(batchSizeMax * backoffFactor))) (factor 0.9 = -10%);
//   - only batches that hit the limit grow the size, so a lightly loaded replica does not inflate it without evidence;
//     a replica that slowed down shrinks, and grows back when it recovers (never stuck at 1: a batch of
//     size 1 that meets the budget grows it again). Clipper's `max_batch_size_` only ever grew (spec §12.2.6).
// The budget (µs of batch latency) is set by the owner: ModelScheduler derives it from the queries' SLO.
//
// FixedBatchSize: batch_size > 0 on the model; batchSizeMax() is that constant (a maximum: smaller batches
// are sent when fewer queries are queued, as in Clipper).

import { OptionChecks } from '../lib/options.js';
import { LatencyModel, type LatencyModelOptions } from './latency_model.js';

export interface BatchSizeController {
  batchSizeMax(): number;
  /**
   * Called once per completed batch with the measured send-to-reply latency. demandCount is how many
   * queries were queued when the batch was formed (default batchSize): a batch cut short because queries
   * could not meet their deadlines still shows that the size limit was reached.
   */
  onBatchDone(batchSize: number, latencyUs: number, demandCount?: number): void;
  /**
   * Conservative predicted latency of a batch of this size (0 before the first measurement), with
   * `sigmaCount` deviations of margin, at most the latency model's configured margin (the default).
   */
  predictLatencyUs(batchSize: number, sigmaCount?: number): number;
  /** Optimistic latency of a batch of this size, for throughput estimates (LatencyModel.optimisticLatencyUs). */
  optimisticLatencyUs(batchSize: number): number;
  /** Largest measured batch size the latency estimate rests on. */
  observedSizeMax(): number;
  /** Latency budget for one batch; AIMD steers towards it, a fixed size ignores it. */
  setLatencyBudgetUs(budgetUs: number): void;
  /** Drops latency evidence except the latest sample (see LatencyModel.resetToLatest). */
  resetLatencyModel(): void;
}

export interface AimdOptions {
  /** Batch size before any measurement. */
  batchSizeInitial: number;
  /** Upper bound of batchSizeMax. */
  batchSizeCap: number;
  additiveStep: number;
  /** Multiplier applied on backoff (0.9 = the paper's 10%). */
  backoffFactor: number;
  /** Batch latency budget until setLatencyBudgetUs is called. */
  latencyBudgetUs: number;
  latencyModel?: Partial<LatencyModelOptions>;
}

export const kDefaultAimdOptions: Readonly<AimdOptions> = Object.freeze({
  batchSizeInitial: 1,
  batchSizeCap: 1024,
  additiveStep: 1,
  backoffFactor: 0.9,
  latencyBudgetUs: 10_000,
});

/** Deviations of margin in the growth gate (the scheduler's deadline check uses the model's full margin). */
const kGrowthSigmaCount = 1;

const aimdChecks = new OptionChecks('aimd');
const schedulerChecks = new OptionChecks('scheduler');

/** What both controllers share: a latency model of the replica and the queries answered from it. */
abstract class LatencyBackedController implements BatchSizeController {
  protected readonly latency: LatencyModel;

  constructor(latencyModel?: Partial<LatencyModelOptions>) {
    this.latency = new LatencyModel(latencyModel);
  }

  abstract batchSizeMax(): number;
  abstract onBatchDone(batchSize: number, latencyUs: number, demandCount?: number): void;
  abstract setLatencyBudgetUs(budgetUs: number): void;

  predictLatencyUs(batchSize: number, sigmaCount?: number): number {
    const margin = this.latency.marginSigmaCount;
    return this.latency.predictLatencyUs(batchSize, sigmaCount === undefined ? margin : Math.min(sigmaCount, margin));
  }

  optimisticLatencyUs(batchSize: number): number {
    return this.latency.optimisticLatencyUs(batchSize);
  }

  observedSizeMax(): number {
    return this.latency.observedSizeMax();
  }

  resetLatencyModel(): void {
    this.latency.resetToLatest();
  }
}

export class AimdController extends LatencyBackedController {
  readonly #cap: number;
  readonly #step: number;
  readonly #backoff: number;
  #batchSizeMax: number;
  #budgetUs: number;

  constructor(options: Partial<AimdOptions> = {}) {
    const o = { ...kDefaultAimdOptions, ...options };
    super(o.latencyModel);
    aimdChecks.int('batchSizeCap', o.batchSizeCap, 1);
    aimdChecks.int('batchSizeInitial', o.batchSizeInitial, 1);
    aimdChecks.int('additiveStep', o.additiveStep, 1);
    aimdChecks.number('backoffFactor', o.backoffFactor, 0, 1, '()');
    aimdChecks.number('latencyBudgetUs', o.latencyBudgetUs, 0, Number.POSITIVE_INFINITY, '()');
    this.#cap = o.batchSizeCap;
    this.#step = o.additiveStep;
    this.#backoff = o.backoffFactor;
    this.#budgetUs = o.latencyBudgetUs;
    this.#batchSizeMax = Math.min(o.batchSizeInitial, o.batchSizeCap);
  }

  batchSizeMax(): number {
    return this.#batchSizeMax;
  }

  latencyBudgetUs(): number {
    return this.#budgetUs;
  }

  setLatencyBudgetUs(budgetUs: number): void {
    if (budgetUs > 0 && Number.isFinite(budgetUs)) this.#budgetUs = budgetUs;
  }

  onBatchDone(batchSize: number, latencyUs: number, demandCount = batchSize): void {
    this.latency.addSample(batchSize, latencyUs);
    if (latencyUs > this.#budgetUs) {
      const reduced = Math.min(this.#batchSizeMax - 1, Math.floor(this.#batchSizeMax * this.#backoff));
      this.#batchSizeMax = Math.max(1, reduced);
    } else if (Math.max(batchSize, demandCount) >= this.#batchSizeMax) {
      const next = Math.min(this.#cap, this.#batchSizeMax + this.#step);
      // Do not grow past what the latency model predicts to exceed the budget, with one deviation of
      // margin: AIMD probes upward and backs off on a measured overrun, while the scheduler's per-batch
      // check (with the full margin) keeps each sent batch within its deadline. Gating growth on the
      // full 3-sigma margin kept batches far below the best fixed size on a noisy machine; no margin
      // let growth overshoot after a slowdown until the fit caught up (docs/batching_benchmark.md).
      if (this.latency.predictLatencyUs(next, kGrowthSigmaCount) <= this.#budgetUs) this.#batchSizeMax = next;
    }
  }
}

export class FixedBatchSize extends LatencyBackedController {
  readonly #batchSize: number;

  constructor(batchSize: number, latencyModel?: Partial<LatencyModelOptions>) {
    schedulerChecks.int('batchSize', batchSize, 1);
    super(latencyModel);
    this.#batchSize = batchSize;
  }

  batchSizeMax(): number {
    return this.#batchSize;
  }

  setLatencyBudgetUs(): void {}

  onBatchDone(batchSize: number, latencyUs: number): void {
    this.latency.addSample(batchSize, latencyUs);
  }
}
