// UCB1 (Auer, Cesa-Bianchi & Fischer 2002) on reward r = 1 − loss:
//
//   index_i = r̄_i + sqrt(2 · ln t / n_i)      n_i: feedbacks for model i, t = Σ n_i
//
// and pick the model with the highest index; models with n_i = 0 come first. UCB1 is deterministic,
// so the snapshot puts probability 1 on the best index (split evenly over exact ties, e.g. over all
// untried models). Counts come from feedback, not from queries: a query whose outcome never comes
// back teaches nothing. Because the query path samples from a published snapshot, traffic follows
// the argmax until the next publish; the selection worker re-publishes after each observe.

import type { PolicyConfig } from './params.js';
import type { Feedback } from './policy.js';
import { PolicyBase, accumulate, decodeState, parseSerialized, sumsAndCounts } from './policy_base.js';

type Ucb1Config = PolicyConfig & { policy: 'ucb1' };

export class Ucb1Policy extends PolicyBase {
  readonly name = 'ucb1' as const;
  readonly mode = 'one' as const;
  readonly #rewardSums: Float64Array;
  readonly #counts: Float64Array;
  readonly #index: Float64Array;

  constructor(config: Ucb1Config, modelCount: number, rewardSums?: Float64Array, counts?: Float64Array) {
    super(config, modelCount);
    this.#rewardSums = rewardSums ?? new Float64Array(modelCount);
    this.#counts = counts ?? new Float64Array(modelCount);
    this.#index = new Float64Array(modelCount);
  }

  /** The UCB1 index per model (+Infinity for untried models). */
  indexes(): Float64Array {
    let t = 0;
    for (let i = 0; i < this.modelCount; i++) t += this.#counts[i]!;
    const logT = Math.log(Math.max(t, 1));
    for (let i = 0; i < this.modelCount; i++) {
      const n = this.#counts[i]!;
      this.#index[i] = n === 0 ? Infinity : this.#rewardSums[i]! / n + Math.sqrt((2 * logT) / n);
    }
    return Float64Array.from(this.#index);
  }

  protected computeProbs(out: Float64Array): void {
    const idx = this.indexes();
    let best = -Infinity;
    for (let i = 0; i < idx.length; i++) if (idx[i]! > best) best = idx[i]!;
    let ties = 0;
    for (let i = 0; i < idx.length; i++) if (idx[i] === best) ties++;
    for (let i = 0; i < idx.length; i++) out[i] = idx[i] === best ? 1 / ties : 0;
  }

  protected update(feedback: Feedback): void {
    accumulate(feedback, this.#rewardSums, this.#counts, (loss) => 1 - loss);
  }

  protected stateJson(): Record<string, unknown> {
    return { rewardSums: Array.from(this.#rewardSums), counts: Array.from(this.#counts) };
  }

  static deserialize(json: string): Ucb1Policy {
    const { config, modelCount, state } = parseSerialized(json, 'ucb1');
    return decodeState(() => {
      const { sums, counts } = sumsAndCounts(state, modelCount, 'rewardSums');
      return new Ucb1Policy(config as Ucb1Config, modelCount, sums, counts);
    });
  }
}
