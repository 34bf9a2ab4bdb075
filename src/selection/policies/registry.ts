// The policy registry: build a policy from a validated config, or restore one from serialize().

import type { PolicyConfig } from './params.js';
import type { SelectionPolicy } from './policy.js';
import { parseSerialized } from './policy_base.js';
import { DefaultPolicy, WeightedSplitPolicy } from './simple_policies.js';
import { Exp3Policy } from './exp3.js';
import { Exp4Policy } from './exp4.js';
import { EpsilonGreedyPolicy } from './epsilon_greedy.js';
import { Ucb1Policy } from './ucb1.js';

/** A fresh policy (no learned state) for `modelCount` ≥ 1 linked models. */
export function createPolicy(config: PolicyConfig, modelCount: number): SelectionPolicy {
  switch (config.policy) {
    case 'default':
      return new DefaultPolicy(config, modelCount);
    case 'weighted_split':
      return new WeightedSplitPolicy(config, modelCount);
    case 'exp3':
      return new Exp3Policy(config, modelCount);
    case 'exp4':
      return new Exp4Policy(config, modelCount);
    case 'epsilon_greedy':
      return new EpsilonGreedyPolicy(config, modelCount);
    case 'ucb1':
      return new Ucb1Policy(config, modelCount);
  }
}

/** Restores any policy from its serialize() text; ClipperError CLP_ERR_INVALID_ARG if malformed. */
export function deserializePolicy(json: string): SelectionPolicy {
  const { config } = parseSerialized(json);
  switch (config.policy) {
    case 'default':
      return DefaultPolicy.deserialize(json);
    case 'weighted_split':
      return WeightedSplitPolicy.deserialize(json);
    case 'exp3':
      return Exp3Policy.deserialize(json);
    case 'exp4':
      return Exp4Policy.deserialize(json);
    case 'epsilon_greedy':
      return EpsilonGreedyPolicy.deserialize(json);
    case 'ucb1':
      return Ucb1Policy.deserialize(json);
  }
}
