// Pipeline specs and plans (src/pipeline_spec.ts, pipeline_stage_check.ts, pipeline_plan_check.ts):
// every refusal is a 400 whose message names the stage (or the plan's field); the order of stages,
// the models a pipeline calls, the confidence rule; and seeded random graphs: a valid one is accepted
// and its order respects every edge, a cycle added to it is refused naming the cycle.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import type { InputType } from '../../src/input_types.js';
import { Prng } from '../../src/lib/prng.js';
import { kReplicasMax } from '../../src/admin/admin_validate.js';
import { kPlanReplicasMax } from '../../src/pipeline_plan_check.js';
import {
  checkPipelineShape,
  pipelineModels,
  outputConfidence,
  stageOrder,
  stageSources,
  stagesUsingModel,
  validatePipeline,
  validatePlan,
  type ModelInfo,
  type PipelinePlan,
  type PipelineSpec,
  type WorkloadSpec,
} from '../../src/pipeline_spec.js';

const kModels: Record<string, InputType> = {
  fast: 'doubles',
  slow: 'doubles',
  third: 'doubles',
  feat: 'doubles',
  pred: 'floats',
  words: 'strings',
};
const lookup = (m: string): ModelInfo | undefined => (kModels[m] === undefined ? undefined : { inputType: kModels[m]! });
const validate = (spec: unknown, type: InputType = 'doubles'): PipelineSpec => validatePipeline(spec, type, lookup);

function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.code, 'CLP_ERR_INVALID_ARG');
    assert.equal(err.status, 400);
    assert.match(err.message, message);
    return true;
  });
}

const kCascade = {
  stages: [{ name: 'cheap', kind: 'cascade', models: ['fast', 'slow'], threshold: 0.9 }],
  output: 'cheap',
};

test('a cascade, an ensemble, a map and a combine are accepted as clean copies', () => {
  assert.deepEqual(validate(kCascade), kCascade);
  const spec = {
    stages: [
      { name: 'feat', kind: 'map', models: ['feat', 'pred'], feature_type: 'float', output_type: 'd' },
      {
        name: 'vote',
        kind: 'ensemble',
        input: 'feat',
        models: ['fast', 'slow', 'third'],
        combine: 'vote',
        field: 'label',
        weights: [1, 2, 0],
      },
      { name: 'one', kind: 'model', model: 'fast', budget_micros: 5000 },
      { name: 'join', kind: 'combine', inputs: ['vote', 'one'], combine: 'mean' },
    ],
    output: 'join',
    fallback: 'default',
  };
  const out = validate(spec);
  assert.equal(out.stages[0]!.feature_type, 'floats', 'type aliases are stored canonical');
  assert.equal(out.stages[0]!.output_type, 'doubles');
  assert.deepEqual(
    stageOrder(out).map((s) => s.name),
    ['feat', 'one', 'vote', 'join'],
    'sources first, declared order among the ready, the output last',
  );
  assert.deepEqual(pipelineModels(out), ['feat', 'pred', 'fast', 'slow', 'third']);
  assert.deepEqual(stagesUsingModel(out, 'fast'), ['vote', 'one']);
  assert.deepEqual(stageSources(out.stages[3]!), ['vote', 'one']);
  assert.deepEqual(stageSources(out.stages[2]!), ['$input']);
  out.stages[0]!.name = 'changed';
  assert.equal(spec.stages[0]!.name, 'feat', 'the input is not aliased');
});

test('shape errors name the stage and the field', () => {
  const one = (stage: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    stages: [{ name: 's', ...stage }],
    output: 's',
    ...extra,
  });
  const cases: Array<[unknown, RegExp]> = [
    [null, /^pipeline: must be a JSON object/],
    [{ stages: [], output: 'x' }, /^pipeline: 'stages' must be a list of 1 to 16 stages/],
    [{ stages: Array.from({ length: 17 }, (_, i) => ({ name: `s${i}`, kind: 'model', model: 'fast' })), output: 's0' }, /1 to 16/],
    [{ ...kCascade, extra: 1 }, /^pipeline: has no field 'extra'/],
    [{ stages: kCascade.stages }, /^pipeline: 'output' must name the stage/],
    [{ ...kCascade, fallback: 'retry' }, /^pipeline: 'fallback' must be 'best_so_far' or 'default'/],
    [{ stages: [{ name: '$input', kind: 'model', model: 'fast' }], output: '$input' }, /^pipeline: stages\[0\] needs a 'name'/],
    [{ stages: [{ name: 'bad name', kind: 'model', model: 'fast' }], output: 'x' }, /stages\[0\] needs a 'name'/],
    [{ stages: [7], output: 'x' }, /^pipeline: stages\[0\] must be a JSON object/],
    [one({ kind: 'loop' }), /^pipeline stage 's': 'kind' must be one of 'model', 'ensemble', 'cascade', 'map', 'combine'/],
    [one({ kind: 'model' }), /^pipeline stage 's': a model stage needs 'model'/],
    [one({ kind: 'model', model: 'fast', threshold: 0.5 }), /^pipeline stage 's': a model stage has no field 'threshold'/],
    [one({ kind: 'cascade', models: ['fast', 'slow'] }), /^pipeline stage 's': cascade needs 'threshold' in \[0, 1\]/],
    [one({ kind: 'cascade', models: ['fast', 'slow'], threshold: 1.5 }), /cascade needs 'threshold' in \[0, 1\]/],
    [one({ kind: 'cascade', models: ['fast'], threshold: 0.5 }), /^pipeline stage 's': 'models' must list at least 2 model names/],
    [one({ kind: 'ensemble', models: ['fast', 'fast'] }), /^pipeline stage 's': 'models' lists 'fast' more than once/],
    [one({ kind: 'ensemble', models: ['fast', 'slow'], weights: [1] }), /^pipeline stage 's': 'weights' must be 2 non-negative numbers/],
    [one({ kind: 'ensemble', models: ['fast', 'slow'], weights: [0, 0] }), /'weights' must not all be 0/],
    [one({ kind: 'ensemble', models: ['fast', 'slow'], combine: 'max' }), /^pipeline stage 's': 'combine' must be one of/],
    [one({ kind: 'ensemble', models: ['fast', 'slow'], field: '' }), /'field' must be a non-empty string/],
    [
      one({ kind: 'ensemble', models: ['fast', 'slow'], confidence_field: 'p' }),
      /^pipeline stage 's': an ensemble stage takes no 'confidence_field': only a cascade reads one/,
    ],
    [one({ kind: 'map', models: ['feat', 'pred', 'fast'], feature_type: 'floats' }), /'models' must list exactly 2/],
    [one({ kind: 'map', models: ['feat', 'pred'] }), /^pipeline stage 's': a map stage needs 'feature_type'/],
    [one({ kind: 'map', models: ['feat', 'pred'], feature_type: 'tensor' }), /'feature_type' must be an input type/],
    [one({ kind: 'model', model: 'fast', output_type: 'x' }), /^pipeline stage 's': 'output_type' must be an input type/],
    [one({ kind: 'model', model: 'fast', budget_micros: 0 }), /^pipeline stage 's': 'budget_micros' must be a number > 0/],
    [one({ kind: 'model', model: 'fast', input: 3 }), /'input' must be '\$input' or a stage's name/],
    [one({ kind: 'combine', inputs: ['$input', 'a'] }), /'inputs' names stages; '\$input' is not one/],
    [one({ kind: 'combine', inputs: ['a'] }), /'inputs' must list at least 2 stage names/],
    [one({ kind: 'combine', inputs: ['a', 'b'], input: 'a' }), /a combine stage has no field 'input'/],
  ];
  for (const [spec, message] of cases) refused(() => validate(spec), message);
});

test('graph errors: duplicates, unknown references, the output, cycles, dead stages', () => {
  const m = (name: string, input = '$input', extra: Record<string, unknown> = {}) => ({
    name,
    kind: 'model',
    model: 'fast',
    input,
    output_type: 'doubles',
    ...extra,
  });
  const cases: Array<[unknown, RegExp]> = [
    [{ stages: [m('a'), m('a')], output: 'a' }, /^pipeline stage 'a': the name is used by another stage too/],
    [{ stages: [m('a', 'nope')], output: 'a' }, /^pipeline stage 'a': reads stage 'nope', which does not exist/],
    [{ stages: [m('a')], output: 'x' }, /^pipeline: output names no stage 'x'/],
    [{ stages: [m('a', 'b'), m('b', 'a')], output: 'a' }, /^pipeline stage 'b': cycle through 'a' -> 'b' -> 'a'/],
    [{ stages: [m('a', 'a')], output: 'a' }, /^pipeline stage 'a': cycle through 'a' -> 'a'/],
    [
      { stages: [m('a', 'c'), m('b', 'a'), m('c', 'b'), m('out')], output: 'out' },
      /^pipeline stage 'c': cycle through 'a' -> 'b' -> 'c' -> 'a'/,
    ],
    [{ stages: [m('a'), m('b')], output: 'b' }, /^pipeline stage 'a': its output leads to no stage on the way to the output stage 'b'/],
  ];
  for (const [spec, message] of cases) refused(() => checkPipelineShape(spec), message);
});

test('type errors along edges name the stage, the model and both types', () => {
  const cases: Array<[unknown, InputType, RegExp]> = [
    [{ stages: [{ name: 'a', kind: 'model', model: 'ghost' }], output: 'a' }, 'doubles', /^pipeline stage 'a': no model named 'ghost'/],
    [kCascade, 'floats', /^pipeline stage 'cheap': model 'fast' takes doubles but the application's input_type is floats/],
    [
      {
        stages: [
          { name: 'f', kind: 'model', model: 'fast', output_type: 'floats' },
          { name: 'p', kind: 'model', model: 'slow', input: 'f' },
        ],
        output: 'p',
      },
      'doubles',
      /^pipeline stage 'p': model 'slow' takes doubles but stage 'f' outputs floats/,
    ],
    [
      {
        stages: [
          { name: 'f', kind: 'model', model: 'fast' },
          { name: 'p', kind: 'model', model: 'slow', input: 'f' },
        ],
        output: 'p',
      },
      'doubles',
      /^pipeline stage 'f': 'output_type' is required: stage 'p' reads its output/,
    ],
    [
      { stages: [{ name: 'm', kind: 'map', models: ['feat', 'pred'], feature_type: 'doubles' }], output: 'm' },
      'doubles',
      /^pipeline stage 'm': model 'pred' takes floats but its feature_type is doubles/,
    ],
    [
      { stages: [{ name: 'e', kind: 'ensemble', models: ['fast', 'words'] }], output: 'e' },
      'doubles',
      /^pipeline stage 'e': model 'words' takes strings but the application's input_type is doubles/,
    ],
    [
      {
        stages: [
          { name: 'a', kind: 'model', model: 'fast', output_type: 'doubles' },
          { name: 'b', kind: 'model', model: 'slow', output_type: 'floats' },
          { name: 'j', kind: 'combine', inputs: ['a', 'b'], output_type: 'doubles' },
          { name: 'last', kind: 'model', model: 'third', input: 'j' },
        ],
        output: 'last',
      },
      'doubles',
      /^pipeline stage 'j': its output is read by another stage, so each of its inputs must output doubles; stage 'b' outputs floats/,
    ],
  ];
  for (const [spec, type, message] of cases) refused(() => validate(spec, type), message);
  // A combine nobody reads further merges whatever its inputs output.
  const free = {
    stages: [
      { name: 'a', kind: 'model', model: 'fast' },
      { name: 'w', kind: 'model', model: 'words', input: '$input' },
      { name: 'j', kind: 'combine', inputs: ['a', 'w'] },
    ],
    output: 'j',
  };
  refused(() => validate(free, 'doubles'), /^pipeline stage 'w': model 'words' takes strings/);
  assert.equal(
    validate({ ...free, stages: [free.stages[0]!, { ...free.stages[0]!, name: 'b' }, { ...free.stages[2]!, inputs: ['a', 'b'] }] }).output,
    'j',
  );
});

/** A random valid DAG: stage i reads $input or an earlier stage (or, for a combine, two earlier ones); the last is the output. */
function randomPipeline(rng: Prng, count: number): { stages: Array<Record<string, unknown>>; output: string } {
  const stages: Array<Record<string, unknown>> = [];
  for (let i = 0; i < count; i++) {
    const name = `s${i}`;
    const earlier = stages.map((s) => s.name as string);
    const r = rng.next();
    if (earlier.length >= 2 && r < 0.25) {
      const a = earlier[Math.floor(rng.next() * earlier.length)]!;
      const b = earlier.find((n) => n !== a)!;
      stages.push({ name, kind: 'combine', inputs: [a, b], output_type: 'doubles' });
      continue;
    }
    const input = earlier.length === 0 || rng.next() < 0.3 ? '$input' : earlier[Math.floor(rng.next() * earlier.length)]!;
    const kind = ['model', 'ensemble', 'cascade'][Math.floor(rng.next() * 3)]!;
    const members = kind === 'model' ? { model: 'fast' } : { models: ['fast', 'slow'], ...(kind === 'cascade' ? { threshold: 0.5 } : {}) };
    stages.push({ name, kind, input, output_type: 'doubles', ...members });
  }
  // Every stage must lead to the output: a final combine of all stages nothing reads yet.
  const read = new Set(stages.flatMap((s) => (s.inputs as string[] | undefined) ?? [s.input as string]));
  const sinks = stages.map((s) => s.name as string).filter((n) => !read.has(n));
  if (sinks.length === 1) return { stages, output: sinks[0]! };
  stages.push({ name: 'out', kind: 'combine', inputs: sinks });
  return { stages, output: 'out' };
}

test('seeded random graphs: valid ones pass, their order respects every edge; a back edge is a named cycle', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rng = new Prng(seed);
    const spec = randomPipeline(rng, 2 + (seed % 13));
    const out = validate(spec);
    const order = stageOrder(out).map((s) => s.name);
    assert.equal(order.length, out.stages.length, `seed ${seed}: every stage ordered`);
    assert.equal(order.at(-1), out.output, `seed ${seed}: the output last`);
    for (const stage of out.stages) {
      for (const src of stageSources(stage)) {
        if (src !== '$input') assert.ok(order.indexOf(src) < order.indexOf(stage.name), `seed ${seed}: ${src} before ${stage.name}`);
      }
    }
    // Make the first non-combine stage read the output's predecessor chain: s0 reads the output → a cycle (or a dead edge).
    const first = spec.stages.find((s) => s.kind !== 'combine' && s.input === '$input')!;
    const cyclic = { ...spec, stages: spec.stages.map((s) => (s === first ? { ...s, input: spec.output } : s)) };
    refused(() => validate(cyclic), /cycle through '.+'( -> '.+')+/);
  }
});

test('outputConfidence: output[field] when a finite number, the largest element of a numeric array, else 0', () => {
  assert.equal(outputConfidence({ confidence: 0.7 }), 0.7);
  assert.equal(outputConfidence({ p: 0.4 }, 'p'), 0.4);
  assert.equal(outputConfidence({ p: 0.4 }), 0);
  assert.equal(outputConfidence({ confidence: 'high' }), 0);
  assert.equal(outputConfidence({ confidence: Number.NaN }), 0);
  assert.equal(outputConfidence([0.1, 0.8, 0.1]), 0.8);
  assert.equal(outputConfidence([-2, -1]), -1);
  assert.equal(outputConfidence([0.9, 'x']), 0);
  assert.equal(outputConfidence([0.9, Number.POSITIVE_INFINITY]), 0);
  assert.equal(outputConfidence([]), 0);
  assert.equal(outputConfidence(3), 0);
  assert.equal(outputConfidence(null), 0);
});

function plan(overrides: Partial<PipelinePlan> = {}): PipelinePlan {
  const model = (name: string) => ({
    model: name,
    version: '1',
    batch_size: -1,
    replicas: 2,
    latency_us: [
      [1, 500],
      [4, 900],
    ] as Array<[number, number]>,
    visit_fraction: name === 'fast' ? 1 : 0.3,
    capacity_qps_per_replica: 400,
  });
  return {
    seed: 7,
    workload: { kind: 'poisson', rate_qps: 200 },
    slo_micros: 50_000,
    models: [model('fast'), model('slow')],
    stage_budgets_micros: { cheap: 50_000 },
    predicted: { p99_micros: 30_000, p50_micros: 5_000, throughput_qps: 200, replicas: 4, slo_miss_ratio: 0.001 },
    baseline: { replicas: 6, p99_micros: 20_000, slo_miss_ratio: 0 },
    envelope_qps: [140, 230],
    replicas_max: 8,
    reactive: true,
    ...overrides,
  };
}

test("validatePlan: a plan of the pipeline's models is accepted; each refusal names the field", () => {
  const spec = validate(kCascade);
  assert.deepEqual(validatePlan(plan(), spec), plan());
  const bursty = { kind: 'bursty', rate_qps: 100, burst_factor: 3, on_mean_ms: 200, off_mean_ms: 800 } as const;
  assert.deepEqual(validatePlan(plan({ workload: bursty }), spec).workload, bursty);
  const trace: WorkloadSpec = { kind: 'trace', arrivals_ms: [0, 5, 5, 9], rate_qps: 400 };
  assert.deepEqual(validatePlan(plan({ workload: trace }), spec).workload, trace);
  const { baseline: _, ...noBaseline } = plan();
  assert.equal(validatePlan(noBaseline, spec).baseline, undefined);
  const bad = (o: Record<string, unknown>) => ({ ...plan(), ...o });
  const m0 = plan().models[0]!;
  const cases: Array<[unknown, RegExp]> = [
    [null, /^pipeline_plan\.plan must be a JSON object/],
    [bad({ extra: 1 }), /^pipeline_plan\.plan\.extra is not a field of plan/],
    [bad({ seed: 1.5 }), /^pipeline_plan\.seed must be an integer/],
    [bad({ slo_micros: 0 }), /^pipeline_plan\.slo_micros must be an integer >= 1/],
    [bad({ workload: { kind: 'wave', rate_qps: 1 } }), /^pipeline_plan\.workload\.kind must be 'poisson', 'constant', 'bursty' or 'trace'/],
    [bad({ workload: { kind: 'poisson', rate_qps: 0 } }), /^pipeline_plan\.workload\.rate_qps must be a finite number > 0 \(got 0\)/],
    [
      bad({ workload: { kind: 'poisson', rate_qps: Number.POSITIVE_INFINITY } }),
      /workload\.rate_qps must be a finite number > 0 \(got Infinity\)/,
    ],
    [
      bad({ workload: { ...bursty, burst_factor: 0.5 } }),
      /^pipeline_plan\.workload\.burst_factor must be a finite number >= 1 \(got 0\.5\)/,
    ],
    [
      bad({ workload: { ...trace, arrivals_ms: [5, 1] } }),
      /^pipeline_plan\.workload\.arrivals_ms\[1\] must be a finite number >= 5 \(got 1\)/,
    ],
    [bad({ workload: { ...trace, arrivals_ms: [] } }), /workload\.arrivals_ms must be a list of at least 1/],
    [bad({ models: [m0] }), /^pipeline_plan\.models has no entry for the pipeline's model 'slow'/],
    [bad({ models: [m0, { ...m0, model: 'other' }] }), /^pipeline_plan\.models\[1\]\.model is not a model of the pipeline/],
    [bad({ models: [m0, m0] }), /^pipeline_plan\.models\[1\]\.model is listed twice/],
    [bad({ models: [{ ...m0, replicas: 0 }] }), /^pipeline_plan\.models\[0\]\.replicas must be an integer in \[1, 8\]/],
    [bad({ models: [{ ...m0, replicas: 9 }] }), /models\[0\]\.replicas must be an integer in \[1, 8\] \(got 9\)/],
    [bad({ models: [{ ...m0, batch_size: 0 }] }), /^pipeline_plan\.models\[0\]\.batch_size must be an integer >= 1/],
    [bad({ models: [{ ...m0, latency_us: [] }] }), /models\[0\]\.latency_us must be a list of at least 1/],
    [
      bad({
        models: [
          {
            ...m0,
            latency_us: [
              [2, 5],
              [2, 9],
            ],
          },
        ],
      }),
      /models\[0\]\.latency_us\[1\]\[0\] must be an integer >= 3/,
    ],
    [bad({ models: [{ ...m0, latency_us: [[1, -5]] }] }), /models\[0\]\.latency_us\[0\]\[1\] must be a finite number >= 0/],
    [bad({ models: [{ ...m0, visit_fraction: 0 }] }), /models\[0\]\.visit_fraction must be a number in \(0, 1\]/],
    [bad({ models: [{ ...m0, capacity_qps_per_replica: 0 }] }), /capacity_qps_per_replica must be a finite number > 0/],
    [bad({ models: [{ ...m0, gpu: true }] }), /models\[0\]\.gpu is not a field of models\[0\]/],
    [bad({ stage_budgets_micros: { nope: 5 } }), /^pipeline_plan\.stage_budgets_micros\.nope is not a field/],
    [bad({ stage_budgets_micros: { cheap: 60_000 } }), /^pipeline_plan\.stage_budgets_micros must sum to at most slo_micros \(50000\)/],
    [
      bad({ predicted: { ...plan().predicted, slo_miss_ratio: 2 } }),
      /^pipeline_plan\.predicted\.slo_miss_ratio must be a number in \[0, 1\]/,
    ],
    [bad({ predicted: { p99_micros: 1 } }), /^pipeline_plan\.predicted\.p50_micros is required/],
    [bad({ baseline: { replicas: -1, p99_micros: 1, slo_miss_ratio: 0 } }), /^pipeline_plan\.baseline\.replicas must be an integer >= 0/],
    [bad({ envelope_qps: [5] }), /^pipeline_plan\.envelope_qps must be a pair/],
    [bad({ envelope_qps: [300, 200] }), /^pipeline_plan\.envelope_qps\[1\] must be a finite number >= 300 \(got 200\)/],
    [bad({ replicas_max: 0 }), /^pipeline_plan\.replicas_max must be an integer in \[1, 64\] \(got 0\)/],
    // kPlanReplicasMax: what set_num_replicas takes (admin_validate.ts kReplicasMax), so an applied plan fits.
    [bad({ replicas_max: kPlanReplicasMax + 1 }), /^pipeline_plan\.replicas_max must be an integer in \[1, 64\] \(got 65\)/],
    [bad({ reactive: 'yes' }), /^pipeline_plan\.reactive must be true or false/],
  ];
  for (const [value, message] of cases) refused(() => validatePlan(value, spec), message);
  assert.equal(kPlanReplicasMax, kReplicasMax, "a plan's bound is set_num_replicas's");
});
