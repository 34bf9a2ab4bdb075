// Per-replica batch latency model: t(n) = a + b*n, fitted by exponentially weighted least squares over the
// measured (batchSize, latencyUs) pairs, so that it follows a replica that slows down or speeds up
// (forgetting factor 0.95: the last ~20 batches dominate). The prediction is conservative:
//
//   mean(n)             = max(0, a) + max(0, b) * n
//   predictLatencyUs(n) = mean(n) + marginSigmaCount * max(residualStdUs, relativeStd * mean(n))
//
// relativeStd is the smoothed deviation of each new sample from the prediction made before it (prior 10%).
// It scales with the batch (noise from GC or CPU contention grows with the work), and it grows at once
// when the replica changes speed, which keeps predictions safe while the fit catches up.
//
// Degenerate cases: no sample yet -> 0 (optimistic: the first batches are how we learn); all samples at
// (nearly) one batch size n0 -> mean * max(1, n / n0) (an upper bound, since a >= 0) plus the margin.
// Used by the scheduler to drop queries a batch cannot serve in time and to estimate throughput.

import { OptionChecks } from '../lib/options.js';

export interface LatencyModelOptions {
  /** Weight kept by old samples at each new sample, in (0, 1). */
  forgetFactor: number;
  /** Residual standard deviations added to the fitted mean. */
  marginSigmaCount: number;
}

export const kDefaultLatencyModelOptions: Readonly<LatencyModelOptions> = Object.freeze({
  forgetFactor: 0.95,
  marginSigmaCount: 3,
});

const kRelativeVarPrior = 0.1 * 0.1;
const kChecks = new OptionChecks('latencyModel');

export class LatencyModel {
  readonly #forget: number;
  readonly #marginSigmaCount: number;
  #sw = 0;
  #sx = 0;
  #sy = 0;
  #sxx = 0;
  #sxy = 0;
  #syy = 0;
  #sampleCount = 0;
  // Fitted parameters, recomputed on each sample.
  #interceptUs = 0;
  #slopeUs = 0;
  #anchorSize = 0;
  #anchorUs = 0;
  #degenerate = true;
  #residualStdUs = 0;
  #lastSize = 0;
  /** Largest batch size among the samples the fit still rests on. */
  #observedSizeMax = 0;
  #lastUs = 0;
  #relativeVar = kRelativeVarPrior;

  constructor(options: Partial<LatencyModelOptions> = {}) {
    const merged = { ...kDefaultLatencyModelOptions, ...options };
    kChecks.number('forgetFactor', merged.forgetFactor, 0, 1, '()');
    kChecks.number('marginSigmaCount', merged.marginSigmaCount, 0);
    this.#forget = merged.forgetFactor;
    this.#marginSigmaCount = merged.marginSigmaCount;
  }

  /** Deviations of margin in predictLatencyUs by default (the configured margin). */
  get marginSigmaCount(): number {
    return this.#marginSigmaCount;
  }

  get sampleCount(): number {
    return this.#sampleCount;
  }

  addSample(batchSize: number, latencyUs: number): void {
    if (!(batchSize >= 1) || !Number.isFinite(latencyUs) || latencyUs < 0) return;
    const f = this.#forget;
    if (this.#sampleCount > 0) {
      const meanUs = this.#meanUs(batchSize);
      if (meanUs > 0) {
        const error = latencyUs / meanUs - 1;
        this.#relativeVar = f * this.#relativeVar + (1 - f) * error * error;
      }
    }
    this.#sw = this.#sw * f + 1;
    this.#sx = this.#sx * f + batchSize;
    this.#sy = this.#sy * f + latencyUs;
    this.#sxx = this.#sxx * f + batchSize * batchSize;
    this.#sxy = this.#sxy * f + batchSize * latencyUs;
    this.#syy = this.#syy * f + latencyUs * latencyUs;
    this.#sampleCount++;
    this.#lastSize = batchSize;
    this.#observedSizeMax = Math.max(this.#observedSizeMax, batchSize);
    this.#lastUs = latencyUs;
    this.#refit();
  }

  /**
   * Forgets everything but the most recent sample (as a single batch size) and resets the relative error to
   * its prior. The scheduler calls it when the model claims that even a fresh query cannot be served by a
   * batch of one: a fit skewed by a transition must not block the replica forever, since a replica that
   * receives no batch produces no sample to correct it.
   */
  resetToLatest(): void {
    if (this.#sampleCount === 0) return;
    this.#sw = 1;
    this.#sx = this.#lastSize;
    this.#sy = this.#lastUs;
    this.#sxx = this.#lastSize * this.#lastSize;
    this.#sxy = this.#lastSize * this.#lastUs;
    this.#syy = this.#lastUs * this.#lastUs;
    this.#relativeVar = kRelativeVarPrior;
    this.#observedSizeMax = this.#lastSize;
    this.#refit();
  }

  /** Largest measured batch size the estimate rests on (0 before any sample): beyond it, it extrapolates. */
  observedSizeMax(): number {
    return this.#observedSizeMax;
  }

  /** Predicted latency with `sigmaCount` deviations of margin (default: the configured margin). */
  predictLatencyUs(batchSize: number, sigmaCount = this.#marginSigmaCount): number {
    if (this.#sampleCount === 0) return 0;
    const meanUs = this.#meanUs(batchSize);
    return meanUs + sigmaCount * Math.max(this.#residualStdUs, Math.sqrt(this.#relativeVar) * meanUs);
  }

  /**
   * Optimistic latency of a batch of this size, for estimating throughput (load shedding): the
   * fitted mean without the margin, and, while every sample has (nearly) one size n0, no growth
   * beyond n0 (batching is assumed free until a larger batch is measured). Shedding on the
   * conservative prediction instead would keep batches at the size they started at: queries would
   * be refused before a larger batch could ever be formed and measured.
   */
  optimisticLatencyUs(batchSize: number): number {
    if (this.#sampleCount === 0) return 0;
    if (this.#degenerate) return this.#anchorUs;
    return Math.max(0, this.#meanUs(batchSize));
  }

  #meanUs(batchSize: number): number {
    if (this.#degenerate) return this.#anchorUs * Math.max(1, batchSize / this.#anchorSize);
    return this.#interceptUs + this.#slopeUs * batchSize;
  }

  #refit(): void {
    const w = this.#sw;
    const meanX = this.#sx / w;
    const meanY = this.#sy / w;
    const varX = this.#sxx / w - meanX * meanX;
    const covXY = this.#sxy / w - meanX * meanY;
    const varY = Math.max(0, this.#syy / w - meanY * meanY);
    // Variance of batch sizes below 0.25 means (nearly) one size: the slope is not identifiable.
    this.#degenerate = varX < 0.25;
    let residualVar: number;
    if (this.#degenerate) {
      this.#anchorSize = Math.max(1, meanX);
      this.#anchorUs = meanY;
      residualVar = varY;
    } else {
      let slope = covXY / varX;
      let intercept = meanY - slope * meanX;
      if (slope < 0) {
        slope = 0;
        intercept = meanY;
      } else if (intercept < 0) {
        intercept = 0;
        slope = this.#sxy / this.#sxx;
      }
      this.#slopeUs = slope;
      this.#interceptUs = intercept;
      // Weighted mean squared residual of the (possibly clamped) line.
      const a = intercept;
      const b = slope;
      residualVar = (this.#syy - 2 * a * this.#sy - 2 * b * this.#sxy + a * a * w + 2 * a * b * this.#sx + b * b * this.#sxx) / w;
    }
    this.#residualStdUs = Math.sqrt(Math.max(0, residualVar));
  }
}
