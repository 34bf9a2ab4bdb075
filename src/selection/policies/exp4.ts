// Exp4 as Clipper's paper uses it: query ALL linked models and combine their outputs (combine.ts)
// with learned weights. Every feedback carries a loss for each model that answered (full
// information), so the update is multiplicative weights (Hedge) on each model's own loss:
//
//   w_i ← w_i · exp(−η · ℓ_i)        for each model i with a loss (NaN: skipped)
//   then w ← (1 − share)·w/Σw + share/K   (fixed share, as in exp3.ts)
//
// Clipper's removed Exp4 applied Exp3's importance-weighted update here, which over-penalises
// models in proportion to 1/w even though all of them were observed; and it thresholded the combined
// output at 0.5 (binary labels only). combine.ts handles numbers and any labels instead.
// The snapshot is the normalised weights (mode `all`).

import type { PolicyConfig } from './params.js';
import type { Feedback } from './policy.js';
import { stateArray } from './policy.js';
import { PolicyBase, applyShare, decodeState, normalizeLogWeights, parseSerialized } from './policy_base.js';

type Exp4Config = PolicyConfig & { policy: 'exp4' };

export class Exp4Policy extends PolicyBase {
  readonly name = 'exp4' as const;
  readonly mode = 'all' as const;
  readonly #logW: Float64Array;
  readonly #scratch: Float64Array;
  readonly #eta: number;
  readonly #share: number;

  constructor(config: Exp4Config, modelCount: number, logW?: Float64Array) {
    super(config, modelCount);
    this.#eta = config.params.eta;
    this.#share = config.params.share;
    this.#logW = logW ?? new Float64Array(modelCount);
    this.#scratch = new Float64Array(modelCount);
  }

  protected computeProbs(out: Float64Array): void {
    normalizeLogWeights(this.#logW, out);
  }

  protected update(feedback: Feedback): void {
    const { losses } = feedback;
    let any = false;
    for (let i = 0; i < losses.length; i++) {
      const loss = losses[i]!;
      if (Number.isNaN(loss)) continue;
      this.#logW[i] = this.#logW[i]! - this.#eta * loss;
      any = true;
    }
    if (any) applyShare(this.#logW, this.#share, this.#scratch);
  }

  protected stateJson(): Record<string, unknown> {
    return { logW: Array.from(this.#logW) };
  }

  static deserialize(json: string): Exp4Policy {
    const { config, modelCount, state } = parseSerialized(json, 'exp4');
    return decodeState(() => new Exp4Policy(config as Exp4Config, modelCount, stateArray(state, 'logW', modelCount)));
  }
}
