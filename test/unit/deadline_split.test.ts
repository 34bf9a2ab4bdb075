// The deadline split (src/deadline_split.ts), the one rule the executor and the planner's simulator
// share: the run's span out of the SLO, a call's budget from its weight, the plan's stage budgets
// (half by cost share on the heaviest path, half an equal share per call: a cheap featurizer is not
// starved), the split inside a stage, and the compiled weights with and without a plan.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  aheadAfterOf,
  deadlineWeights,
  firstPointUs,
  kCallBudgetMsMin,
  ownWeight,
  planStageBudgetsUs,
  runSpanMs,
  splitStage,
  stageBudgetMs,
  usableBudgets,
} from '../../src/deadline_split.js';
import { type PipelinePlan, type PipelineSpec, stageOrder } from '../../src/pipeline_spec.js';
import { combineSloMs } from '../../src/query/selection_route.js';

const close = (a: number, b: number, what = '') => assert.ok(Math.abs(a - b) < 1e-6, `${what} ${a} vs ${b}`);

test('runSpanMs keeps min(5 ms, SLO/4) back, as an Exp4 ensemble does for combining', () => {
  assert.equal(runSpanMs(40), 35);
  assert.equal(runSpanMs(8), 6);
  assert.equal(runSpanMs(1), 0.75);
  assert.equal(runSpanMs(1000), 995);
  assert.equal(combineSloMs(40), 35);
  assert.equal(combineSloMs(8), 6);
  assert.equal(kCallBudgetMsMin, 0.05);
});

test('stageBudgetMs: a fixed budget within what is left, else a weighted share, never negative', () => {
  assert.equal(stageBudgetMs(100, 1, 3, null), 25);
  assert.equal(stageBudgetMs(100, 1, 0, null), 100);
  assert.equal(stageBudgetMs(100, 0, 0, null), 100);
  assert.equal(stageBudgetMs(100, 1, 1, 30), 30);
  assert.equal(stageBudgetMs(20, 1, 1, 30), 20);
  assert.equal(stageBudgetMs(-5, 1, 1, null), 0);
  assert.equal(stageBudgetMs(0, 1, 1, 10), 0);
});

const chain: PipelineSpec = {
  stages: [
    { name: 'feat', kind: 'model', model: 'fz', output_type: 'doubles' },
    { name: 'pred', kind: 'model', model: 'big', input: 'feat' },
  ],
  output: 'pred',
};

test('a 0.3 ms featurizer before a 10 ms model keeps about a quarter of a 200 ms SLO, not 3%', () => {
  const cost: Record<string, number> = { fz: 300, big: 10_000 };
  const { budgets, pathCostUs } = planStageBudgetsUs(stageOrder(chain), (_, m) => cost[m]!, 200_000);
  assert.equal(pathCostUs, 10_300);
  // 200 ms × (0.5 × 300/10300 + 0.5 × 1/2) and 200 ms × (0.5 × 10000/10300 + 0.5 × 1/2).
  assert.deepEqual(budgets, { feat: 52_912, pred: 147_087 });
  // Proportional to cost alone it would have had 200 ms × 300/10300 ≈ 5.8 ms.
  assert.ok(budgets.feat! > 0.25 * 200_000);
  // The executor's first call, with the whole run left: its weight against the path's.
  const weights = deadlineWeights(stageOrder(chain), budgets, () => 1);
  const first = stageBudgetMs(runSpanMs(200), weights[0]!.calls[0]!, weights[0]!.aheadAfter, null);
  close(first, (195 * 52_912) / (52_912 + 147_087));
  // Equal costs: equal shares.
  const even = planStageBudgetsUs(stageOrder(chain), () => 500, 10_000).budgets;
  assert.deepEqual(even, { feat: 5000, pred: 5000 });
});

test('stage budgets: an ensemble is one call on the path, a cascade every level, a fixed budget its own', () => {
  const spec: PipelineSpec = {
    stages: [
      { name: 'f', kind: 'model', model: 'a', output_type: 'doubles' },
      { name: 'e', kind: 'ensemble', input: 'f', models: ['b', 'c'], output_type: 'doubles' },
      { name: 'k', kind: 'cascade', input: 'e', models: ['d', 'g'] },
    ],
    output: 'k',
  };
  const cost: Record<string, number> = { a: 1000, b: 1000, c: 3000, d: 1000, g: 5000 };
  const order = stageOrder(spec);
  const { budgets, pathCostUs } = planStageBudgetsUs(order, (_, m) => cost[m]!, 100_000);
  // Path: f 1000 + e max(1000, 3000) + k 6000 = 10000 µs over 1 + 1 + 2 calls.
  assert.equal(pathCostUs, 10_000);
  assert.deepEqual(budgets, { f: 17_500, e: 27_500, k: 55_000 });
  const fixed = planStageBudgetsUs(
    stageOrder({ ...spec, stages: spec.stages.map((s) => (s.name === 'e' ? { ...s, budget_micros: 20_000 } : s)) }),
    (_, m) => cost[m]!,
    100_000,
  ).budgets;
  assert.equal(fixed.e, 20_000);
  assert.equal(fixed.f, 17_500);
});

test('splitStage: levels in turn half by cost, half equally; ensemble members all of it', () => {
  assert.deepEqual(splitStage('cascade', 40_000, [1000, 3000]), [15_000, 25_000]);
  assert.deepEqual(splitStage('map', 10_000, [1, 1]), [5000, 5000]);
  assert.deepEqual(splitStage('ensemble', 30_000, [1000, 3000]), [30_000, 30_000]);
  assert.deepEqual(splitStage('combine', 0, []), []);
  assert.equal(ownWeight('ensemble', [2, 7, 3]), 7);
  assert.equal(ownWeight('cascade', [2, 7, 3]), 12);
  assert.equal(ownWeight('combine', []), 0);
  assert.equal(firstPointUs([[1, 800]]), 800);
  assert.equal(firstPointUs([]), 1);
  assert.equal(firstPointUs(undefined), 1);
});

test('deadlineWeights: 1 per call without budgets, the heaviest path ahead; usableBudgets wants every stage', () => {
  const spec: PipelineSpec = {
    stages: [
      { name: 'x', kind: 'cascade', models: ['a', 'b', 'c'], output_type: 'doubles' },
      { name: 'y', kind: 'ensemble', models: ['d', 'e'], output_type: 'doubles' },
      { name: 'j', kind: 'combine', inputs: ['x', 'y'], output_type: 'doubles' },
      { name: 'z', kind: 'model', model: 'f', input: 'j' },
    ],
    output: 'z',
  };
  const order = stageOrder(spec);
  const w = deadlineWeights(order, null, () => 1000);
  assert.deepEqual(
    w.map((s) => [s.calls, s.aheadInStage, s.aheadAfter]),
    [
      [[1, 1, 1], [2, 1, 0], 1],
      [[1, 1], [0, 0], 1],
      [[], [], 1],
      [[1], [0], 0],
    ],
  );
  assert.deepEqual(aheadAfterOf(order, [3, 1, 0, 1]), [1, 1, 1, 0]);
  const plan = { stage_budgets_micros: { x: 3000, y: 2000, j: 0, z: 1000 } } as unknown as PipelinePlan;
  assert.equal(usableBudgets(order, plan), plan.stage_budgets_micros);
  assert.equal(usableBudgets(order, null), null);
  assert.equal(usableBudgets(order, { stage_budgets_micros: { x: 3000, y: 2000 } } as unknown as PipelinePlan), null);
  const planned = deadlineWeights(order, plan.stage_budgets_micros, () => 1000);
  assert.deepEqual(planned[0]!.calls, [1000, 1000, 1000]);
  assert.deepEqual(planned[1]!.calls, [2000, 2000]);
  assert.equal(planned[0]!.aheadAfter, 1000);
});
