import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../src/lib/prng.js';
import { parsePolicyConfig } from '../../src/selection/policies/params.js';
import { createPolicy, deserializePolicy } from '../../src/selection/policies/registry.js';
import { Exp3Policy } from '../../src/selection/policies/exp3.js';
import { ClipperError } from '../../src/errors.js';
import { absoluteLoss } from '../../src/selection/policies/loss_fn.js';
import { argMax, gaussian, runBandit } from '../helpers/selection_sim.js';

function policy(name: string, params: unknown, modelCount = 3) {
  return createPolicy(parsePolicyConfig(name, params, modelCount), modelCount);
}

test('default: always the first model, feedback changes nothing', () => {
  const p = policy('DefaultOutputSelectionPolicy', {});
  const prng = new Prng(1);
  for (let i = 0; i < 50; i++) assert.deepEqual(p.select({ uid: null }, prng), { kind: 'one', model: 0 });
  p.observe({ uid: null, losses: Float64Array.of(1, 0, 0) });
  assert.deepEqual(Array.from(p.snapshot()), [1, 0, 0]);
});

test('exp3 converges to the best of 3 models and re-converges when it degrades', () => {
  const p = policy('exp3', { eta: 0.05, gamma: 0.1, share: 0.001 });
  const prng = new Prng(2024);
  runBandit(p, prng, [0.5, 0.2, 0.7], 1500);
  const late = runBandit(p, prng, [0.5, 0.2, 0.7], 500);
  assert.equal(argMax(p.snapshot()), 1);
  assert.ok(late[1]! > 0.75 * 500, `best model chosen ${late[1]} / 500`);

  // model 1 degrades, model 2 becomes best
  runBandit(p, prng, [0.5, 0.9, 0.1], 1000);
  const after = runBandit(p, prng, [0.5, 0.9, 0.1], 500);
  assert.equal(argMax(p.snapshot()), 2);
  assert.ok(after[2]! > 0.75 * 500, `new best chosen ${after[2]} / 500`);
});

test('exp3 probabilities keep gamma exploration and sum to 1', () => {
  const p = policy('exp3', { gamma: 0.3 });
  runBandit(p, new Prng(5), [0.9, 0.0, 0.9], 2000);
  const s = p.snapshot();
  assert.ok(Math.abs(s.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  for (const x of s) assert.ok(x >= 0.1 - 1e-12, `prob ${x} below gamma/K`);
});

test('exp4 weights favour the lowest-loss model', () => {
  const p = policy('exp4', { eta: 0.1 });
  const prng = new Prng(11);
  const noise = [0.05, 0.2, 0.3];
  for (let r = 0; r < 1000; r++) {
    const y = prng.next();
    const losses = Float64Array.from(noise, (sd) => absoluteLoss(y + sd * gaussian(prng), y, 1));
    p.observe({ uid: null, losses });
  }
  const w = p.snapshot();
  assert.equal(argMax(w), 0);
  assert.ok(w[0]! > 0.9, `weights ${Array.from(w)}`);
  const sel = p.select({ uid: null }, prng);
  assert.equal(sel.kind, 'all');
});

test('exp4 combined error is at most the best single model on an ensemble task', async () => {
  const { combine } = await import('../../src/selection/policies/combine.js');
  const p = policy('exp4', { eta: 0.05 });
  const prng = new Prng(77);
  const predict = (y: number): number[] => [y + 0.1 * gaussian(prng), y + 0.1 * gaussian(prng), y + 0.5 + 0.1 * gaussian(prng)];
  for (let r = 0; r < 2000; r++) {
    const y = prng.next();
    p.observe({ uid: null, losses: Float64Array.from(predict(y), (yh) => absoluteLoss(yh, y, 1)) });
  }
  const w = p.snapshot();
  assert.ok(w[2]! < 0.05, `bad model weight ${w[2]}`);
  const errSingle = [0, 0, 0];
  let errCombined = 0;
  const n = 2000;
  for (let r = 0; r < n; r++) {
    const y = prng.next();
    const outs = predict(y);
    outs.forEach((yh, i) => {
      errSingle[i]! += Math.abs(yh - y);
    });
    const c = combine(outs, w, { mode: 'auto', tolerance: 0.1, confidenceMin: 0 });
    assert.equal(c.kind, 'combined');
    errCombined += Math.abs((c.output as number) - y);
  }
  const best = Math.min(...errSingle);
  assert.ok(errCombined <= best, `combined ${errCombined / n} vs best single ${best / n}`);
});

test('epsilon_greedy picks the best arm most of the time after warm-up', () => {
  const p = policy('epsilon_greedy', { epsilon: 0.1 });
  const prng = new Prng(3);
  runBandit(p, prng, [0.6, 0.3, 0.5], 1000);
  const late = runBandit(p, prng, [0.6, 0.3, 0.5], 1000);
  assert.ok(late[1]! > 850, `best arm ${late[1]} / 1000`);
  const s = p.snapshot();
  assert.ok(Math.abs(s[1]! - (0.9 + 0.1 / 3)) < 1e-12);
});

test('epsilon 0 with untried models tries each once (optimistic start)', () => {
  const p = policy('epsilon_greedy', { epsilon: 0 });
  const counts = runBandit(p, new Prng(4), [1, 1, 1], 3);
  assert.deepEqual(counts, [1, 1, 1]);
});

test('ucb1 tries every arm, then picks the best arm most of the time', () => {
  const p = policy('ucb1', {});
  const prng = new Prng(8);
  const first = runBandit(p, prng, [0.7, 0.2, 0.5], 3);
  assert.deepEqual(first, [1, 1, 1]);
  runBandit(p, prng, [0.7, 0.2, 0.5], 2000);
  const late = runBandit(p, prng, [0.7, 0.2, 0.5], 1000);
  assert.ok(late[1]! > 850, `best arm ${late[1]} / 1000`);
});

test('weighted_split: empirical split matches the weights (chi-square, fixed seed)', () => {
  const p = policy('weighted_split', { weights: [1, 2, 7] });
  const prng = new Prng(12345);
  const n = 20_000;
  const counts = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const s = p.select({ uid: 'u' }, prng);
    assert.equal(s.kind, 'one');
    if (s.kind === 'one') counts[s.model]!++;
  }
  const expected = [0.1, 0.2, 0.7].map((q) => q * n);
  const chi2 = counts.reduce((acc, o, i) => acc + (o - expected[i]!) ** 2 / expected[i]!, 0);
  assert.ok(chi2 < 13.8, `chi2 ${chi2} counts ${counts}`); // 2 d.o.f., p = 0.001
  p.observe({ uid: null, losses: Float64Array.of(1, 1, 0), chosen: 2 });
  assert.deepEqual(Array.from(p.snapshot()), [0.1, 0.2, 0.7]);
});

test('a weight of 0 is never picked', () => {
  const p = policy('weighted_split', { weights: [0, 1, 0] });
  const prng = new Prng(6);
  for (let i = 0; i < 1000; i++) assert.deepEqual(p.select({ uid: null }, prng), { kind: 'one', model: 1 });
});

test('serialize/deserialize round trip keeps state and the selection stream', () => {
  const cases: [string, unknown][] = [
    ['default', {}],
    ['weighted_split', { weights: [3, 1, 1] }],
    ['exp3', { eta: 0.2 }],
    ['exp4', { eta: 0.3, combine: 'vote', confidenceMin: 0.4 }],
    ['epsilon_greedy', { epsilon: 0.2 }],
    ['ucb1', { loss: 'zero_one' }],
  ];
  for (const [name, params] of cases) {
    const p = policy(name, params);
    const prng = new Prng(21);
    for (let r = 0; r < 100; r++) {
      const losses = Float64Array.of(prng.next(), prng.next(), NaN);
      p.observe({ uid: null, losses, chosen: r % 2 });
    }
    const json = p.serialize();
    const q = deserializePolicy(json);
    assert.equal(q.name, p.name);
    assert.equal(q.mode, p.mode);
    assert.deepEqual(q.config, p.config);
    assert.deepEqual(Array.from(q.snapshot()), Array.from(p.snapshot()), name);
    assert.equal(q.serialize(), json);
    const a = new Prng(5);
    const b = new Prng(5);
    for (let i = 0; i < 20; i++) assert.deepEqual(q.select({ uid: null }, b), p.select({ uid: null }, a));
  }
});

test('deserialize rejects malformed or mismatched state with CLP_ERR_INVALID_ARG', () => {
  const good = policy('exp3', {}).serialize();
  const isInvalid = (e: unknown): boolean => e instanceof ClipperError && e.code === 'CLP_ERR_INVALID_ARG';
  assert.throws(() => deserializePolicy('{not json'), isInvalid);
  assert.throws(() => deserializePolicy(good.replace('"logW":[0,0,0]', '"logW":[0,0]')), isInvalid);
  assert.throws(() => deserializePolicy(good.replace('"v":1', '"v":9')), isInvalid);
  assert.throws(
    () => deserializePolicy(good.replace('"eta":0.05', '"eta":-1')),
    (e) => isInvalid(e) && /"eta"/.test((e as Error).message),
  );
  assert.throws(() => Exp3Policy.deserialize(policy('ucb1', {}).serialize()), isInvalid);
});

test('observe validates losses and chosen', () => {
  const p = policy('exp3', {});
  assert.throws(() => p.observe({ uid: null, losses: Float64Array.of(0, 0) }), RangeError);
  assert.throws(() => p.observe({ uid: null, losses: Float64Array.of(0, 2, 0) }), RangeError);
  assert.throws(() => p.observe({ uid: null, losses: Float64Array.of(0, 0, 0), chosen: 3 }), RangeError);
  const before = p.serialize();
  p.observe({ uid: null, losses: Float64Array.of(NaN, NaN, NaN), chosen: 1 });
  assert.equal(p.serialize(), before);
});
