// The SelectionPolicy interface: how an app's queries are routed over its linked models, and how
// feedback (POST /<app>/update, clipper-spec §1.6) changes that. Models are indexes into the app's
// linked-model list. Policies are pure state machines: no clock, no I/O, no Math.random (the caller
// passes a seeded Prng). The selection worker owns them and publishes `snapshot()` through
// weights_snapshot.ts; the query path samples from that snapshot without touching the policy.
//
// Feedback protocol (Clipper's historical design, §5.2): on /update the worker calls `select` to
// decide which models to ask for a prediction on the feedback input, turns those predictions into
// per-model losses in [0, 1] (loss_fn.ts), and calls `observe` with them and, for one-model policies,
// the model it chose. Because the model is sampled from the policy's *current* probabilities, Exp3's
// importance weighting uses exactly the probability the choice was made with.

import type { Prng } from '../../lib/prng.js';
import type { PolicyConfig, PolicyName } from './params.js';

export interface SelectContext {
  uid: string | null;
}

/** `one`: send the query to one model. `all`: send it to every model, combine with `weights`. */
export type Selection = { kind: 'one'; model: number } | { kind: 'all'; weights: Float64Array };

/** How the query path uses a snapshot: sample one model from it, or query all and combine. */
export type SelectionMode = 'one' | 'all';

export interface Feedback {
  uid: string | null;
  /** Per model, a loss in [0, 1]; NaN = that model gave no prediction for this feedback. */
  losses: Float64Array;
  /** The model `select` chose, for one-model policies (bandit feedback). */
  chosen?: number;
}

export interface SelectionPolicy {
  readonly name: PolicyName;
  readonly mode: SelectionMode;
  readonly modelCount: number;
  readonly config: PolicyConfig;
  select(ctx: SelectContext, prng: Prng): Selection;
  observe(feedback: Feedback): void;
  /**
   * A fresh copy of what the query path needs, length modelCount: selection probabilities (sum 1)
   * when mode is `one`, combine weights (sum 1) when mode is `all`.
   */
  snapshot(): Float64Array;
  /** JSON text; `deserializePolicy` (registry.ts) restores it. */
  serialize(): string;
}

/** The serialised form every policy writes. */
export interface SerializedPolicy {
  v: 1;
  policy: PolicyName;
  modelCount: number;
  params: unknown;
  state: Record<string, unknown>;
}

export const kSerializedVersion = 1;

export function checkFeedback(feedback: Feedback, modelCount: number): void {
  if (feedback.losses.length !== modelCount) {
    throw new RangeError(`feedback.losses has ${feedback.losses.length} entries for ${modelCount} models`);
  }
  for (let i = 0; i < modelCount; i++) {
    const l = feedback.losses[i]!;
    if (!Number.isNaN(l) && !(l >= 0 && l <= 1)) throw new RangeError(`feedback.losses[${i}] must be in [0, 1] or NaN (got ${l})`);
  }
  const c = feedback.chosen;
  if (c !== undefined && !(Number.isInteger(c) && c >= 0 && c < modelCount)) {
    throw new RangeError(`feedback.chosen must be a model index in [0, ${modelCount}) (got ${c})`);
  }
}

/** Reads a numeric array field of a serialised state, checking length and finiteness. */
export function stateArray(
  state: Record<string, unknown>,
  key: string,
  length: number,
  ok: (v: number) => boolean = Number.isFinite,
): Float64Array {
  const v = state[key];
  if (!Array.isArray(v) || v.length !== length || !v.every((x) => typeof x === 'number' && ok(x))) {
    throw new RangeError(`serialized policy state "${key}" must be an array of ${length} valid numbers`);
  }
  return Float64Array.from(v as number[]);
}

export function stateNumber(state: Record<string, unknown>, key: string, ok: (v: number) => boolean): number {
  const v = state[key];
  if (typeof v !== 'number' || !ok(v)) throw new RangeError(`serialized policy state "${key}" is not valid`);
  return v;
}

/** Index of the minimum of `values` over entries where `include(i)`; ties → lowest index; -1 if none. */
export function argMin(values: Float64Array, include: (i: number) => boolean = () => true): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    if (!include(i)) continue;
    if (best < 0 || values[i]! < values[best]!) best = i;
  }
  return best;
}
