// The planner's search (src/planner/search.ts) and capacity rules (src/planner/capacity.ts) on a
// three-model pipeline (featurizer → cascade of a fast and a slow model) with synthetic profiles:
// deterministic under its seed, more load never fewer replicas, a cascade that rarely falls through
// needs fewer replicas for its second model, the plan meets the SLO in simulation while one replica
// fewer on any model does not, the baseline is never cheaper, the plan passes the store's
// validation, the tuner's capacity rule gives back the plan at its own rate, a plan on the edge of
// its seed is grown until it meets the SLO on 3 more seeds, and the table shows the overheads, the
// fall-through shares' standard errors and the verification.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import { type PipelinePlan, type PipelineSpec, validatePlan, type WorkloadSpec } from '../../src/pipeline_spec.js';
import { envelopeFor, replicasForRate } from '../../src/planner/capacity.js';
import { type PipelineConfig, simulatePipeline } from '../../src/planner/pipeline_sim.js';
import { formatPlanTable } from '../../src/planner/plan_table.js';
import type { ModelProfile, PipelineProfile } from '../../src/planner/profile.js';
import { defaultDurationMs, planMeetsSlo, planPipeline, planPipelineReport } from '../../src/planner/search.js';

/** t(n) = baseUs + perItemUs × n at 1..32, 10% deviation, 300 µs hop. */
function linear(model: string, baseUs: number, perItemUs: number): ModelProfile {
  const sizes = [1, 2, 4, 8, 16, 32];
  return {
    model,
    version: '1',
    latencyUs: sizes.map((n) => [n, baseUs + perItemUs * n]),
    latencyStdUs: sizes.map((n) => [n, 0.1 * (baseUs + perItemUs * n)]),
    hopOverheadUs: 300,
  };
}

/** slow: batching barely helps (4 ms a query), so its replicas follow the load that reaches it. */
function profile(fallthrough: number): PipelineProfile {
  return {
    models: new Map([
      ['feat', linear('feat', 200, 100)],
      ['fast', linear('fast', 300, 300)],
      ['slow', linear('slow', 2000, 4000)],
    ]),
    fallthrough: new Map([['c', [fallthrough]]]),
  };
}

const kSpec: PipelineSpec = {
  stages: [
    { name: 'f', kind: 'model', model: 'feat', output_type: 'doubles' },
    { name: 'c', kind: 'cascade', input: 'f', models: ['fast', 'slow'], threshold: 0.8 },
  ],
  output: 'c',
};
const kSloUs = 100_000;

/** Plans by their arguments: each is made once (a plan is a pure function of them). */
const plans = new Map<string, PipelinePlan>();

function plan(rate: number, options: { fallthrough?: number; seed?: number; workload?: WorkloadSpec } = {}): PipelinePlan {
  const key = JSON.stringify([rate, options]);
  const made = plans.get(key);
  if (made !== undefined) return structuredClone(made);
  const p = planPipeline({
    spec: kSpec,
    profile: profile(options.fallthrough ?? 0.5),
    workload: options.workload ?? { kind: 'poisson', rate_qps: rate },
    sloUs: kSloUs,
    seed: options.seed ?? 7,
    replicasMax: 12,
  });
  plans.set(key, structuredClone(p));
  return p;
}

const replicasOf = (p: PipelinePlan, model: string): number => p.models.find((m) => m.model === model)!.replicas;

/** Simulates the plan's configuration, with one model changed, as the planner did. */
function resimulate(p: PipelinePlan, fallthrough: number, change?: { model: string; replicas: number }) {
  const config: PipelineConfig = {
    models: new Map(
      p.models.map((m) => [m.model, { batchSize: m.batch_size, replicas: change?.model === m.model ? change.replicas : m.replicas }]),
    ),
  };
  const durationMs = defaultDurationMs(p.workload.rate_qps);
  const out = simulatePipeline(kSpec, profile(fallthrough), config, p.workload, p.slo_micros, {
    seed: p.seed,
    durationMs,
    warmupMs: Math.round(durationMs / 10),
  });
  return { out, meets: out.p99Us <= p.slo_micros && out.sloMissRatio <= 0.01 };
}

test('deterministic under a seed: the same input gives the same plan JSON; another seed another prediction', () => {
  const a = plan(400);
  const input = { spec: kSpec, profile: profile(0.5), workload: a.workload, sloUs: kSloUs, seed: 7, replicasMax: 12 };
  assert.equal(JSON.stringify(planPipeline(input)), JSON.stringify(a));
  const b = plan(400, { seed: 8 });
  assert.equal(b.seed, 8);
  assert.notEqual(b.predicted.p99_micros, a.predicted.p99_micros);
});

test('more load never gets fewer replicas', () => {
  const totals = [50, 400, 1000].map((rate) => plan(rate).predicted.replicas);
  for (let i = 1; i < totals.length; i++) assert.ok(totals[i]! >= totals[i - 1]!, `replicas by load: ${totals.join(', ')}`);
  assert.ok(totals[2]! > totals[0]!, `replicas by load: ${totals.join(', ')}`);
});

test('a cascade that rarely falls through needs fewer replicas for its second model', () => {
  const rarely = plan(300, { fallthrough: 0.1 });
  const mostly = plan(300, { fallthrough: 0.9 });
  assert.ok(
    replicasOf(rarely, 'slow') < replicasOf(mostly, 'slow'),
    `slow: ${replicasOf(rarely, 'slow')} vs ${replicasOf(mostly, 'slow')}`,
  );
  assert.equal(rarely.models.find((m) => m.model === 'slow')!.visit_fraction, 0.1);
  assert.equal(rarely.models.find((m) => m.model === 'fast')!.visit_fraction, 1);
});

test('the plan meets the SLO in simulation; one replica fewer on any model does not', () => {
  const p = plan(1000);
  assert.ok(planMeetsSlo(p));
  assert.ok(p.predicted.p99_micros <= kSloUs && p.predicted.slo_miss_ratio <= 0.01);
  const again = resimulate(p, 0.5);
  assert.ok(again.meets);
  assert.equal(again.out.p99Us, p.predicted.p99_micros, 'the prediction is the simulation of the plan');
  let checked = 0;
  for (const m of p.models) {
    if (m.replicas === 1) continue;
    checked++;
    const fewer = resimulate(p, 0.5, { model: m.model, replicas: m.replicas - 1 });
    assert.ok(
      !fewer.meets,
      `${m.model} at ${m.replicas - 1} replicas still meets the SLO: p99 ${fewer.out.p99Us}, misses ${fewer.out.sloMissRatio}`,
    );
  }
  assert.ok(checked > 0, 'at 1000 q/s some model needs more than one replica');
});

test('the baseline (same replicas everywhere) is never cheaper than the plan', () => {
  for (const rate of [50, 1000]) {
    const p = plan(rate);
    assert.ok(p.baseline !== undefined);
    assert.ok(p.baseline.replicas >= p.predicted.replicas, `rate ${rate}: baseline ${p.baseline.replicas} < plan ${p.predicted.replicas}`);
    assert.equal(p.baseline.replicas % p.models.length, 0, 'the same count for every model');
  }
});

test("the plan passes the store's validation; the tuner's rule gives back its replicas at its own rate", () => {
  for (const p of [
    plan(400),
    plan(1000),
    plan(300, { workload: { kind: 'bursty', rate_qps: 300, burst_factor: 3, on_mean_ms: 250, off_mean_ms: 750 } }),
  ]) {
    const json = JSON.parse(JSON.stringify(p));
    assert.deepEqual(validatePlan(json, kSpec), json);
    const rate = p.workload.rate_qps;
    assert.deepEqual(replicasForRate(p, rate), new Map(p.models.map((m) => [m.model, m.replicas])));
    assert.deepEqual(p.envelope_qps, envelopeFor(rate));
    assert.ok(p.stage_budgets_micros.f! + p.stage_budgets_micros.c! <= kSloUs);
    assert.equal(p.reactive, true);
    assert.equal(p.replicas_max, 12);
  }
});

test('replicasForRate: proportional to the rate and the visits, within [1, replicas_max]', () => {
  const p = plan(1000);
  const slow = p.models.find((m) => m.model === 'slow')!;
  const at = (rate: number) => replicasForRate(p, rate).get('slow')!;
  assert.equal(at(2000), Math.min(12, Math.ceil((2000 * slow.visit_fraction) / slow.capacity_qps_per_replica)));
  assert.ok(at(2000) >= at(1000));
  assert.equal(at(1), 1);
  assert.equal(at(0), 1);
  assert.equal(at(1e9), 12);
  const [low, high] = envelopeFor(100);
  assert.ok(Math.abs(low - 70) < 1e-9 && Math.abs(high - 115) < 1e-9, `envelope ${low}..${high}`);
});

test('an SLO below the slowest path, and bad inputs, are refused with a 400 naming the field', () => {
  const refused = (input: Partial<Parameters<typeof planPipeline>[0]>, mentions: RegExp) =>
    assert.throws(
      () =>
        planPipeline({
          spec: kSpec,
          profile: profile(0.5),
          workload: { kind: 'poisson', rate_qps: 100 },
          sloUs: kSloUs,
          seed: 1,
          replicasMax: 4,
          ...input,
        }),
      (err: unknown) => err instanceof ClipperError && err.status === 400 && mentions.test(err.message),
    );
  // Slowest path at batch size 1: feat 600 + fast 900 + slow 6300 µs.
  refused({ sloUs: 7000 }, /slo_micros: 7000 µs is below the pipeline's slowest path at batch size 1 \(7800 µs/);
  refused({ sloUs: 1.5 }, /slo_micros: must be an integer/);
  refused({ replicasMax: 0 }, /replicas_max/);
  refused({ seed: 0.5 }, /seed/);
  refused({ durationMs: 1 }, /durationMs/);
});

test('the plan as a table: per model batch, replicas, t(n), visits; the prediction and the baseline', () => {
  const p = plan(1000);
  const text = formatPlanTable(p, kSpec);
  for (const m of p.models) assert.match(text, new RegExp(`^${m.model}:1 +(adaptive|${m.batch_size}) +${m.replicas} `, 'm'));
  assert.match(text, /^predicted: p50 [\d.]+ ms, p99 [\d.]+ ms/m);
  assert.match(text, /^baseline \(same replicas for every model, adaptive batching\): \d+ replicas/m);
  assert.match(text, /^stage budgets: f [\d.]+ ms, c [\d.]+ ms/m);
  assert.match(text, /^workload: poisson 1000 q\/s; SLO \(p99\) 100\.00 ms; seed 7/);
  assert.doesNotMatch(text, /NOT met/);
  const unmet = formatPlanTable({ ...p, predicted: { ...p.predicted, slo_miss_ratio: 0.2 } });
  assert.match(unmet, /the SLO is NOT met: no configuration found \(up to 12 replicas per model\) meets it/);
});

test('an SLO no configuration meets: the best found, flagged, and the search gives up early', () => {
  // A deviation of 1.5× the mean: some single batches overrun the budget whatever the replicas.
  const noisy: ModelProfile = {
    model: 'a',
    version: '1',
    latencyUs: [
      [1, 3000],
      [2, 4500],
    ],
    latencyStdUs: [
      [1, 4500],
      [2, 6750],
    ],
    hopOverheadUs: 100,
  };
  const p = planPipeline({
    spec: { stages: [{ name: 's', kind: 'model', model: 'a' }], output: 's' },
    profile: { models: new Map([['a', noisy]]), fallthrough: new Map() },
    workload: { kind: 'poisson', rate_qps: 100 },
    sloUs: 10_000,
    seed: 1,
    replicasMax: 64,
    durationMs: 5000,
  });
  assert.equal(planMeetsSlo(p), false);
  assert.ok(p.predicted.slo_miss_ratio > 0.01);
  assert.ok(p.models[0]!.replicas < 64, `gave up at ${p.models[0]!.replicas} replicas`);
  assert.match(formatPlanTable(p), /NOT met/);
});

test('verification: a plan that meets the SLO on its seed but not on others is grown until it meets it on 3 more', () => {
  // The honesty bench's pipeline (docs/pipelines.md "Is the plan honest"): featurize 5 + 2.5 n ms,
  // fast 5 + 5 n, slow 10 + 60 n; 30% fall through; bursty 60 q/s under a 500 ms SLO.
  const sizes = [1, 2, 4, 8, 16, 32];
  const model = (name: string, a: number, b: number): ModelProfile => ({
    model: name,
    version: '1',
    latencyUs: sizes.map((n) => [n, 5000 * (a + b * n)]),
    latencyStdUs: [],
    hopOverheadUs: 4000,
  });
  const profile: PipelineProfile = {
    models: new Map([
      ['feat', model('feat', 1, 0.5)],
      ['fast', model('fast', 1, 1)],
      ['slow', model('slow', 2, 12)],
    ]),
    fallthrough: new Map([['c', [0.3]]]),
  };
  const spec: PipelineSpec = { ...kSpec, stages: [kSpec.stages[0]!, { ...kSpec.stages[1]!, threshold: 0.3 }] };
  const workload: WorkloadSpec = { kind: 'bursty', rate_qps: 60, burst_factor: 3, on_mean_ms: 250, off_mean_ms: 750 };
  const durationMs = 30_000;
  const report = planPipelineReport({ spec, profile, workload, sloUs: 500_000, seed: 1, replicasMax: 6, durationMs });
  const v = report.verification;
  assert.deepEqual(
    v.seeds.map((x) => x.seed),
    [2, 3, 4],
  );
  assert.ok(v.meets && v.seeds.every((x) => x.meets && x.p99Us <= 500_000 && x.sloMissRatio <= 0.01), JSON.stringify(v));
  assert.ok(v.addedReplicas >= 1, `the verification added ${v.addedReplicas} replicas`);
  assert.ok(report.plan.baseline!.replicas >= report.plan.predicted.replicas);
  const meetsOn = (settings: Array<{ model: string; batch_size: number; replicas: number }>, seed: number): boolean => {
    const config: PipelineConfig = { models: new Map(settings.map((m) => [m.model, { batchSize: m.batch_size, replicas: m.replicas }])) };
    const out = simulatePipeline(spec, profile, config, workload, 500_000, { seed, durationMs, warmupMs: durationMs / 10 });
    return out.p99Us <= 500_000 && out.sloMissRatio <= 0.01;
  };
  // The replica it added was needed: without it, the plan meets the SLO on its own seed, not on every other.
  const slow = report.plan.models.find((m) => m.model === 'slow')!;
  const fewer = report.plan.models.map((m) => (m === slow ? { ...m, replicas: m.replicas - 1 } : m));
  assert.ok(meetsOn(fewer, 1), 'one fewer slow replica meets the SLO on seed 1');
  assert.ok(
    [2, 3, 4].some((seed) => !meetsOn(fewer, seed)),
    'one fewer slow replica misses it on another seed',
  );
  const text = formatPlanTable(report.plan, spec, { profile, report });
  assert.match(
    text,
    /^verified on seeds 2, 3, 4: p99 [\d.]+ ms \/ [\d.]+ ms \/ [\d.]+ ms, missed [\d.]+% \/ [\d.]+% \/ [\d.]+%; \d+ replica\(s\) added until they did \(the plan\)$/m,
  );
  assert.match(text, /^baseline verified on seeds 2, 3, 4: /m);
  assert.match(
    text,
    /^overheads: per call \(in the server, beyond t\(n\)\) feat 4\.00 ms, fast 4\.00 ms, slow 4\.00 ms; per query \(HTTP edge\) 0\.00 ms$/m,
  );
  assert.match(text, /^fall-through: cascade 'c' after fast 0\.300 \(samples not recorded in the profile\)$/m);
});

test("the table: each fall-through share's standard error, and a warning when it exceeds 0.02", () => {
  const p = plan(400);
  const withSamples = (n: number): PipelineProfile => ({
    ...profile(0.5),
    fallthroughSamples: new Map([['c', [n]]]),
    edgeOverheadUs: 1200,
  });
  // 0.5 on 256 samples: √(0.25 / 256) = 0.031 > 0.02; on 1024: 0.016.
  const few = formatPlanTable(p, kSpec, { profile: withSamples(256) });
  assert.match(few, /^fall-through: cascade 'c' after fast 0\.500 ± 0\.031 \(standard error, 256 samples\)$/m);
  assert.match(
    few,
    /^warning: the fall-through share of cascade 'c' after fast has a standard error of 0\.031 \(> 0\.02\) on 256 samples: .*about 625 reaching it\)$/m,
  );
  assert.match(few, /per query \(HTTP edge\) 1\.20 ms$/m);
  const many = formatPlanTable(p, kSpec, { profile: withSamples(1024) });
  assert.match(many, /after fast 0\.500 ± 0\.016 \(standard error, 1024 samples\)$/m);
  assert.doesNotMatch(many, /warning/);
});

test('the edge overhead counts in the slowest path an SLO must cover', () => {
  // Slowest path at batch size 1: 7800 µs; with a 1000 µs edge an 8000 µs SLO cannot be met.
  const input = { spec: kSpec, workload: { kind: 'poisson', rate_qps: 100 } as WorkloadSpec, sloUs: 8000, seed: 1, replicasMax: 4 };
  assert.throws(
    () => planPipeline({ ...input, profile: { ...profile(0.5), edgeOverheadUs: 1000 } }),
    /slo_micros: 8000 µs is below the pipeline's slowest path at batch size 1 \(8800 µs of t\(1\) \+ hop overhead \+ edge overhead\)/,
  );
});
