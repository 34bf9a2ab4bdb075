// The two policies that do not learn: `default` (Clipper's DefaultOutputSelectionPolicy: always the
// first linked model) and `weighted_split` (fixed weights for A/B tests and canaries: each query goes
// to one model with probability weight/Σweights). Feedback is checked and ignored.

import type { PolicyConfig } from './params.js';
import type { Feedback } from './policy.js';
import { PolicyBase, decodeState, parseSerialized } from './policy_base.js';

export class DefaultPolicy extends PolicyBase {
  readonly name = 'default' as const;
  readonly mode = 'one' as const;

  constructor(config: PolicyConfig & { policy: 'default' }, modelCount: number) {
    super(config, modelCount);
  }

  protected computeProbs(out: Float64Array): void {
    out.fill(0);
    out[0] = 1;
  }

  protected update(_feedback: Feedback): void {}

  protected stateJson(): Record<string, unknown> {
    return {};
  }

  static deserialize(json: string): DefaultPolicy {
    const { config, modelCount } = parseSerialized(json, 'default');
    return decodeState(() => new DefaultPolicy(config as PolicyConfig & { policy: 'default' }, modelCount));
  }
}

export class WeightedSplitPolicy extends PolicyBase {
  readonly name = 'weighted_split' as const;
  readonly mode = 'one' as const;
  readonly #weights: readonly number[];

  constructor(config: PolicyConfig & { policy: 'weighted_split' }, modelCount: number) {
    super(config, modelCount);
    if (config.params.weights.length !== modelCount)
      throw new RangeError(`weighted_split has ${config.params.weights.length} weights for ${modelCount} models`);
    this.#weights = config.params.weights;
  }

  protected computeProbs(out: Float64Array): void {
    let sum = 0;
    for (const w of this.#weights) sum += w;
    for (let i = 0; i < out.length; i++) out[i] = this.#weights[i]! / sum;
  }

  protected update(_feedback: Feedback): void {}

  protected stateJson(): Record<string, unknown> {
    return {};
  }

  static deserialize(json: string): WeightedSplitPolicy {
    const { config, modelCount } = parseSerialized(json, 'weighted_split');
    return decodeState(() => new WeightedSplitPolicy(config as PolicyConfig & { policy: 'weighted_split' }, modelCount));
  }
}
