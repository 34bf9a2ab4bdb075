// Shared plumbing of the policies: feedback checks, the cached probability vector, select/snapshot
// and the serialised envelope. A concrete policy supplies computeProbs, update and stateJson.

import assert from 'node:assert/strict';
import { ClipperError } from '../../errors.js';
import { parsePolicyConfig, type PolicyConfig, type PolicyName } from './params.js';
import type { Prng } from '../../lib/prng.js';
import {
  checkFeedback,
  kSerializedVersion,
  stateArray,
  type Feedback,
  type SelectContext,
  type Selection,
  type SelectionMode,
  type SelectionPolicy,
  type SerializedPolicy,
} from './policy.js';
import { sampleIndex } from './sample_index.js';

export abstract class PolicyBase implements SelectionPolicy {
  abstract readonly name: PolicyName;
  abstract readonly mode: SelectionMode;
  readonly modelCount: number;
  readonly config: PolicyConfig;
  readonly #probs: Float64Array;
  #dirty = true;

  constructor(config: PolicyConfig, modelCount: number) {
    assert(Number.isInteger(modelCount) && modelCount >= 1, `a selection policy needs >= 1 linked model (got ${modelCount})`);
    this.config = config;
    this.modelCount = modelCount;
    this.#probs = new Float64Array(modelCount);
  }

  /** Writes the probabilities (mode `one`) or combine weights (mode `all`), summing to 1. */
  protected abstract computeProbs(out: Float64Array): void;
  /** Applies one checked feedback to the state. */
  protected abstract update(feedback: Feedback): void;
  /** The learned state as JSON-safe data (finite numbers only). */
  protected abstract stateJson(): Record<string, unknown>;

  protected currentProbs(): Float64Array {
    if (this.#dirty) {
      this.computeProbs(this.#probs);
      this.#dirty = false;
    }
    return this.#probs;
  }

  select(_ctx: SelectContext, prng: Prng): Selection {
    if (this.mode === 'all') return { kind: 'all', weights: this.snapshot() };
    const model = sampleIndex(this.currentProbs(), prng.next());
    assert(model >= 0, 'selection probabilities have no positive entry');
    return { kind: 'one', model };
  }

  observe(feedback: Feedback): void {
    checkFeedback(feedback, this.modelCount);
    this.update(feedback);
    this.#dirty = true;
  }

  snapshot(): Float64Array {
    return Float64Array.from(this.currentProbs());
  }

  serialize(): string {
    const body: SerializedPolicy = {
      v: kSerializedVersion,
      policy: this.name,
      modelCount: this.modelCount,
      params: this.config.params,
      state: this.stateJson(),
    };
    return JSON.stringify(body);
  }
}

/**
 * Parses a serialised policy envelope, re-validating its params. Throws ClipperError
 * CLP_ERR_INVALID_ARG for anything malformed (stored state is not trusted blindly).
 */
export function parseSerialized(
  json: string,
  expected?: PolicyName,
): { config: PolicyConfig; modelCount: number; state: Record<string, unknown> } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', 'serialized selection policy is not valid JSON', undefined, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badState('must be a JSON object');
  const r = raw as Partial<SerializedPolicy>;
  if (r.v !== kSerializedVersion) throw badState(`has unsupported version ${JSON.stringify(r.v)}`);
  if (expected !== undefined && r.policy !== expected) throw badState(`is policy ${JSON.stringify(r.policy)}, expected "${expected}"`);
  if (!Number.isInteger(r.modelCount) || (r.modelCount as number) < 1) throw badState('has an invalid modelCount');
  if (typeof r.state !== 'object' || r.state === null || Array.isArray(r.state)) throw badState('has no state object');
  const config = parsePolicyConfig(r.policy, r.params, r.modelCount as number);
  return { config, modelCount: r.modelCount as number, state: r.state };
}

export function badState(what: string, cause?: unknown): ClipperError {
  return new ClipperError(
    'CLP_ERR_INVALID_ARG',
    `serialized selection policy ${what}`,
    undefined,
    cause === undefined ? undefined : { cause },
  );
}

/** Runs a state decoder, turning its RangeErrors into CLP_ERR_INVALID_ARG. */
export function decodeState<T>(decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof ClipperError) throw err;
    throw badState(err instanceof Error ? err.message : String(err), err);
  }
}

/** max-normalised log-weights → weights summing to 1. */
export function normalizeLogWeights(logW: Float64Array, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < logW.length; i++) if (logW[i]! > max) max = logW[i]!;
  let sum = 0;
  for (let i = 0; i < logW.length; i++) {
    const w = Math.exp(logW[i]! - max);
    out[i] = w;
    sum += w;
  }
  for (let i = 0; i < logW.length; i++) out[i] = out[i]! / sum;
}

/**
 * Fixed share (Herbster & Warmuth; Exp3.S): mixes `share` of the total weight uniformly back into
 * every model, so no weight falls below share/K of the total and a model that recovers (or a best
 * model that degrades) is re-learned in O(ln(K/share)/η) rounds instead of as many rounds as it was
 * worse. Also re-centres the log-weights (max 0) so they never drift toward -Infinity.
 */
export function applyShare(logW: Float64Array, share: number, scratch: Float64Array): void {
  normalizeLogWeights(logW, scratch);
  const k = logW.length;
  for (let i = 0; i < k; i++) {
    const w = (1 - share) * scratch[i]! + share / k;
    logW[i] = w > 0 ? Math.log(w) : -745; // exp(-745) ≈ smallest double; keeps JSON finite
  }
}

/**
 * Adds one feedback to per-model running sums: only the chosen model when `chosen` is given
 * (bandit feedback), else every model with a loss. `value` maps a loss to what is summed.
 */
export function accumulate(feedback: Feedback, sums: Float64Array, counts: Float64Array, value: (loss: number) => number): void {
  const { losses, chosen } = feedback;
  if (chosen !== undefined) {
    const loss = losses[chosen]!;
    if (Number.isNaN(loss)) return;
    sums[chosen] = sums[chosen]! + value(loss);
    counts[chosen] = counts[chosen]! + 1;
    return;
  }
  for (let i = 0; i < losses.length; i++) {
    const loss = losses[i]!;
    if (Number.isNaN(loss)) continue;
    sums[i] = sums[i]! + value(loss);
    counts[i] = counts[i]! + 1;
  }
}

/** Reads the `sums`/`counts` pair of a serialised state (counts: non-negative integers). */
export function sumsAndCounts(
  state: Record<string, unknown>,
  modelCount: number,
  sumKey: string,
): { sums: Float64Array; counts: Float64Array } {
  return {
    sums: stateArray(state, sumKey, modelCount),
    counts: stateArray(state, 'counts', modelCount, (v) => Number.isInteger(v) && v >= 0),
  };
}
