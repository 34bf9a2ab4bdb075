// Exp4's combine step: merge the outputs of the models that answered by the deadline into one output.
//
// outputs[i] is model i's output, or `undefined` when it has not arrived (late, failed, not asked).
// Straggler handling is the paper's: combine only what arrived, with the weights renormalised over
// the arrived models (if those weights sum to 0, the arrived models count equally).
//
//   mean (numbers):  ŷ = Σ w_i·y_i / Σ w_i.
//                    confidence = weight share of the arrived models with |y_i − ŷ| ≤ tolerance.
//                    In `mean` mode numeric strings ("1.5") count as numbers, and outputs that are
//                    not numbers are left out (they are not contributors).
//   vote (labels):   each arrived model votes its output with its weight; outputs are the same label
//                    when their canonical text is equal (strings as is, other JSON via stringify).
//                    The label with the most weight wins; ties go to the label whose first voter has
//                    the lowest model index. confidence = winner's weight share.
//   auto:            mean when every arrived output is a JS number, else vote.
//
// The result is `default` (the caller answers with the app's default output) when nothing usable
// arrived, or when confidence < confidenceMin.

import type { CombineMode } from './params.js';
import { asNumber, canonicalText } from './loss_fn.js';

export interface CombineOptions {
  mode: CombineMode;
  /** Absolute tolerance for numeric agreement (≥ 0). */
  tolerance: number;
  /** In [0, 1]; below it the result is `default`. */
  confidenceMin: number;
}

export type DefaultReason = 'nothing_arrived' | 'low_confidence';

export type CombineResult =
  | { kind: 'combined'; output: unknown; confidence: number; contributors: number[]; agreeing: number[] }
  | { kind: 'default'; reason: DefaultReason; confidence: number; contributors: number[]; agreeing: number[] };

/** A combined confidence as answers show it: rounded to 6 decimals (an Exp4 answer's and a pipeline stage's alike). */
export function roundConfidence(confidence: number): number {
  return Math.round(confidence * 1e6) / 1e6;
}

export function combine(outputs: ReadonlyArray<unknown>, weights: Float64Array, options: CombineOptions): CombineResult {
  if (outputs.length > weights.length) throw new RangeError(`combine: ${outputs.length} outputs but ${weights.length} weights`);
  let mode = options.mode;
  if (mode === 'auto') {
    mode = 'mean';
    for (const o of outputs) {
      if (o !== undefined && (typeof o !== 'number' || !Number.isFinite(o))) {
        mode = 'vote';
        break;
      }
    }
  }
  const contributors: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i];
    if (o === undefined) continue;
    if (mode === 'mean') {
      const y = asNumber(o);
      if (Number.isNaN(y)) continue;
      values.push(y);
    }
    contributors.push(i);
  }
  if (contributors.length === 0) return { kind: 'default', reason: 'nothing_arrived', confidence: 0, contributors, agreeing: [] };

  const w = renormalised(contributors, weights);
  const result = mode === 'mean' ? weightedMean(contributors, values, w, options.tolerance) : weightedVote(contributors, outputs, w);
  if (result.confidence < options.confidenceMin) {
    return { kind: 'default', reason: 'low_confidence', confidence: result.confidence, contributors, agreeing: result.agreeing };
  }
  return { kind: 'combined', output: result.output, confidence: result.confidence, contributors, agreeing: result.agreeing };
}

/** Weights of `models`, summing to 1 (equal when their weights sum to 0 or are invalid). */
function renormalised(models: number[], weights: Float64Array): Float64Array {
  const w = new Float64Array(models.length);
  let sum = 0;
  for (let j = 0; j < models.length; j++) {
    const x = weights[models[j]!]!;
    w[j] = x > 0 && Number.isFinite(x) ? x : 0;
    sum += w[j]!;
  }
  if (!(sum > 0)) return w.fill(1 / models.length);
  for (let j = 0; j < w.length; j++) w[j] = w[j]! / sum;
  return w;
}

interface Verdict {
  output: unknown;
  confidence: number;
  agreeing: number[];
}

function weightedMean(models: number[], values: number[], w: Float64Array, tolerance: number): Verdict {
  let mean = 0;
  for (let j = 0; j < models.length; j++) mean += w[j]! * values[j]!;
  let confidence = 0;
  const agreeing: number[] = [];
  for (let j = 0; j < models.length; j++) {
    if (Math.abs(values[j]! - mean) <= tolerance) {
      confidence += w[j]!;
      agreeing.push(models[j]!);
    }
  }
  return { output: mean, confidence: Math.min(1, confidence), agreeing };
}

function weightedVote(models: number[], outputs: ReadonlyArray<unknown>, w: Float64Array): Verdict {
  // Map iteration follows insertion order, i.e. the lowest model index of each label first.
  const tally = new Map<string, { weight: number; output: unknown; voters: number[] }>();
  for (let j = 0; j < models.length; j++) {
    const o = outputs[models[j]!];
    const key = canonicalText(o);
    const entry = tally.get(key);
    if (entry === undefined) tally.set(key, { weight: w[j]!, output: o, voters: [models[j]!] });
    else {
      entry.weight += w[j]!;
      entry.voters.push(models[j]!);
    }
  }
  let best: { weight: number; output: unknown; voters: number[] } | undefined;
  for (const entry of tally.values()) if (best === undefined || entry.weight > best.weight) best = entry;
  return { output: best!.output, confidence: Math.min(1, best!.weight), agreeing: best!.voters };
}
