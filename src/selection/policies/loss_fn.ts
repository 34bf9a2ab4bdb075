// Loss functions that turn (a model's prediction, the feedback label) into a loss in [0, 1], the
// range every bandit policy here assumes. Chosen per app (`loss` / `lossScale` policy parameters).
//
//   absolute: min(1, |ŷ − y| / lossScale). Predictions and labels may be numbers or numeric strings
//             (Clipper containers answer strings such as "1.0"). A prediction that is not a finite
//             number costs 1 (the maximum), so a broken model is never rewarded.
//   zero_one: 0 when ŷ equals y, else 1. Two values are equal when both read as finite numbers and
//             the numbers are equal ("1.0" equals 1), or when their canonical text is identical
//             (strings as themselves, anything else as JSON.stringify).

export type LossKind = 'absolute' | 'zero_one';

export interface LossSpec {
  kind: LossKind;
  /** For `absolute`: the error at which the loss saturates at 1. Must be > 0. */
  scale: number;
}

export type LossFn = (prediction: unknown, label: unknown) => number;

/** A finite number for numbers and numeric strings, else NaN. */
export function asNumber(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? v : NaN;
  if (typeof v === 'string') {
    if (v.trim() === '') return NaN;
    const n = Number(v);
    return Number.isFinite(n) ? n : NaN;
  }
  return NaN;
}

/** The text two non-numeric outputs are compared by (also the vote key in combine.ts). */
export function canonicalText(v: unknown): string {
  if (typeof v === 'string') return v;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
}

export function absoluteLoss(prediction: unknown, label: unknown, scale: number): number {
  const y = asNumber(label);
  const p = asNumber(prediction);
  if (Number.isNaN(y) || Number.isNaN(p)) return 1;
  return Math.min(1, Math.abs(p - y) / scale);
}

export function zeroOneLoss(prediction: unknown, label: unknown): number {
  const p = asNumber(prediction);
  const y = asNumber(label);
  if (!Number.isNaN(p) && !Number.isNaN(y)) return p === y ? 0 : 1;
  return canonicalText(prediction) === canonicalText(label) ? 0 : 1;
}

export function makeLossFn(spec: LossSpec): LossFn {
  if (spec.kind === 'zero_one') return zeroOneLoss;
  const scale = spec.scale;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`lossScale must be a finite number > 0 (got ${scale})`);
  return (prediction, label) => absoluteLoss(prediction, label, scale);
}

/**
 * Per-model losses for one feedback. `predictions[i] === undefined` means model i gave no
 * prediction (not queried, failed or late) and yields NaN, which the policies skip.
 */
export function computeLosses(predictions: ReadonlyArray<unknown>, label: unknown, lossFn: LossFn): Float64Array {
  const losses = new Float64Array(predictions.length);
  for (let i = 0; i < predictions.length; i++) {
    const p = predictions[i];
    losses[i] = p === undefined ? NaN : lossFn(p, label);
  }
  return losses;
}
