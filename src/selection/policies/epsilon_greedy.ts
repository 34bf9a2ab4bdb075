// ε-greedy: with probability ε a uniformly random model, otherwise the model with the lowest mean
// observed loss (a running mean: Σloss/n per model). Models with no feedback yet count as mean loss
// 0 (optimistic), so each new model is tried by the greedy branch until it has feedback. Ties go to
// the lowest index. As probabilities (the snapshot): ε/K each, plus 1 − ε on the greedy model.

import type { PolicyConfig } from './params.js';
import type { Feedback } from './policy.js';
import { argMin } from './policy.js';
import { PolicyBase, accumulate, decodeState, parseSerialized, sumsAndCounts } from './policy_base.js';

type EpsilonGreedyConfig = PolicyConfig & { policy: 'epsilon_greedy' };

export class EpsilonGreedyPolicy extends PolicyBase {
  readonly name = 'epsilon_greedy' as const;
  readonly mode = 'one' as const;
  readonly #lossSums: Float64Array;
  readonly #counts: Float64Array;
  readonly #means: Float64Array;
  readonly #epsilon: number;

  constructor(config: EpsilonGreedyConfig, modelCount: number, lossSums?: Float64Array, counts?: Float64Array) {
    super(config, modelCount);
    this.#epsilon = config.params.epsilon;
    this.#lossSums = lossSums ?? new Float64Array(modelCount);
    this.#counts = counts ?? new Float64Array(modelCount);
    this.#means = new Float64Array(modelCount);
  }

  /** Mean observed loss per model (0 where no feedback yet). */
  meanLosses(): Float64Array {
    for (let i = 0; i < this.modelCount; i++) {
      const n = this.#counts[i]!;
      this.#means[i] = n > 0 ? this.#lossSums[i]! / n : 0;
    }
    return Float64Array.from(this.#means);
  }

  protected computeProbs(out: Float64Array): void {
    const greedy = argMin(this.meanLosses());
    const k = out.length;
    out.fill(this.#epsilon / k);
    out[greedy] = out[greedy]! + (1 - this.#epsilon);
  }

  protected update(feedback: Feedback): void {
    accumulate(feedback, this.#lossSums, this.#counts, (loss) => loss);
  }

  protected stateJson(): Record<string, unknown> {
    return { lossSums: Array.from(this.#lossSums), counts: Array.from(this.#counts) };
  }

  static deserialize(json: string): EpsilonGreedyPolicy {
    const { config, modelCount, state } = parseSerialized(json, 'epsilon_greedy');
    return decodeState(() => {
      const { sums, counts } = sumsAndCounts(state, modelCount, 'lossSums');
      return new EpsilonGreedyPolicy(config as EpsilonGreedyConfig, modelCount, sums, counts);
    });
  }
}
