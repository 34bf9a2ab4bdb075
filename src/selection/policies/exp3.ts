// Exp3 (Auer et al. 2002) with fixed share (Exp3.S): pick ONE model per query.
//
//   p_i = (1 − γ)·w_i/Σw + γ/K                        (γ: uniform exploration)
//   feedback on the chosen model c with loss ℓ ∈ [0, 1]:
//     ℓ̂ = ℓ / p_c                                      (importance weighting: E[ℓ̂] = ℓ for every model)
//     w_c ← w_c · exp(−η · ℓ̂)
//   then w ← (1 − share)·w/Σw + share/K                 (fixed share; see applyShare)
//
// Clipper's removed Exp3 (clipper-spec §5.2) is this with γ = 0, share = 0 and η = 0.01. Without
// share, a model that was best for a long time keeps its weight long after it degrades; with it,
// Exp3 re-converges within about ln(K/share)/(η·Δloss) feedbacks.
// Weights are kept as max-normalised logs. If `chosen` is absent (the caller asked every model), the
// update is the full-information one (Hedge): every model with a loss gets w_i ← w_i·exp(−η·ℓ_i).

import type { PolicyConfig } from './params.js';
import type { Feedback } from './policy.js';
import { stateArray } from './policy.js';
import { PolicyBase, applyShare, decodeState, normalizeLogWeights, parseSerialized } from './policy_base.js';

type Exp3Config = PolicyConfig & { policy: 'exp3' };

export class Exp3Policy extends PolicyBase {
  readonly name = 'exp3' as const;
  readonly mode = 'one' as const;
  readonly #logW: Float64Array;
  readonly #scratch: Float64Array;
  readonly #eta: number;
  readonly #gamma: number;
  readonly #share: number;

  constructor(config: Exp3Config, modelCount: number, logW?: Float64Array) {
    super(config, modelCount);
    this.#eta = config.params.eta;
    this.#gamma = config.params.gamma;
    this.#share = config.params.share;
    this.#logW = logW ?? new Float64Array(modelCount);
    this.#scratch = new Float64Array(modelCount);
  }

  protected computeProbs(out: Float64Array): void {
    normalizeLogWeights(this.#logW, out);
    const k = out.length;
    for (let i = 0; i < k; i++) out[i] = (1 - this.#gamma) * out[i]! + this.#gamma / k;
  }

  protected update(feedback: Feedback): void {
    const { losses, chosen } = feedback;
    if (chosen !== undefined) {
      const loss = losses[chosen]!;
      if (Number.isNaN(loss)) return;
      const p = this.currentProbs()[chosen]!;
      this.#logW[chosen] = this.#logW[chosen]! - (this.#eta * loss) / p;
    } else {
      for (let i = 0; i < losses.length; i++) {
        const loss = losses[i]!;
        if (!Number.isNaN(loss)) this.#logW[i] = this.#logW[i]! - this.#eta * loss;
      }
    }
    applyShare(this.#logW, this.#share, this.#scratch);
  }

  protected stateJson(): Record<string, unknown> {
    return { logW: Array.from(this.#logW) };
  }

  static deserialize(json: string): Exp3Policy {
    const { config, modelCount, state } = parseSerialized(json, 'exp3');
    return decodeState(() => new Exp3Policy(config as Exp3Config, modelCount, stateArray(state, 'logW', modelCount)));
  }
}
