// Pipeline apps through the real management API of a real cluster (docs/pipelines.md "Admin API"):
// add_app with a pipeline, its validation errors naming the stage, get_application showing it, link
// and selection calls refused, the current version of a model a pipeline calls kept from deletion
// and from a change of input type, set_app_pipeline and set_pipeline_plan (a plan that no longer
// fits is cleared), the TS client and the CLI (add-app --pipeline, set-pipeline), and the records
// round-tripping through Redis. The models are registered without replicas: no process starts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection, ClipperClientError } from '../../src/client/admin_client.js';
import { ClipperError } from '../../src/errors.js';
import { kRepoRoot } from '../../src/paths.js';
import type { PipelinePlan, PipelineSpec } from '../../src/pipeline_spec.js';
import { parseStoredApp } from '../../src/state/record_check.js';
import type { AppRecord } from '../../src/state/records.js';
import { RedisStateStore } from '../../src/state/redis_store.js';
import { postJson, startTestCluster } from '../helpers/cluster.js';
import { deleteClusterKeys, kRedisUrl, redisAnswers, uniqueCluster } from '../helpers/redis.js';
import { runProcess } from '../helpers/run_process.js';

const kCascade: PipelineSpec = {
  stages: [{ name: 'cheap', kind: 'cascade', models: ['fast', 'slow'], threshold: 0.9 }],
  output: 'cheap',
};

function planFor(models: string[], budgets: Record<string, number>): PipelinePlan {
  return {
    seed: 1,
    workload: { kind: 'poisson', rate_qps: 100 },
    slo_micros: 100_000,
    models: models.map((model) => ({
      model,
      version: '1',
      batch_size: 4,
      replicas: 1,
      latency_us: [[1, 800]],
      visit_fraction: 1,
      capacity_qps_per_replica: 500,
    })),
    stage_budgets_micros: budgets,
    predicted: { p99_micros: 9000, p50_micros: 2000, throughput_qps: 100, replicas: models.length, slo_miss_ratio: 0 },
    envelope_qps: [70, 115],
    replicas_max: 4,
    reactive: true,
  };
}

/** A containerless model version (no replicas, nothing starts), made current. */
function addModel(admin: ReturnType<typeof adminOf>, name: string, version: string, inputType: string) {
  return admin('add_model', { model_name: name, model_version: version, input_type: inputType, num_replicas: 0 });
}

function adminOf(port: number) {
  return (route: string, body: unknown) => postJson(port, `/admin/${route}`, body);
}

test('add_app with a pipeline, its errors, the link/selection/delete refusals, set_app_pipeline and set_pipeline_plan', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const admin = adminOf(cluster.adminPort);
  for (const [name, type] of [
    ['fast', 'doubles'],
    ['slow', 'doubles'],
    ['words', 'strings'],
  ] as const) {
    assert.equal((await addModel(admin, name, '1', type)).status, 200);
  }
  const app = { name: 'digits', input_type: 'doubles', default_output: '-1', latency_slo_micros: 100_000 };
  const refusals: Array<[unknown, RegExp]> = [
    [
      { ...app, pipeline: { ...kCascade, stages: [{ ...kCascade.stages[0], models: ['fast', 'ghost'] }] } },
      /pipeline stage 'cheap': no model named 'ghost'/,
    ],
    [
      { ...app, pipeline: { ...kCascade, stages: [{ ...kCascade.stages[0], models: ['fast', 'words'] }] } },
      /pipeline stage 'cheap': model 'words' takes strings but the application's input_type is doubles/,
    ],
    [
      { ...app, pipeline: { ...kCascade, stages: [{ ...kCascade.stages[0], threshold: 2 }] } },
      /pipeline stage 'cheap': cascade needs 'threshold' in \[0, 1\]/,
    ],
    [{ ...app, pipeline: { ...kCascade, output: 'x' } }, /pipeline: output names no stage 'x'/],
    [{ ...app, pipeline: kCascade, selection_policy: 'exp4' }, /pipeline: application 'digits' has the selection policy 'exp4'/],
    [{ ...app, pipeline: [kCascade] }, /JSON key pipeline expected type Object/],
  ];
  for (const [body, cause] of refusals) {
    const r = await admin('add_app', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.cause, cause);
  }
  assert.equal(cluster.snapshot().apps.has('digits'), false, 'nothing was stored');

  const added = await admin('add_app', { ...app, pipeline: kCascade });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  const info = (await admin('get_application', { name: 'digits' })).body;
  assert.deepEqual(info.pipeline, kCascade);
  assert.deepEqual([info.linked_models, info.selection_policy, info.pipeline_plan], [[], 'default', undefined]);

  const link = await admin('add_model_links', { app_name: 'digits', model_names: ['fast'] });
  assert.equal(link.status, 400);
  assert.match(
    link.body.cause,
    /application 'digits' serves a pipeline \(stages 'cheap', output 'cheap'\): add_model_links does not apply/,
  );
  const policy = await admin('set_selection_policy', { app_name: 'digits', selection_policy: 'exp4' });
  assert.match(policy.body.cause, /serves a pipeline .*set_selection_policy does not apply/);

  // The current version of a model the pipeline calls: kept; a new one must take what the stage feeds it.
  const del = await admin('delete_versioned_model', { model_name: 'slow', model_version: '1' });
  assert.deepEqual([del.status, del.body.code], [400, 'CLP_ERR_CONFLICT']);
  assert.match(del.body.cause, /model 'slow' version '1' serves pipeline stage 'cheap' of application 'digits'/);
  const retyped = await addModel(admin, 'slow', '2', 'floats');
  assert.equal(retyped.body.code, 'CLP_ERR_CONFLICT');
  assert.match(
    retyped.body.cause,
    /'slow' serves pipeline stage 'cheap' of application 'digits', and input type 'floats' does not fit it: .*model 'slow' takes floats/,
  );
  assert.equal(cluster.snapshot().models.has('slow:2'), false);
  assert.equal((await addModel(admin, 'slow', '2', 'doubles')).status, 200);
  assert.equal((await admin('delete_versioned_model', { model_name: 'slow', model_version: '1' })).status, 200, 'not current: deleted');

  const plan = planFor(['fast', 'slow'], { cheap: 100_000 });
  const stored = await admin('set_pipeline_plan', { name: 'digits', plan });
  assert.equal(stored.status, 200, JSON.stringify(stored.body));
  assert.deepEqual((await admin('get_application', { name: 'digits' })).body.pipeline_plan, plan);
  const planRefusals: Array<[unknown, RegExp]> = [
    [{ name: 'digits', plan: { ...plan, replicas_max: 100 } }, /pipeline_plan\.replicas_max must be an integer in \[1, 64\] \(got 100\)/],
    [{ name: 'digits', plan: planFor(['fast'], {}) }, /pipeline_plan\.models has no entry for the pipeline's model 'slow'/],
    [{ name: 'digits', plan: { ...plan, slo_micros: 'fast' } }, /pipeline_plan\.slo_micros must be an integer/],
    [{ name: 'nope', plan }, /No app with name 'nope' exists/],
    // envelope_only (the reactive tuner's writes): only the envelope of the stored plan may change.
    [{ name: 'digits', plan: { ...plan, seed: 9 }, envelope_only: true }, /stored plan differs in more than envelope_qps/],
    [{ name: 'digits', plan: null, envelope_only: true }, /envelope_only moves the envelope of a plan: give one, not null/],
  ];
  for (const [body, cause] of planRefusals) {
    const r = await admin('set_pipeline_plan', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.cause, cause);
  }
  const moved = await admin('set_pipeline_plan', { name: 'digits', plan: { ...plan, envelope_qps: [50, 90] }, envelope_only: true });
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  assert.deepEqual(cluster.snapshot().apps.get('digits')?.pipeline_plan?.envelope_qps, [50, 90]);
  assert.equal((await admin('set_pipeline_plan', { name: 'digits', plan: null })).status, 200);
  const gone = await admin('set_pipeline_plan', { name: 'digits', plan, envelope_only: true });
  assert.deepEqual([gone.body.code, gone.status], ['CLP_ERR_CONFLICT', 400]);
  assert.match(gone.body.cause, /application 'digits': it has no stored plan \(cleared meanwhile\?\); nothing was stored/);
  assert.equal((await admin('set_pipeline_plan', { name: 'digits', plan })).status, 200);

  // Same models, same stage: the plan stays; another stage name: it no longer fits and is cleared.
  const kept = await admin('set_app_pipeline', { name: 'digits', pipeline: { ...kCascade, fallback: 'default' } });
  assert.equal(kept.status, 200, JSON.stringify(kept.body));
  assert.deepEqual(cluster.snapshot().apps.get('digits')?.pipeline_plan, plan);
  const ensemble: PipelineSpec = { stages: [{ name: 'all', kind: 'ensemble', models: ['fast', 'slow'] }], output: 'all' };
  const replaced = await admin('set_app_pipeline', { name: 'digits', pipeline: ensemble });
  assert.match(
    replaced.body,
    /set the pipeline of application 'digits': 1 stage\(s\), models 'fast', 'slow'; its stored plan no longer fits and was cleared/,
  );
  assert.deepEqual(cluster.snapshot().apps.get('digits')?.pipeline, ensemble);
  assert.equal(cluster.snapshot().apps.get('digits')?.pipeline_plan, undefined);

  // null: a plain app again, which links models.
  assert.equal((await admin('set_app_pipeline', { name: 'digits', pipeline: null })).status, 200);
  assert.equal((await admin('add_model_links', { app_name: 'digits', model_names: ['fast'] })).status, 200);
  const linked = await admin('set_app_pipeline', { name: 'digits', pipeline: kCascade });
  assert.match(linked.body.cause, /pipeline: application 'digits' links models \(fast\); unlink them/);
  const plain = await admin('set_pipeline_plan', { name: 'digits', plan });
  assert.match(plain.body.cause, /application 'digits' has no pipeline/);
  assert.equal((await admin('delete_versioned_model', { model_name: 'slow', model_version: '2' })).status, 200, 'no pipeline calls it now');
});

test('the TS client and the CLI: addApp with a pipeline, setAppPipeline, setPipelinePlan, add-app --pipeline, set-pipeline', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const admin = adminOf(cluster.adminPort);
  for (const name of ['fast', 'slow']) assert.equal((await addModel(admin, name, '1', 'doubles')).status, 200);
  const adminUrl = `http://127.0.0.1:${cluster.adminPort}`;
  const conn = new ClipperConnection({ adminUrl });

  await conn.addApp({ name: 'viaclient', inputType: 'doubles', defaultOutput: '0', sloMicros: 50_000, pipeline: kCascade });
  assert.deepEqual((await conn.getAppInfo('viaclient'))?.pipeline, kCascade);
  await conn.setPipelinePlan('viaclient', planFor(['fast', 'slow'], { cheap: 40_000 }));
  assert.equal((await conn.getAppInfo('viaclient'))?.pipeline_plan?.replicas_max, 4);
  await conn.setPipelinePlan('viaclient', null);
  assert.equal((await conn.getAppInfo('viaclient'))?.pipeline_plan, undefined);
  await assert.rejects(
    conn.setAppPipeline('viaclient', { stages: [{ name: 'one', kind: 'model', model: 'nope' }], output: 'one' }),
    (err: unknown) =>
      err instanceof ClipperClientError && err.status === 400 && /pipeline stage 'one': no model named 'nope'/.test(err.cause),
  );

  const dir = mkdtempSync(path.join(os.tmpdir(), 'pipeline-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'cascade.json');
  writeFileSync(file, JSON.stringify(kCascade));
  const cli = (...args: string[]) =>
    runProcess(process.execPath, [path.join(kRepoRoot, 'bin', 'clipper.js'), ...args, '--admin-url', adminUrl]);
  const add = await cli('add-app', '--name', 'viacli', '--input-type', 'doubles', '--slo-micros', '50000', '--pipeline', file);
  assert.equal(add.status, 0, add.stderr);
  assert.deepEqual(cluster.snapshot().apps.get('viacli')?.pipeline, kCascade);
  const single = { stages: [{ name: 'only', kind: 'model', model: 'slow' }], output: 'only' };
  const set = await cli('set-pipeline', 'viacli', JSON.stringify(single));
  assert.equal(set.status, 0, set.stderr);
  assert.match(set.stdout, /set the pipeline of application 'viacli': 1 stage\(s\), models 'slow'/);
  assert.deepEqual(cluster.snapshot().apps.get('viacli')?.pipeline, single);
  const bad = await cli('set-pipeline', 'viacli', JSON.stringify({ ...single, output: 'x' }));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /HTTP 400, CLP_ERR_INVALID_ARG.*pipeline: output names no stage 'x'/);
  const missing = await cli('add-app', '--name', 'other', '--input-type', 'doubles', '--pipeline', path.join(dir, 'absent.json'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--pipeline: cannot read .*absent\.json: ENOENT/);
  const usage = await cli('set-pipeline', 'viacli');
  assert.match(usage.stderr, /usage: clipper set-pipeline APP FILE\|JSON/);
  // null: refused by add-app (it would register a plain app silently), a plain app again with set-pipeline.
  const nullApp = await cli('add-app', '--name', 'nullapp', '--input-type', 'doubles', '--pipeline', 'null');
  assert.equal(nullApp.status, 1);
  assert.match(nullApp.stderr, /--pipeline must be a pipeline object, not null: leave --pipeline out for a plain app/);
  assert.equal(cluster.snapshot().apps.has('nullapp'), false);
  const cleared = await cli('set-pipeline', 'viacli', 'null');
  assert.equal(cleared.status, 0, cleared.stderr);
  assert.equal(cluster.snapshot().apps.get('viacli')?.pipeline, undefined);
});

const redisUp = await redisAnswers(6379);

test('a pipeline app and its plan round-trip through Redis; a corrupt one is reported naming the field', {
  skip: redisUp ? false : 'Redis not reachable at 127.0.0.1:6379',
}, async (t) => {
  const clusterName = uniqueCluster();
  t.after(() => deleteClusterKeys(kRedisUrl, clusterName));
  const app: AppRecord = {
    name: 'digits',
    input_type: 'doubles',
    default_output: '-1',
    latency_slo_micros: 100_000,
    linked_models: [],
    selection_policy: 'default',
    overload_response: 'default_output',
    pipeline: kCascade,
    pipeline_plan: planFor(['fast', 'slow'], { cheap: 100_000 }),
  };
  const writer = new RedisStateStore(kRedisUrl, { clusterName });
  await writer.open();
  await writer.putApp(app);
  await writer.close();
  const reader = new RedisStateStore(kRedisUrl, { clusterName });
  t.after(() => reader.close());
  assert.deepEqual((await reader.open()).apps.get('digits'), app);

  const corrupt = (message: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ClipperError && err.code === 'CLP_ERR_STATE_CORRUPT', String(err));
    assert.match(err.message, message);
    return true;
  };
  assert.throws(
    () => parseStoredApp('digits', JSON.stringify({ ...app, pipeline: { ...kCascade, output: 'gone' } })),
    corrupt(/^state store: app "digits" field "pipeline": pipeline: output names no stage 'gone'/),
  );
  assert.throws(
    () => parseStoredApp('digits', JSON.stringify({ ...app, pipeline_plan: { ...app.pipeline_plan, reactive: 1 } })),
    corrupt(/^state store: app "digits" field "pipeline_plan": pipeline_plan\.reactive must be true or false/),
  );
});
