// Is the plan honest, small: a pipeline app (featurize → cascade(fast, slow), models of known cost:
// test/fixtures/models/pipeline_cost_models.mjs) on a real cluster; `clipper plan --apply` profiles it
// quickly on real replicas, plans for a Poisson workload and applies the plan; then the plan's own
// arrivals (arrivalTimesMs(plan.workload, duration, plan.seed)) are replayed over loopback HTTP.
// Asserted: behaviour only (the configuration applied and stored, every query answered, the
// prediction's fields present and consistent). Measured and predicted latency and throughput are
// printed, never compared: bench/pipeline_plan.ts measures that (docs/pipelines.md, "Is the plan honest").

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { appRecordOf } from '../../src/admin/deploy_local.js';
import type { PipelinePlan } from '../../src/pipeline_spec.js';
import { arrivalTimesMs } from '../../src/planner/workload.js';
import { deploy, startTestCluster } from '../helpers/cluster.js';
import {
  costModelRecord,
  costPipeline,
  driveArrivals,
  kPipelineModels,
  pipelineInputs,
  planSettings,
  runClipper,
  storedPlan,
  waitForReplicas,
} from '../../bench/pipeline_plan_run.js';

/** The models' costs × 3 (PIPELINE_COST_SCALE): the slow one takes 3 × (2 + 12 n) ms, so scheduling noise on a busy machine is small beside them. */
const kCostScale = '3';
const kSloMs = 300;
const kRateQps = 50;
const kDurationMs = 6000;
/** Bound on any answer's time from its send: the deadline watch answers by the SLO; this is slack for a busy machine, not a speed check. */
const kAnswerBoundMs = kSloMs + 2000;

const ms = (us: number): string => (us / 1000).toFixed(1);

test('clipper plan --apply configures a pipeline, which then answers the plan’s own arrivals', { timeout: 240_000 }, async (t) => {
  process.env.PIPELINE_COST_SCALE = kCostScale; // the serving replicas (children of this process) and the profiling ones (of the CLI)
  t.after(() => {
    delete process.env.PIPELINE_COST_SCALE;
  });
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  for (const [name, fn] of kPipelineModels) await deploy(cluster, costModelRecord(name, fn));
  await cluster.store.putApp(appRecordOf('pp', 'doubles', [], { latency_slo_micros: kSloMs * 1000, pipeline: costPipeline(0.5) }));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pipeline-plan-test-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const samples = path.join(tmp, 'samples.json');
  writeFileSync(samples, JSON.stringify(pipelineInputs(32, 99)));

  const cli = await runClipper([
    ...['plan', 'pp', '--admin-url', `http://127.0.0.1:${cluster.adminPort}`, '--query-url', `http://127.0.0.1:${cluster.queryPort}`],
    ...['--rate', String(kRateQps), '--workload', 'poisson', '--seed', '3', '--replicas-max', '4', '--samples', samples],
    ...['--batch-max', '8', '--reps', '2', '--duration-ms', String(kDurationMs), '--no-reactive', '--apply', '--json'],
  ]);
  assert.equal(cli.code, 0, `clipper plan failed: ${cli.stderr}`);
  const printed = JSON.parse(cli.stdout) as {
    plan: PipelinePlan;
    profile: { models: Record<string, unknown>; fallthrough: Record<string, number[]> };
  };

  // The plan was stored as printed, and its configuration applied to every model.
  const plan = await storedPlan(cluster.adminPort, 'pp');
  assert.ok(plan !== null, 'the app has a stored plan');
  assert.deepEqual(plan, printed.plan);
  assert.deepEqual(plan.models.map((m) => m.model).sort(), kPipelineModels.map(([m]) => m).sort());
  for (const m of plan.models) {
    const record = cluster.snapshot().models.get(`${m.model}:${m.version}`)!;
    assert.equal(record.batch_size, m.batch_size, `${m.model} batch size applied`);
    assert.equal(record.num_replicas, m.replicas, `${m.model} replicas applied`);
  }
  await waitForReplicas(cluster.queryPort, planSettings(plan), 60_000);

  // The prediction's fields: present and consistent with each other.
  const p = plan.predicted;
  assert.equal(plan.slo_micros, kSloMs * 1000, 'the app SLO is the default');
  assert.equal(plan.reactive, false, '--no-reactive: the tuner leaves the measured configuration alone');
  assert.deepEqual(plan.workload, { kind: 'poisson', rate_qps: kRateQps });
  assert.equal(
    p.replicas,
    plan.models.reduce((a, m) => a + m.replicas, 0),
    'predicted replicas = the plan’s total',
  );
  assert.ok(p.p50_micros > 0 && p.p50_micros <= p.p99_micros, `p50 ${p.p50_micros} <= p99 ${p.p99_micros}`);
  assert.ok(p.throughput_qps > 0 && p.throughput_qps <= kRateQps * 2, `throughput ${p.throughput_qps} q/s at ${kRateQps} q/s offered`);
  assert.ok(p.slo_miss_ratio >= 0 && p.slo_miss_ratio <= 1);
  assert.ok(plan.baseline !== undefined, 'a baseline to compare with');
  assert.equal(plan.baseline.replicas % plan.models.length, 0, 'the baseline has the same replicas for every model');
  const slow = plan.models.find((m) => m.model === 'pp-slow')!;
  const fallthrough = printed.profile.fallthrough.classify;
  assert.ok(fallthrough !== undefined && fallthrough.length === 1, 'the cascade’s fall-through was profiled');
  assert.ok(slow.visit_fraction > 0 && slow.visit_fraction < 1, `the slow model sees a share of queries (${slow.visit_fraction})`);
  for (const name of ['pp-featurize', 'pp-fast']) assert.equal(plan.models.find((m) => m.model === name)!.visit_fraction, 1);

  // The plan's own arrivals, for real.
  const arrivals = arrivalTimesMs(plan.workload, kDurationMs, plan.seed);
  const m = await driveArrivals({
    queryPort: cluster.queryPort,
    app: 'pp',
    arrivalsMs: arrivals,
    warmupMs: 0,
    durationMs: kDurationMs,
    sloMs: kSloMs,
    inputs: pipelineInputs(arrivals.length, 5),
    models: kPipelineModels.map(([name]) => name),
    stages: ['features', 'classify'],
  });
  t.diagnostic(
    `plan: ${plan.models.map((x) => `${x.model} batch ${x.batch_size} x${x.replicas} (visit ${x.visit_fraction.toFixed(2)})`).join(', ')}; ` +
      `baseline ${plan.baseline.replicas} replicas`,
  );
  t.diagnostic(
    `predicted p50 ${ms(p.p50_micros)} ms p99 ${ms(p.p99_micros)} ms throughput ${p.throughput_qps.toFixed(1)} q/s misses ${(100 * p.slo_miss_ratio).toFixed(2)}%`,
  );
  t.diagnostic(
    `measured  p50 ${ms(m.latencyUs.p50)} ms p99 ${ms(m.latencyUs.p99)} ms throughput ${m.throughputQps.toFixed(1)} q/s misses ${(100 * m.sloMissRatio).toFixed(2)}% ` +
      `(${m.offered} queries: ${m.pipelineAnswers} pipeline answers, ${m.fallbacks} fallbacks, ${m.defaults} defaults; answered by ${JSON.stringify(m.answeredBy)})`,
  );
  t.diagnostic(`server: ${JSON.stringify(m.models)}; stages ${JSON.stringify(m.stages)}`);
  if (Object.keys(m.why).length > 0)
    t.diagnostic(`defaults and fallbacks: ${JSON.stringify(m.why)}, per second: ${m.missesBySecond.join(' ')}`);
  assert.equal(m.offered, arrivals.length);
  assert.ok(m.offered >= 150, `a few hundred queries (${m.offered})`);
  assert.deepEqual(m.errorKinds, {});
  assert.equal(m.errors, 0);
  assert.equal(m.non2xx, 0);
  assert.equal(m.answered, m.offered, 'every query answered');
  assert.equal(m.pipelineAnswers + m.fallbacks + m.defaults, m.answered);
  assert.ok(m.fromSendMaxUs <= kAnswerBoundMs * 1000, `every answer by its deadline (+ slack): worst ${ms(m.fromSendMaxUs)} ms`);
});
