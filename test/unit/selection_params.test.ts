import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipperError } from '../../src/errors.js';
import { parsePolicyConfig, parsePolicyName } from '../../src/selection/policies/params.js';
import { absoluteLoss, computeLosses, makeLossFn, zeroOneLoss } from '../../src/selection/policies/loss_fn.js';

function rejects(policy: unknown, params: unknown, param: string, rule: RegExp, modelCount = 3): void {
  assert.throws(
    () => parsePolicyConfig(policy, params, modelCount),
    (e: unknown) => {
      assert.ok(e instanceof ClipperError, String(e));
      assert.equal(e.code, 'CLP_ERR_INVALID_ARG');
      assert.ok(e.message.includes(`"${param}"`), e.message);
      assert.match(e.message, rule);
      assert.equal(e.details?.['param'], param);
      return true;
    },
  );
}

test('defaults are filled in and the result is frozen', () => {
  const c = parsePolicyConfig('exp3', undefined, 3);
  assert.deepEqual(c, {
    policy: 'exp3',
    params: { loss: 'absolute', lossScale: 1, personalized: false, eta: 0.05, gamma: 0.1, share: 0.001 },
  });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.params));
  const e4 = parsePolicyConfig('exp4', { lossScale: 10 }, 2);
  assert.equal(e4.policy === 'exp4' && e4.params.tolerance, 1); // 0.1 × lossScale
});

test('policy names: known names, Clipper alias, missing → default', () => {
  assert.equal(parsePolicyName('DefaultOutputSelectionPolicy'), 'default');
  assert.equal(parsePolicyName(undefined), 'default');
  assert.equal(parsePolicyName('ucb1'), 'ucb1');
  rejects('exp3_policy', {}, 'policy', /must be one of/);
  rejects(7, {}, 'policy', /must be one of/);
});

test('range rules name the parameter', () => {
  rejects('exp3', { eta: 0 }, 'eta', /> 0/);
  rejects('exp3', { eta: 'fast' }, 'eta', /> 0/);
  rejects('exp4', { eta: -1 }, 'eta', /> 0/);
  rejects('exp3', { gamma: 0 }, 'gamma', /\(0, 1\]/);
  rejects('exp3', { gamma: 1.5 }, 'gamma', /\(0, 1\]/);
  rejects('exp3', { share: 1 }, 'share', /\[0, 1\)/);
  rejects('epsilon_greedy', { epsilon: -0.1 }, 'epsilon', /\[0, 1\]/);
  rejects('epsilon_greedy', { epsilon: 1.01 }, 'epsilon', /\[0, 1\]/);
  rejects('exp4', { confidenceMin: 2 }, 'confidenceMin', /\[0, 1\]/);
  rejects('exp4', { tolerance: -1 }, 'tolerance', />= 0/);
  rejects('exp4', { combine: 'median' }, 'combine', /one of "auto", "mean", "vote"/);
  rejects('ucb1', { loss: 'squared' }, 'loss', /"absolute", "zero_one"/);
  rejects('default', { lossScale: 0 }, 'lossScale', /> 0/);
  rejects('default', { personalized: 'yes' }, 'personalized', /true or false/);
  assert.equal(parsePolicyConfig('epsilon_greedy', { epsilon: 0 }, 3).policy, 'epsilon_greedy');
  assert.equal(parsePolicyConfig('exp3', { gamma: 1 }, 3).policy, 'exp3');
});

test('weights: non-negative, positive sum, one per linked model', () => {
  rejects('weighted_split', {}, 'weights', /3 non-negative numbers/);
  rejects('weighted_split', { weights: [1, 2] }, 'weights', /one per linked model/);
  rejects('weighted_split', { weights: [1, -1, 2] }, 'weights', /non-negative/);
  rejects('weighted_split', { weights: [0, 0, 0] }, 'weights', /positive sum/);
  rejects('weighted_split', { weights: [1, '2', 3] }, 'weights', /non-negative/);
  const c = parsePolicyConfig('weighted_split', { weights: [0, 1, 0] }, 3);
  assert.deepEqual(c.policy === 'weighted_split' && c.params.weights, [0, 1, 0]);
});

test('unknown keys and non-object params are rejected', () => {
  rejects('exp3', { epsilon: 0.1 }, 'epsilon', /not a parameter of policy "exp3"/);
  rejects('default', { etaa: 1 }, 'etaa', /not a parameter/);
  rejects('exp3', [1], 'params', /JSON object/);
  rejects('exp3', 'eta=1', 'params', /JSON object/);
});

test('absolute loss: scaled, clipped to 1, non-numbers cost 1', () => {
  assert.equal(absoluteLoss(3, 1, 4), 0.5);
  assert.equal(absoluteLoss('3.0', 1, 4), 0.5);
  assert.equal(absoluteLoss(100, 1, 4), 1);
  assert.equal(absoluteLoss('cat', 1, 4), 1);
  assert.equal(absoluteLoss(null, 1, 4), 1);
  assert.throws(() => makeLossFn({ kind: 'absolute', scale: 0 }), RangeError);
});

test('zero-one loss: numeric equality across text, exact text otherwise', () => {
  assert.equal(zeroOneLoss('1.0', 1), 0);
  assert.equal(zeroOneLoss(2, 1), 1);
  assert.equal(zeroOneLoss('cat', 'cat'), 0);
  assert.equal(zeroOneLoss('cat', 'Cat'), 1);
  assert.equal(zeroOneLoss({ a: 1 }, { a: 1 }), 0);
});

test('computeLosses: undefined predictions give NaN', () => {
  const l = computeLosses([1, undefined, 3], 1, makeLossFn({ kind: 'absolute', scale: 2 }));
  assert.equal(l[0], 0);
  assert.ok(Number.isNaN(l[1]!));
  assert.equal(l[2], 1);
});
