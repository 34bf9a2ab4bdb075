// `clipper plan`'s flags (src/cli/plan_args.ts): defaults, refusals that name the flag, the workload
// they describe, and the sample inputs (a file, or seeded random ones of the app's input type); and
// what --apply does (src/cli/plan.ts): the checks before any write, and the order of the writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyPlan, checkApplicable } from '../../src/cli/plan.js';
import { parseSamples, planWorkload, randomSamples, readPlanArgs } from '../../src/cli/plan_args.js';
import { ClipperError } from '../../src/errors.js';
import { kPlanReplicasMax } from '../../src/pipeline_plan_check.js';
import type { PipelinePlan, PipelineSpec } from '../../src/pipeline_spec.js';

const noFiles = (file: string): string => {
  throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
};

function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.code, 'CLP_ERR_INVALID_ARG');
    assert.match(err.message, message);
    return true;
  });
}

test('defaults: seed 1, replicas-max 8, batch-max 32, 5 reps, 600 random samples of 16, the app SLO', () => {
  const args = readPlanArgs({ rate: '200' }, ['cascade']);
  assert.equal(args.app, 'cascade');
  assert.deepEqual(args.workload, { rate: 200, kind: undefined, tracePath: undefined, burstFactor: undefined });
  assert.equal(args.sloMicros, null);
  assert.equal(args.seed, 1);
  assert.equal(args.replicasMax, 8);
  assert.equal(args.batchMax, 32);
  assert.equal(args.reps, 5);
  assert.equal(args.inputSize, 16);
  assert.equal(args.sampleCount, 600);
  assert.equal(args.durationMs, null);
  assert.equal(args.profilePath, null);
  assert.equal(args.saveProfilePath, null);
  assert.deepEqual([args.apply, args.force, args.json, args.reactive], [false, false, false, true]);
});

test('every flag is read', () => {
  const args = readPlanArgs(
    {
      rate: '50.5',
      workload: 'bursty',
      'burst-factor': '2',
      'slo-micros': '20000',
      seed: '7',
      'replicas-max': '3',
      samples: 's.json',
      'batch-max': '12',
      reps: '2',
      'duration-ms': '5000',
      'save-profile': 'p.json',
      'no-reactive': true,
      apply: true,
      force: true,
      json: true,
    },
    ['app1'],
  );
  assert.deepEqual(args.workload, { rate: 50.5, kind: 'bursty', tracePath: undefined, burstFactor: 2 });
  assert.equal(args.sloMicros, 20_000);
  assert.equal(args.seed, 7);
  assert.equal(args.replicasMax, 3);
  assert.equal(args.samplesPath, 's.json');
  assert.equal(args.batchMax, 12);
  assert.equal(args.reps, 2);
  assert.equal(args.durationMs, 5000);
  assert.equal(args.saveProfilePath, 'p.json');
  assert.deepEqual([args.apply, args.force, args.json, args.reactive], [true, true, true, false]);
});

test('bad flags are refused with a message naming the flag', () => {
  refused(() => readPlanArgs({ rate: '1' }, []), /usage: clipper plan APP/);
  refused(() => readPlanArgs({ rate: '1' }, ['a', 'b']), /one application name, got a b/);
  refused(() => readPlanArgs({ rate: 'fast' }, ['a']), /--rate must be a number > 0 \(got fast\)/);
  refused(() => readPlanArgs({ rate: '-3' }, ['a']), /--rate must be a number > 0/);
  refused(() => readPlanArgs({ rate: '1', 'replicas-max': '0' }, ['a']), /--replicas-max must be an integer in \[1, 64\] \(got 0\)/);
  // The server stores no plan above kPlanReplicasMax (set_pipeline_plan): refused here, before any write.
  refused(() => readPlanArgs({ rate: '1', 'replicas-max': '65' }, ['a']), /--replicas-max must be an integer in \[1, 64\] \(got 65\)/);
  assert.equal(readPlanArgs({ rate: '1', 'replicas-max': String(kPlanReplicasMax) }, ['a']).replicasMax, kPlanReplicasMax);
  refused(() => readPlanArgs({ rate: '1', force: true }, ['a']), /--force .* needs --apply/);
  refused(() => readPlanArgs({ rate: '1', 'batch-max': '2.5' }, ['a']), /--batch-max must be an integer/);
  refused(() => readPlanArgs({ rate: '1', 'slo-micros': '0' }, ['a']), /--slo-micros must be an integer in \[1,/);
  refused(() => readPlanArgs({ rate: '1', seed: 'x' }, ['a']), /--seed must be an integer/);
  refused(() => readPlanArgs({ rate: '1', profile: 'p.json', samples: 's.json' }, ['a']), /--samples measures a profile: .*--profile/);
  refused(() => readPlanArgs({ rate: '1', profile: 'p', 'save-profile': 'q' }, ['a']), /--save-profile .* --profile/);
  refused(() => readPlanArgs({ rate: '1', samples: 's', 'input-size': '4' }, ['a']), /--input-size .* or --samples, not both/);
  refused(() => readPlanArgs({ rate: '1', trace: 't' }, ['a']), /give --rate or --trace, not both/);
});

test('the workload: poisson by default, errors name --rate, --workload, --burst-factor and --trace', () => {
  assert.deepEqual(planWorkload({ rate: 100 }, noFiles), { kind: 'poisson', rate_qps: 100 });
  assert.deepEqual(planWorkload({ rate: 10, kind: 'constant' }, noFiles), { kind: 'constant', rate_qps: 10 });
  const bursty = planWorkload({ rate: 10, kind: 'bursty', burstFactor: 2 }, noFiles);
  assert.equal(bursty.kind, 'bursty');
  refused(() => planWorkload({}, noFiles), /^--rate: is required/);
  refused(() => planWorkload({ rate: 5, kind: 'zipf' }, noFiles), /^--workload: must be one of/);
  refused(() => planWorkload({ rate: 5, burstFactor: 2 }, noFiles), /^--burst-factor: applies to the bursty workload only/);
  refused(() => planWorkload({ tracePath: '/nope/trace.txt' }, noFiles), /--trace: cannot read \/nope\/trace.txt: ENOENT/);
  refused(() => planWorkload({ tracePath: 't' }, () => '5'), /^--trace: needs at least 2 arrival times/);
  const trace = planWorkload({ tracePath: 't' }, () => '0\n10\n20\n30\n');
  assert.equal(trace.kind, 'trace');
  assert.equal(trace.rate_qps, 4 / 0.03);
});

test('samples: a non-empty JSON array; random ones follow the input type and the seed', () => {
  assert.deepEqual(parseSamples('[[1,2],[3,4]]', 's.json'), [
    [1, 2],
    [3, 4],
  ]);
  refused(() => parseSamples('{', 's.json'), /--samples s.json is not JSON/);
  refused(() => parseSamples('[]', 's.json'), /--samples s.json must be a non-empty JSON array/);
  refused(() => parseSamples('{"a":1}', 's.json'), /must be a non-empty JSON array/);

  const doubles = randomSamples('doubles', 3, 4, 9) as number[][];
  assert.equal(doubles.length, 3);
  for (const row of doubles) {
    assert.equal(row.length, 4);
    for (const v of row) assert.ok(v >= 0 && v < 1);
  }
  assert.deepEqual(randomSamples('doubles', 3, 4, 9), doubles, 'the same seed, the same samples');
  assert.notDeepEqual(randomSamples('doubles', 3, 4, 10), doubles);
  for (const v of (randomSamples('integers', 2, 5, 1) as number[][]).flat()) assert.ok(Number.isInteger(v) && v >= 0 && v < 256);
  for (const s of randomSamples('strings', 2, 6, 1) as string[]) assert.match(s, /^[a-z]{6}$/);
  for (const b of randomSamples('bytes', 2, 6, 1) as string[]) assert.equal(Buffer.from(b, 'base64').length, 6);
});

/** A two-model cascade's plan: predicted within its SLO unless `extra` says otherwise. */
function cascadePlan(extra: Partial<PipelinePlan> = {}): PipelinePlan {
  const model = (name: string) => ({
    model: name,
    version: '1',
    batch_size: 4,
    replicas: 2,
    latency_us: [[1, 800]] as Array<[number, number]>,
    visit_fraction: 1,
    capacity_qps_per_replica: 500,
  });
  return {
    seed: 1,
    workload: { kind: 'poisson', rate_qps: 100 },
    slo_micros: 100_000,
    models: [model('fast'), model('slow')],
    stage_budgets_micros: { c: 100_000 },
    predicted: { p99_micros: 9000, p50_micros: 2000, throughput_qps: 100, replicas: 4, slo_miss_ratio: 0 },
    envelope_qps: [70, 115],
    replicas_max: 4,
    reactive: true,
    ...extra,
  };
}

const kCascadeSpec: PipelineSpec = { stages: [{ name: 'c', kind: 'cascade', models: ['fast', 'slow'], threshold: 0.5 }], output: 'c' };

/** What `fn` writes on stderr (not shown). */
async function stderrOf(fn: () => Promise<unknown>): Promise<string> {
  const writes: string[] = [];
  const stderr = process.stderr.write;
  process.stderr.write = ((text: string) => {
    writes.push(text);
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = stderr;
  }
  return writes.join('');
}

test('--apply: a plan that misses its SLO is refused (saying by how much) unless --force; one the server would refuse, before any write', async () => {
  checkApplicable(cascadePlan(), kCascadeSpec, false);
  const missed = cascadePlan({
    predicted: { p99_micros: 150_000, p50_micros: 2000, throughput_qps: 90, replicas: 8, slo_miss_ratio: 0.2 },
  });
  refused(
    () => checkApplicable(missed, kCascadeSpec, false),
    /^--apply: nothing was applied: the plan does not meet its SLO with at most 4 replicas per model: predicted p99 150\.00 ms > SLO 100\.00 ms, 20\.00% of queries miss it \(at most 1%\)\. .*--force/,
  );
  const warned = await stderrOf(async () => checkApplicable(missed, kCascadeSpec, true));
  assert.match(warned, /--force: applying it although the plan does not meet its SLO/);
  refused(
    () => checkApplicable(cascadePlan({ replicas_max: 65 }), kCascadeSpec, true),
    /replicas_max must be an integer in \[1, 64\] \(got 65\)/,
  );
  refused(
    () => checkApplicable(cascadePlan(), { ...kCascadeSpec, stages: [{ ...kCascadeSpec.stages[0]!, models: ['fast', 'other'] }] }, false),
    /models\[1\]\.model is not a model of the pipeline \(fast, other\)/,
  );
});

test('--apply clears the stored plan first, then writes each model, then stores the new plan; a failure says how far it got', async () => {
  const calls: string[] = [];
  let failOn: string | null = null;
  const connection = {
    async setPipelinePlan(app: string, plan: PipelinePlan | null) {
      calls.push(`plan ${app} ${plan === null ? 'null' : plan.seed}`);
      return 'ok';
    },
    async setModelBatchSize(name: string, version: string | number, batchSize: number) {
      calls.push(`batch ${name}:${version} ${batchSize}`);
      return 'ok';
    },
    async setNumReplicas(name: string, count: number, version?: string | number) {
      calls.push(`replicas ${name}:${version} ${count}`);
      if (name === failOn) throw new Error('replicas could not start');
      return 'ok';
    },
  };
  await applyPlan(connection as unknown as Parameters<typeof applyPlan>[0], 'app', cascadePlan());
  assert.deepEqual(calls, ['plan app null', 'batch fast:1 4', 'replicas fast:1 2', 'batch slow:1 4', 'replicas slow:1 2', 'plan app 1']);
  calls.length = 0;
  failOn = 'slow';
  const said = await stderrOf(() =>
    assert.rejects(applyPlan(connection as unknown as Parameters<typeof applyPlan>[0], 'app', cascadePlan()), /could not start/),
  );
  assert.equal(calls.at(-1), 'replicas slow:1 2', 'no plan stored after a failed write');
  assert.match(said, /--apply stopped after 1 of 2 model\(s\); the app's old plan was cleared and the new one is not stored/);
});
