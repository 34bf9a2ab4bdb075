// compilePipeline (src/query/stage_graph.ts): execution order, calls resolved to placements and
// routes of the model's input type, budget weights (1 per call, or the plan's stage budgets), the
// weights still ahead on the heaviest path (the rule: src/deadline_split.ts), and per-stage counters
// that outlive recompiles.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PipelinePlan, PipelineSpec } from '../../src/pipeline_spec.js';
import { newAppStats } from '../../src/query/app_route.js';
import { compilePipeline, kQueryInput, type PipelineAppInfo } from '../../src/query/stage_graph.js';
import { PipelineStatsKeeper } from '../../src/query/stage_stats.js';
import { InputTypeCode } from '../../src/input_types.js';
import { RouteTable } from '../../src/control/route_table.js';
import { emptySnapshot, type ModelRecord } from '../../src/state/records.js';

const app: PipelineAppInfo = {
  name: 'app',
  inputType: 'doubles',
  stats: newAppStats(),
  defaultJson: '"d"',
  sloMs: 100,
  overloadResponse: 'default_output',
};

const types: Record<string, 'doubles' | 'strings'> = { feat: 'doubles', fast: 'strings', slow: 'strings', e1: 'doubles', e2: 'doubles' };
const resolve = (m: string) =>
  types[m] === undefined ? null : { placement: { workerIndex: 0, modelIndex: m.length }, inputType: types[m]! };

// $input → fz (feat, strings out) → cas (cascade fast, slow) ─┐
// $input → ens (ensemble e1, e2) ─────────────────────────────┴→ both (combine)
// Execution order: the ready stages in declared order, wave by wave: fz, ens, cas, both.
const spec: PipelineSpec = {
  output: 'both',
  stages: [
    { name: 'both', kind: 'combine', inputs: ['cas', 'ens'] },
    { name: 'cas', kind: 'cascade', input: 'fz', models: ['fast', 'slow'], threshold: 0.7 },
    { name: 'fz', kind: 'model', model: 'feat', output_type: 'strings' },
    { name: 'ens', kind: 'ensemble', models: ['e1', 'e2'], weights: [2, 1], combine: 'vote', field: 'label' },
  ],
};

test('stages compile in execution order with their inputs, calls and budget weights', () => {
  const keeper = new PipelineStatsKeeper();
  const p = compilePipeline(spec, resolve, null, app, keeper);
  assert.deepEqual(
    p.stages.map((s) => [s.name, s.kind, s.inputs]),
    [
      ['fz', 'model', [kQueryInput]],
      ['ens', 'ensemble', [kQueryInput]],
      ['cas', 'cascade', [0]],
      ['both', 'combine', [2, 1]],
    ],
  );
  assert.equal(p.outputIndex, 3);
  assert.equal(p.callCount, 5);
  assert.deepEqual([...p.callStage], [0, 1, 1, 2, 2]);
  const cas = p.stages[2]!;
  assert.deepEqual(
    cas.calls.map((c) => [c.model, c.weight, c.aheadInStage, c.inputType, c.route.typeCode]),
    [
      ['fast', 1, 1, 'strings', InputTypeCode.Strings],
      ['slow', 1, 0, 'strings', InputTypeCode.Strings],
    ],
  );
  assert.equal(cas.threshold, 0.7);
  assert.equal(cas.confidenceField, 'confidence');
  // fz is followed by the cascade (2 calls) then the combine (0): 2 ahead; the ensemble by nothing that calls a model.
  assert.deepEqual(
    p.stages.map((s) => s.aheadAfter),
    [2, 0, 0, 0],
  );
  const ens = p.stages[1]!;
  assert.deepEqual([...ens.weights], [2, 1]);
  assert.equal(ens.field, 'label');
  assert.equal(ens.combine, 'vote');
  assert.deepEqual(
    ens.calls.map((c) => [c.weight, c.aheadInStage]),
    [
      [1, 0],
      [1, 0],
    ],
  );
  // A sub-query's route: the model's input type, stats of their own, its cache counted as the app's.
  const route = cas.calls[0]!.route;
  assert.equal(route.inputType, 'strings');
  assert.notEqual(route.stats, app.stats);
  assert.equal(route.cacheStats, app.stats);
  assert.deepEqual(cas.calls[0]!.placement, { workerIndex: 0, modelIndex: 4 });
  assert.equal(p.fallback, 'best_so_far');
});

test('a model with no current version compiles with no placement; the app input type stands in', () => {
  const p = compilePipeline(
    { output: 'm', stages: [{ name: 'm', kind: 'model', model: 'ghost' }] },
    resolve,
    null,
    app,
    new PipelineStatsKeeper(),
  );
  assert.equal(p.stages[0]!.calls[0]!.placement, null);
  assert.equal(p.stages[0]!.calls[0]!.inputType, 'doubles');
});

test("a stored plan's stage budgets become the weights, split inside a stage half by the models' profiled cost, half equally", () => {
  const plan = {
    stage_budgets_micros: { fz: 10_000, cas: 40_000, ens: 30_000, both: 0 },
    models: [
      { model: 'fast', latency_us: [[1, 1000]] },
      { model: 'slow', latency_us: [[1, 3000]] },
    ],
  } as unknown as PipelinePlan;
  const p = compilePipeline(spec, resolve, plan, app, new PipelineStatsKeeper());
  const cas = p.stages[2]!;
  assert.deepEqual(
    cas.calls.map((c) => [c.weight, c.aheadInStage]),
    [
      // 40 ms × (0.5 × 1000/4000 + 0.5 × 1/2) and 40 ms × (0.5 × 3000/4000 + 0.5 × 1/2).
      [15_000, 25_000],
      [25_000, 0],
    ],
  );
  assert.equal(p.stages[0]!.calls[0]!.weight, 10_000);
  assert.equal(p.stages[0]!.aheadAfter, 40_000);
  assert.equal(p.stages[1]!.calls[0]!.weight, 30_000);
  // A plan without a budget for every stage that calls a model is not used: weights stay 1.
  const partial = { ...plan, stage_budgets_micros: { fz: 10_000 } } as unknown as PipelinePlan;
  const q = compilePipeline(spec, resolve, partial, app, new PipelineStatsKeeper());
  assert.deepEqual(
    q.stages.flatMap((s) => s.calls.map((c) => c.weight)),
    [1, 1, 1, 1, 1],
  );
});

test('a fixed budget_micros is kept in ms; map weights both of its models', () => {
  const p = compilePipeline(
    {
      output: 'm',
      stages: [{ name: 'm', kind: 'map', models: ['feat', 'e1'], feature_type: 'doubles', budget_micros: 25_000 }],
    },
    resolve,
    null,
    app,
    new PipelineStatsKeeper(),
  );
  const m = p.stages[0]!;
  assert.equal(m.fixedMs, 25);
  assert.deepEqual(
    m.calls.map((c) => [c.model, c.weight, c.aheadInStage]),
    [
      ['feat', 1, 1],
      ['e1', 1, 0],
    ],
  );
});

test('stage counters outlive a recompile while a stage keeps its name, kind and models', () => {
  const keeper = new PipelineStatsKeeper();
  const p1 = compilePipeline(spec, resolve, null, app, keeper);
  p1.stages[2]!.stats.calls = 7;
  p1.stages[1]!.stats.calls = 3;
  const p2 = compilePipeline(spec, resolve, null, app, keeper);
  assert.equal(p2.stats, p1.stats, 'the same pipeline: the same counters');
  const changed: PipelineSpec = {
    ...spec,
    stages: spec.stages.map((s) => (s.name === 'ens' ? { ...s, models: ['e2', 'e1'] } : s)),
  };
  const p3 = compilePipeline(changed, resolve, null, app, keeper);
  assert.equal(p3.stages[2]!.stats.calls, 7, 'the cascade is unchanged');
  assert.equal(p3.stages[1]!.stats.calls, 0, 'the ensemble changed its models');
  assert.deepEqual(p3.stages[2]!.stats.fallthrough, [0]);
  keeper.keepOnly(new Set());
  assert.equal(keeper.get('app'), undefined);
});

test('a graph that is not a DAG ending at its output does not compile', () => {
  const cyclic: PipelineSpec = {
    output: 'b',
    stages: [
      { name: 'a', kind: 'model', model: 'e1', input: 'b' },
      { name: 'b', kind: 'model', model: 'e2', input: 'a' },
    ],
  };
  assert.throws(() => compilePipeline(cyclic, resolve, null, app, new PipelineStatsKeeper()), /do not form a graph/);
});

test('the route table compiles a pipeline app over its models current versions, and forgets the counters of an app that goes', () => {
  const table = new RouteTable({ appStats: () => newAppStats(), selection: { route: () => null, forget: () => {} } });
  const s = emptySnapshot();
  const record = (name: string, version: string): ModelRecord => ({
    model_name: name,
    model_version: version,
    input_type: 'doubles',
    labels: [],
    container_name: 'node',
    model_data_path: '',
    batch_size: -1,
    container: null,
    num_replicas: 1,
  });
  s.models.set('e1:1', record('e1', '1'));
  s.models.set('e1:2', record('e1', '2'));
  s.currentVersions.set('e1', '2');
  s.apps.set('pipe', {
    name: 'pipe',
    input_type: 'doubles',
    default_output: '"none"',
    latency_slo_micros: 20_000,
    linked_models: [],
    selection_policy: 'default',
    overload_response: 'default_output',
    pipeline: { output: 'c', stages: [{ name: 'c', kind: 'cascade', models: ['e1', 'e2'], threshold: 0.5 }] },
  });
  const p2 = { workerIndex: 0, modelIndex: 2 };
  table.rebuild(
    s,
    new Map([
      ['e1:1', { workerIndex: 0, modelIndex: 1 }],
      ['e1:2', p2],
    ]),
  );
  const route = table.routes.get('pipe')!;
  const calls = route.pipeline!.stages[0]!.calls;
  assert.deepEqual(calls[0]!.placement, p2, 'the current version');
  assert.equal(calls[1]!.placement, null, 'e2 has no version: its calls answer "no connected models"');
  assert.equal(route.pipeline!.stats, table.pipelineStats.get('pipe'));
  s.apps.delete('pipe');
  table.rebuild(s, new Map());
  assert.equal(table.pipelineStats.get('pipe'), undefined);
});
