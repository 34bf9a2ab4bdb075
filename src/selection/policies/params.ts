// Parsing and validation of selection-policy parameters. The admin API passes them through from
// untrusted JSON, so every field is checked here and every failure is a ClipperError
// CLP_ERR_INVALID_ARG whose message names the parameter and its rule. Defaults are filled in, and the
// result is frozen. docs/selection_policies.md documents every parameter; keep the two in step.

import { ClipperError } from '../../errors.js';
import type { LossKind } from './loss_fn.js';

export const kPolicyNames = ['default', 'exp3', 'exp4', 'epsilon_greedy', 'ucb1', 'weighted_split'] as const;
export type PolicyName = (typeof kPolicyNames)[number];

/** Clipper's only shipped policy name, accepted as an alias of `default`. */
export const kClipperDefaultPolicyName = 'DefaultOutputSelectionPolicy';

export type CombineMode = 'auto' | 'mean' | 'vote';

/** Parameters every policy accepts. */
export interface CommonParams {
  /** How feedback becomes a loss in [0, 1]. */
  loss: LossKind;
  /** For `absolute` loss: the error at which the loss saturates at 1. */
  lossScale: number;
  /** Keep one policy state per user id (opt-in; see personal_state.ts). */
  personalized: boolean;
}

export interface DefaultParams extends CommonParams {}
export interface Exp3Params extends CommonParams {
  eta: number;
  gamma: number;
  share: number;
}
export interface Exp4Params extends CommonParams {
  eta: number;
  share: number;
  combine: CombineMode;
  /** Absolute tolerance for numeric agreement in the combined confidence. */
  tolerance: number;
  confidenceMin: number;
}
export interface EpsilonGreedyParams extends CommonParams {
  epsilon: number;
}
export interface Ucb1Params extends CommonParams {}
export interface WeightedSplitParams extends CommonParams {
  weights: number[];
}

export type PolicyConfig =
  | { readonly policy: 'default'; readonly params: Readonly<DefaultParams> }
  | { readonly policy: 'exp3'; readonly params: Readonly<Exp3Params> }
  | { readonly policy: 'exp4'; readonly params: Readonly<Exp4Params> }
  | { readonly policy: 'epsilon_greedy'; readonly params: Readonly<EpsilonGreedyParams> }
  | { readonly policy: 'ucb1'; readonly params: Readonly<Ucb1Params> }
  | { readonly policy: 'weighted_split'; readonly params: Readonly<WeightedSplitParams> };

export const kDefaultCommonParams: Readonly<CommonParams> = Object.freeze({ loss: 'absolute', lossScale: 1, personalized: false });
export const kDefaultExp3 = Object.freeze({ eta: 0.05, gamma: 0.1, share: 0.001 });
export const kDefaultExp4 = Object.freeze({ eta: 0.1, share: 0.001, combine: 'auto' as CombineMode, confidenceMin: 0 });
/** Exp4's default tolerance is this fraction of lossScale. */
export const kDefaultToleranceFraction = 0.1;
export const kDefaultEpsilon = 0.1;

function invalid(param: string, rule: string, got: unknown): ClipperError {
  let shown: string;
  try {
    shown = JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  return new ClipperError('CLP_ERR_INVALID_ARG', `selection policy parameter "${param}" ${rule} (got ${shown})`, { param, rule });
}

type Raw = Record<string, unknown>;

function num(raw: Raw, key: string, dflt: number, ok: (v: number) => boolean, rule: string): number {
  const v = raw[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw invalid(key, rule, v);
  return v;
}

function oneOf<T extends string>(raw: Raw, key: string, dflt: T, allowed: readonly T[]): T {
  const v = raw[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw invalid(key, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`, v);
  return v as T;
}

function bool(raw: Raw, key: string, dflt: boolean): boolean {
  const v = raw[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalid(key, 'must be true or false', v);
  return v;
}

const kCommonKeys = ['loss', 'lossScale', 'personalized'];
const kPolicyKeys: Record<PolicyName, readonly string[]> = {
  default: [],
  exp3: ['eta', 'gamma', 'share'],
  exp4: ['eta', 'share', 'combine', 'tolerance', 'confidenceMin'],
  epsilon_greedy: ['epsilon'],
  ucb1: [],
  weighted_split: ['weights'],
};

/** Parses a policy name; accepts Clipper's `DefaultOutputSelectionPolicy` as `default`. */
export function parsePolicyName(name: unknown): PolicyName {
  if (name === undefined || name === null || name === kClipperDefaultPolicyName) return 'default';
  if (typeof name !== 'string' || !(kPolicyNames as readonly string[]).includes(name)) {
    throw invalid('policy', `must be one of ${kPolicyNames.map((a) => `"${a}"`).join(', ')}`, name);
  }
  return name as PolicyName;
}

/**
 * Validates `params` (untrusted JSON: an object, or null/undefined for all defaults) for `policy`
 * over `modelCount` linked models, and fills in defaults.
 */
export function parsePolicyConfig(policy: unknown, params: unknown, modelCount: number): PolicyConfig {
  if (!Number.isInteger(modelCount) || modelCount < 0) throw new RangeError(`modelCount must be an integer >= 0 (got ${modelCount})`);
  const name = parsePolicyName(policy);
  if (params === undefined || params === null) params = {};
  if (typeof params !== 'object' || Array.isArray(params)) throw invalid('params', 'must be a JSON object', params);
  const raw = params as Raw;
  const allowed = [...kCommonKeys, ...kPolicyKeys[name]];
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) throw invalid(key, `is not a parameter of policy "${name}" (allowed: ${allowed.join(', ')})`, raw[key]);
  }
  const common: CommonParams = {
    loss: oneOf<LossKind>(raw, 'loss', kDefaultCommonParams.loss, ['absolute', 'zero_one']),
    lossScale: num(raw, 'lossScale', kDefaultCommonParams.lossScale, (v) => v > 0, 'must be a finite number > 0'),
    personalized: bool(raw, 'personalized', kDefaultCommonParams.personalized),
  };
  const eta = (d: number): number => num(raw, 'eta', d, (v) => v > 0, 'must be a finite number > 0');
  const share = (d: number): number => num(raw, 'share', d, (v) => v >= 0 && v < 1, 'must be a number in [0, 1)');
  switch (name) {
    case 'default':
      return Object.freeze({ policy: name, params: Object.freeze(common) });
    case 'ucb1':
      return Object.freeze({ policy: name, params: Object.freeze(common) });
    case 'exp3':
      return Object.freeze({
        policy: name,
        params: Object.freeze({
          ...common,
          eta: eta(kDefaultExp3.eta),
          gamma: num(raw, 'gamma', kDefaultExp3.gamma, (v) => v > 0 && v <= 1, 'must be a number in (0, 1]'),
          share: share(kDefaultExp3.share),
        }),
      });
    case 'exp4':
      return Object.freeze({
        policy: name,
        params: Object.freeze({
          ...common,
          eta: eta(kDefaultExp4.eta),
          share: share(kDefaultExp4.share),
          combine: oneOf<CombineMode>(raw, 'combine', kDefaultExp4.combine, ['auto', 'mean', 'vote']),
          tolerance: num(raw, 'tolerance', kDefaultToleranceFraction * common.lossScale, (v) => v >= 0, 'must be a finite number >= 0'),
          confidenceMin: num(raw, 'confidenceMin', kDefaultExp4.confidenceMin, (v) => v >= 0 && v <= 1, 'must be a number in [0, 1]'),
        }),
      });
    case 'epsilon_greedy':
      return Object.freeze({
        policy: name,
        params: Object.freeze({
          ...common,
          epsilon: num(raw, 'epsilon', kDefaultEpsilon, (v) => v >= 0 && v <= 1, 'must be a number in [0, 1]'),
        }),
      });
    case 'weighted_split':
      return Object.freeze({ policy: name, params: Object.freeze({ ...common, weights: parseWeights(raw['weights'], modelCount) }) });
  }
}

function parseWeights(v: unknown, modelCount: number): number[] {
  const rule = `must be an array of ${modelCount} non-negative numbers (one per linked model) with a positive sum`;
  if (!Array.isArray(v) || v.length !== modelCount) throw invalid('weights', rule, v);
  let sum = 0;
  for (const w of v) {
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw invalid('weights', rule, v);
    sum += w;
  }
  if (!(sum > 0)) throw invalid('weights', rule, v);
  return Object.freeze([...v]) as number[];
}
