// The planner's pipeline simulator (src/planner/pipeline_sim.ts): deterministic under its seed,
// a single model against the exact M/D/1 queue, cascades that stop at the drawn level and fail over
// to the next level when a level is shed or late (as the executor does), the edge overhead charged
// once per query, ensembles that wait for every member, a fan-in, overload attributed to the model
// that failed, the stage budgets the plan stores (and the executor's weights from them equal to the
// simulator's), and bad configurations refused.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import type { PipelinePlan, PipelineSpec, WorkloadSpec } from '../../src/pipeline_spec.js';
import { type PipelineConfig, simulatePipeline } from '../../src/planner/pipeline_sim.js';
import type { ModelProfile, PipelineProfile } from '../../src/planner/profile.js';
import { compileSimGraph } from '../../src/planner/sim_graph.js';
import { newAppStats } from '../../src/query/app_route.js';
import { compilePipeline, type PipelineAppInfo } from '../../src/query/stage_graph.js';
import { PipelineStatsKeeper } from '../../src/query/stage_stats.js';

/** t(n) = baseUs + perItemUs × n, profiled at 1..32, relative deviation `cv`. */
function linear(model: string, baseUs: number, perItemUs: number, cv = 0, hopUs = 0): ModelProfile {
  const sizes = [1, 2, 4, 8, 16, 32];
  return {
    model,
    version: '1',
    latencyUs: sizes.map((n) => [n, baseUs + perItemUs * n]),
    latencyStdUs: cv > 0 ? sizes.map((n) => [n, cv * (baseUs + perItemUs * n)]) : [],
    hopOverheadUs: hopUs,
  };
}

function profileOf(models: ModelProfile[], fallthrough: Record<string, number[]> = {}, edgeUs?: number): PipelineProfile {
  const profile: PipelineProfile = { models: new Map(models.map((m) => [m.model, m])), fallthrough: new Map(Object.entries(fallthrough)) };
  if (edgeUs !== undefined) profile.edgeOverheadUs = edgeUs;
  return profile;
}

function configOf(settings: Record<string, [number, number]>): PipelineConfig {
  return { models: new Map(Object.entries(settings).map(([m, [batchSize, replicas]]) => [m, { batchSize, replicas }])) };
}

const single = (model: string): PipelineSpec => ({ stages: [{ name: 's', kind: 'model', model }], output: 's' });
const poisson = (rate: number): WorkloadSpec => ({ kind: 'poisson', rate_qps: rate });

/** P(W <= t) of the M/D/1 queue's waiting time (Erlang's formula), service time d, arrival rate lambda. */
function md1WaitCdf(t: number, lambda: number, d: number): number {
  const rho = lambda * d;
  let sum = 0;
  for (let k = 0; k <= Math.floor(t / d); k++) {
    const x = lambda * (k * d - t);
    let term = Math.exp(-x);
    for (let j = 1; j <= k; j++) term *= x / j;
    sum += term;
  }
  return (1 - rho) * sum;
}

function md1SojournQuantile(q: number, lambda: number, d: number): number {
  let lo = 0;
  let hi = 50 * d;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (md1WaitCdf(mid, lambda, d) >= q) hi = mid;
    else lo = mid;
  }
  return hi + d;
}

test('the same inputs and seed give the same outcome; another seed another', () => {
  const spec = single('m');
  const profile = profileOf([linear('m', 1000, 100, 0.1, 100)]);
  const run = (seed: number) =>
    simulatePipeline(spec, profile, configOf({ m: [-1, 2] }), poisson(800), 20_000, { seed, durationMs: 3000, warmupMs: 300 });
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5).p99Us, run(6).p99Us);
});

test('one model, batch size 1, one replica, fixed service time: the M/D/1 queue', () => {
  // d = 2 ms, 250 q/s: load 0.5. The SLO is far away, so nothing is dropped.
  const d = 2;
  const lambda = 0.25;
  const out = simulatePipeline(single('m'), profileOf([linear('m', 2000, 0)]), configOf({ m: [1, 1] }), poisson(250), 1_000_000, {
    seed: 11,
    durationMs: 100_000,
    warmupMs: 2000,
  });
  assert.equal(out.sloMissRatio, 0);
  assert.equal(out.completed, out.offered);
  const p50 = md1SojournQuantile(0.5, lambda, d) * 1000;
  const p99 = md1SojournQuantile(0.99, lambda, d) * 1000;
  assert.ok(Math.abs(out.p50Us / p50 - 1) < 0.1, `p50 ${out.p50Us} µs, M/D/1 ${p50} µs`);
  assert.ok(Math.abs(out.p99Us / p99 - 1) < 0.15, `p99 ${out.p99Us} µs, M/D/1 ${p99} µs`);
  assert.equal(out.meanBatch.get('m'), 1);
  const util = out.utilization.get('m')!;
  assert.ok(Math.abs(util - 0.5) < 0.05, `utilization ${util}`);
});

test('a cascade calls its next model for the drawn share only', () => {
  const spec: PipelineSpec = { stages: [{ name: 'c', kind: 'cascade', models: ['fast', 'slow'], threshold: 0.5 }], output: 'c' };
  const profile = profileOf([linear('fast', 500, 50), linear('slow', 3000, 300)], { c: [0.25] });
  const out = simulatePipeline(spec, profile, configOf({ fast: [8, 1], slow: [8, 2] }), poisson(200), 100_000, {
    seed: 3,
    durationMs: 20_000,
    warmupMs: 1000,
  });
  assert.equal(out.sloMissRatio, 0);
  const share = out.callsByModel.get('slow')! / out.callsByModel.get('fast')!;
  assert.ok(Math.abs(share - 0.25) < 0.02, `fall-through share ${share}`);
  // Without measured shares, every query falls through (the worst case).
  const worst = simulatePipeline(
    spec,
    profileOf([linear('fast', 500, 50), linear('slow', 3000, 300)]),
    configOf({ fast: [8, 1], slow: [8, 2] }),
    poisson(200),
    100_000,
    {
      seed: 3,
      durationMs: 2000,
      warmupMs: 100,
    },
  );
  assert.equal(worst.callsByModel.get('slow'), worst.callsByModel.get('fast'));
});

test('a cascade level that is shed or late fails over to the next level, as the executor does', () => {
  const spec: PipelineSpec = { stages: [{ name: 'c', kind: 'cascade', models: ['fast', 'slow'], threshold: 0.5 }], output: 'c' };
  const options = { seed: 4, durationMs: 10_000, warmupMs: 1000 };
  // Every answer of the fast model is confident (share 0): only a failover can reach the slow model.
  // Shed: the fast model (4 ms a query, one replica) gets 400 q/s; alone it drops most of them.
  const overloaded = profileOf([linear('fast', 4000, 0), linear('slow', 1000, 200)], { c: [0] });
  const config = configOf({ fast: [1, 1], slow: [8, 2] });
  const out = simulatePipeline(spec, overloaded, config, poisson(400), 60_000, options);
  const alone = simulatePipeline(single('fast'), overloaded, configOf({ fast: [1, 1] }), poisson(400), 60_000, options);
  assert.ok(alone.sloMissRatio > 0.3, `the fast model alone misses ${alone.sloMissRatio}`);
  assert.ok(out.callsByModel.get('slow')! > 0.3 * out.callsByModel.get('fast')!, `failovers ${out.callsByModel.get('slow')}`);
  assert.equal(out.sloMissRatio, 0);
  // Late: a fast model whose batches overrun their budget now and then (a deviation of 2× its mean):
  // the next level is asked when the budget ends (the executor's deadline watch), not when the late answer comes.
  const noisy = profileOf([linear('fast', 2000, 0, 2), linear('slow', 1000, 0)], { c: [0] });
  const late = simulatePipeline(spec, noisy, configOf({ fast: [1, 4], slow: [1, 4] }), poisson(100), 20_000, options);
  assert.ok(late.callsByModel.get('slow')! > 0, 'late levels fail over');
  assert.equal(late.sloMissRatio, 0);
  assert.ok(late.p99Us <= 20_000);
});

test('the edge overhead is charged once per query, and counts against the SLO', () => {
  const profile = (edgeUs?: number) => profileOf([linear('m', 2000, 0)], {}, edgeUs);
  const run = (edgeUs: number | undefined, sloUs: number) =>
    simulatePipeline(single('m'), profile(edgeUs), configOf({ m: [1, 2] }), poisson(50), sloUs, {
      seed: 9,
      durationMs: 4000,
      warmupMs: 400,
    });
  const without = run(undefined, 100_000);
  const withEdge = run(5000, 100_000);
  assert.equal(withEdge.p50Us - without.p50Us, 5000);
  assert.equal(withEdge.p99Us - without.p99Us, 5000);
  // Every query takes at least 2 ms in the server: with a 5 ms edge, a 6 ms SLO is missed by all.
  assert.equal(run(0, 6000).sloMissRatio, 0);
  assert.equal(run(5000, 6000).sloMissRatio, 1);
});

test('an ensemble waits for all members; a map runs its models in turn; a combine joins branches', () => {
  const profile = profileOf([linear('a', 1000, 0), linear('b', 4000, 0), linear('c', 2000, 0)]);
  const light = { seed: 1, durationMs: 5000, warmupMs: 500 };
  const ensemble: PipelineSpec = { stages: [{ name: 'e', kind: 'ensemble', models: ['a', 'b', 'c'] }], output: 'e' };
  const e = simulatePipeline(ensemble, profile, configOf({ a: [1, 2], b: [1, 2], c: [1, 2] }), poisson(20), 100_000, light);
  assert.equal(e.sloMissRatio, 0);
  assert.ok(e.p50Us >= 4000, `ensemble p50 ${e.p50Us} below its slowest member`);
  const map: PipelineSpec = { stages: [{ name: 'm', kind: 'map', models: ['a', 'b'], feature_type: 'doubles' }], output: 'm' };
  const m = simulatePipeline(map, profile, configOf({ a: [1, 2], b: [1, 2] }), poisson(20), 100_000, light);
  assert.ok(m.p50Us >= 5000, `map p50 ${m.p50Us} below featurizer + predictor`);
  assert.equal(m.callsByModel.get('a'), m.callsByModel.get('b'));
  const fanIn: PipelineSpec = {
    stages: [
      { name: 'x', kind: 'model', model: 'a', output_type: 'doubles' },
      { name: 'y', kind: 'model', model: 'b', output_type: 'doubles' },
      { name: 'j', kind: 'combine', inputs: ['x', 'y'], output_type: 'doubles' },
      { name: 'z', kind: 'model', model: 'c', input: 'j' },
    ],
    output: 'z',
  };
  const f = simulatePipeline(fanIn, profile, configOf({ a: [1, 2], b: [1, 2], c: [1, 2] }), poisson(20), 100_000, light);
  assert.equal(f.sloMissRatio, 0);
  assert.ok(f.p50Us >= 6000, `fan-in p50 ${f.p50Us} below the slower branch + the last model`);
});

test('overload: misses are counted with latency SLO + 1 and blamed on the model that failed; replicas relieve it', () => {
  const spec: PipelineSpec = {
    stages: [
      { name: 'f', kind: 'model', model: 'cheap', output_type: 'doubles' },
      { name: 'p', kind: 'model', model: 'dear', input: 'f' },
    ],
    output: 'p',
  };
  const profile = profileOf([linear('cheap', 200, 20, 0.05, 100), linear('dear', 4000, 0, 0.05, 100)]);
  const options = { seed: 2, durationMs: 5000, warmupMs: 500 };
  // dear: 4.1 ms a query whatever the batch (t(n) = 4 ms flat): 1 replica serves ~240 q/s in batches of ~1.
  const over = simulatePipeline(spec, profile, configOf({ cheap: [1, 1], dear: [1, 1] }), poisson(500), 30_000, options);
  assert.ok(over.sloMissRatio > 0.3, `miss ratio ${over.sloMissRatio}`);
  assert.equal(over.p99Us, 30_001);
  assert.ok(over.missesByModel.get('dear')! > 10 * over.missesByModel.get('cheap')!);
  assert.ok(over.throughputQps < 300);
  const relieved = simulatePipeline(spec, profile, configOf({ cheap: [1, 1], dear: [1, 4] }), poisson(500), 30_000, options);
  assert.ok(relieved.sloMissRatio < 0.01, `miss ratio ${relieved.sloMissRatio} with 4 replicas`);
  assert.ok(relieved.p99Us <= 30_000);
});

test('stage budgets: per call half its share of the heaviest path by t(1) + hop, half an equal share per call', () => {
  const spec: PipelineSpec = {
    stages: [
      { name: 'f', kind: 'model', model: 'a', output_type: 'doubles' },
      { name: 'c', kind: 'cascade', input: 'f', models: ['b', 'c'] },
    ],
    output: 'c',
  };
  const profile = profileOf([linear('a', 900, 0, 0, 100), linear('b', 1900, 0, 0, 100), linear('c', 6900, 0, 0, 100)]);
  const graph = compileSimGraph(spec, profile, 40_000);
  // Costs: f 1000, c 2000 + 7000 = 9000; path 10000 µs over 3 calls.
  // f: 40 ms × (0.5 × 1000/10000 + 0.5 × 1/3); c: 40 ms × (0.5 × 9000/10000 + 0.5 × 2/3).
  assert.deepEqual(graph.stageBudgetsMicros, { f: 8666, c: 31_333 });
  assert.equal(graph.pathWeightUs, 10_000);
  const cascade = graph.stages[1]!;
  // The stage's budget split half by the models' profiled t(1) (no hop), half equally, as the executor does.
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  close(cascade.callWeights[0]!, 31_333 * (0.5 * (1900 / 8800) + 0.25));
  close(cascade.callWeights[1]!, 31_333 * (0.5 * (6900 / 8800) + 0.25));
  close(cascade.aheadInStage[0]!, cascade.callWeights[1]!);
  close(graph.stages[0]!.aheadAfter, 31_333);
  // Parallel branches that sum past the SLO are scaled down.
  const fanIn: PipelineSpec = {
    stages: [
      { name: 'x', kind: 'model', model: 'a', output_type: 'doubles' },
      { name: 'y', kind: 'model', model: 'b', output_type: 'doubles' },
      { name: 'j', kind: 'combine', inputs: ['x', 'y'] },
    ],
    output: 'j',
  };
  const budgets = compileSimGraph(fanIn, profile, 30_000).stageBudgetsMicros;
  assert.ok(budgets.x! + budgets.y! <= 30_000);
  assert.equal(budgets.j, 0);
  // y: 0.5 × 2000/2000 + 0.5; x: 0.5 × 1000/2000 + 0.5 (each branch is one call).
  assert.ok(Math.abs(budgets.y! / budgets.x! - 4 / 3) < 1e-3);
});

test('bad configurations and options are refused with a 400 naming what is wrong', () => {
  const profile = profileOf([linear('m', 1000, 0)]);
  const options = { seed: 1, durationMs: 1000, warmupMs: 0 };
  const refused = (fn: () => unknown, mentions: RegExp) =>
    assert.throws(fn, (err: unknown) => err instanceof ClipperError && err.status === 400 && mentions.test(err.message));
  refused(() => simulatePipeline(single('m'), profile, configOf({}), poisson(10), 10_000, options), /no configuration for model 'm'/);
  refused(() => simulatePipeline(single('m'), profile, configOf({ m: [1, 0] }), poisson(10), 10_000, options), /'m' replicas/);
  refused(
    () => simulatePipeline(single('x'), profile, configOf({ x: [1, 1] }), poisson(10), 10_000, options),
    /stage 's': model 'x' has no profile/,
  );
  refused(
    () => simulatePipeline(single('m'), profile, configOf({ m: [1, 1] }), poisson(10), 10_000, { ...options, warmupMs: 1000 }),
    /warmupMs/,
  );
});

test("the executor's compiled weights (src/query/stage_graph.ts) from the plan's budgets equal the simulator's (one rule: src/deadline_split.ts)", () => {
  // $input → fz → cas (cascade fast, slow) ─┐
  // $input → ens (ensemble e1, e2) ─────────┴→ both (combine) → last
  const spec: PipelineSpec = {
    output: 'last',
    stages: [
      { name: 'fz', kind: 'model', model: 'feat', output_type: 'doubles' },
      { name: 'cas', kind: 'cascade', input: 'fz', models: ['fast', 'slow'], threshold: 0.7, output_type: 'doubles' },
      { name: 'ens', kind: 'ensemble', models: ['e1', 'e2'], output_type: 'doubles' },
      { name: 'both', kind: 'combine', inputs: ['cas', 'ens'], output_type: 'doubles' },
      { name: 'last', kind: 'model', model: 'tail', input: 'both' },
    ],
  };
  const models = [
    linear('feat', 400, 10, 0, 150),
    linear('fast', 900, 50, 0, 150),
    linear('slow', 5000, 500, 0, 150),
    linear('e1', 2000, 100, 0, 150),
    linear('e2', 3000, 100, 0, 150),
    linear('tail', 700, 10, 0, 150),
  ];
  const graph = compileSimGraph(spec, profileOf(models), 50_000);
  const plan = {
    models: models.map((m) => ({ model: m.model, latency_us: m.latencyUs })),
    stage_budgets_micros: graph.stageBudgetsMicros,
  } as unknown as PipelinePlan;
  const app: PipelineAppInfo = {
    name: 'app',
    inputType: 'doubles',
    stats: newAppStats(),
    defaultJson: '0',
    sloMs: 50,
    overloadResponse: 'default_output',
  };
  const compiled = compilePipeline(spec, () => ({ placement: null, inputType: 'doubles' }), plan, app, new PipelineStatsKeeper());
  assert.deepEqual(
    compiled.stages.map((s) => s.name),
    graph.stages.map((s) => s.spec.name),
  );
  const close = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  compiled.stages.forEach((cs, i) => {
    const ss = graph.stages[i]!;
    close(cs.aheadAfter, ss.aheadAfter, `${cs.name} aheadAfter`);
    assert.equal(cs.calls.length, ss.models.length);
    cs.calls.forEach((call, k) => {
      close(call.weight, ss.callWeights[k]!, `${cs.name} call ${k} weight`);
      close(call.aheadInStage, ss.aheadInStage[k]!, `${cs.name} call ${k} aheadInStage`);
    });
  });
});
