// `clipper plan` against a real cluster (bin/clipper.js, a cascade of two small Node models whose
// batch cost is known by construction, test/fixtures/models/plan_cli_models.mjs): the plan names the
// pipeline's models, the profile's t(n) grows with n for the model whose cost does, the cascade's
// fall-through share is what the samples give, a saved profile replays to the identical plan under
// the same seed, --apply sets each model's batch size and replicas and stores the plan (not when the
// plan misses its SLO, unless --force), and bad arguments (a profile without a cascade's shares,
// --replicas-max above 64) are refused naming the flag.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection } from '../../src/client/admin_client.js';
import { kRepoRoot } from '../../src/paths.js';
import type { PipelinePlan, PipelineSpec } from '../../src/pipeline_spec.js';
import type { PipelineProfileJson } from '../../src/planner/profile.js';
import { startTestCluster } from '../helpers/cluster.js';
import { runProcess } from '../helpers/run_process.js';

interface PlanJson {
  plan: PipelinePlan;
  profile: PipelineProfileJson;
  verification: { verification: { seeds: Array<{ seed: number }>; meets: boolean }; simulations: number };
}

test('clipper plan profiles a cascade, replays a saved profile, applies the plan, refuses bad flags', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'plan-cli-'));
  // Two models of known cost: fast 1 ms a batch, slow 2 + 3 n ms a batch of n.
  const entry = path.join(kRepoRoot, 'test', 'fixtures', 'models', 'plan_cli_models.mjs');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // 20 inputs whose first element is 0, 0.05, ..., 0.95: with the threshold 0.5, half fall through.
  const samplesFile = path.join(dir, 'samples.json');
  writeFileSync(samplesFile, JSON.stringify(Array.from({ length: 20 }, (_, i) => [i / 20, 1, 2])));
  const profileFile = path.join(dir, 'profile.json');

  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const urls = ['--admin-url', `http://127.0.0.1:${cluster.adminPort}`, '--query-url', `http://127.0.0.1:${cluster.queryPort}`];
  const conn = new ClipperConnection({ adminUrl: urls[1], queryUrl: urls[3] });
  for (const fn of ['fast', 'slow']) {
    await conn.deployModel({
      name: `plan-${fn}`,
      version: '1',
      inputType: 'doubles',
      container: { runtime: 'node', entry, function: fn, options: { isolate: 'inline' } },
      // Not what a plan sets (its batch sizes are 1..32 powers of two or adaptive; one replica does at 20 q/s).
      batchSize: 3,
      numReplicas: fn === 'slow' ? 2 : 1,
    });
  }
  const spec: PipelineSpec = { stages: [{ name: 'c', kind: 'cascade', models: ['plan-fast', 'plan-slow'], threshold: 0.5 }], output: 'c' };
  await conn.addApp({ name: 'cascade', inputType: 'doubles', defaultOutput: '-1', sloMicros: 500_000, pipeline: spec });
  await conn.registerApplication({ name: 'plain', inputType: 'doubles', defaultOutput: '-1', sloMicros: 500_000 });

  const cli = (...args: string[]) => runProcess(process.execPath, [path.join(kRepoRoot, 'bin', 'clipper.js'), 'plan', ...args, ...urls]);
  const common = ['--rate', '20', '--seed', '3', '--duration-ms', '3000'];
  const planJson = async (...args: string[]): Promise<PlanJson> => {
    const r = await cli('cascade', ...common, '--json', ...args);
    assert.equal(r.status, 0, `clipper plan ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as PlanJson;
  };
  const refused = async (message: RegExp, ...args: string[]): Promise<void> => {
    const r = await cli(...args);
    assert.equal(r.status, 1, `clipper plan ${args.join(' ')} should fail: ${r.stdout}`);
    assert.match(r.stderr, message);
  };

  // Measured on dedicated replicas, with the samples.
  const measured = await planJson('--samples', samplesFile, '--batch-max', '8', '--reps', '3', '--save-profile', profileFile);
  assert.deepEqual(
    measured.plan.models.map((m) => m.model),
    ['plan-fast', 'plan-slow'],
  );
  assert.deepEqual(Object.keys(measured.profile.models), ['plan-fast', 'plan-slow']);
  const slow = measured.profile.models['plan-slow']!.latencyUs;
  assert.deepEqual(
    slow.map(([n]) => n),
    [1, 2, 4, 8],
  );
  for (let i = 1; i < slow.length; i++) assert.ok(slow[i]![1] > slow[i - 1]![1], `t(n) grows with n: ${JSON.stringify(slow)}`);
  assert.deepEqual(measured.profile.fallthrough, { c: [0.5] });
  assert.deepEqual(measured.profile.fallthroughSamples, { c: [20] }, 'the samples each share rests on');
  // The overheads: per call inside the server (from its statistics), per query at the HTTP edge.
  assert.ok(measured.profile.edgeOverheadUs! >= 0, `edge ${measured.profile.edgeOverheadUs}`);
  for (const m of Object.values(measured.profile.models)) assert.ok(m.hopOverheadUs >= 0, `${m.model} hop ${m.hopOverheadUs}`);
  assert.deepEqual(
    measured.verification.verification.seeds.map((v) => v.seed),
    [4, 5, 6],
    'verified on the 3 seeds after --seed 3',
  );
  assert.equal(measured.plan.slo_micros, 500_000, "the app's SLO by default");
  assert.equal(measured.plan.seed, 3);
  assert.equal(measured.plan.reactive, true, 'reactive tuning on by default');

  // The saved profile replays to the identical plan under the same seed; the table names each model.
  // A profile saved before the edge overhead existed: read as 0, with a note.
  const oldProfile = path.join(dir, 'old-profile.json');
  const { edgeOverheadUs: _, fallthroughSamples: __, ...old } = measured.profile;
  writeFileSync(oldProfile, JSON.stringify(old));
  const [replayed, table, fromOld] = await Promise.all([
    planJson('--profile', profileFile),
    cli('cascade', ...common, '--profile', profileFile),
    cli('cascade', ...common, '--json', '--profile', oldProfile),
  ]);
  assert.equal(fromOld.status, 0, fromOld.stderr);
  assert.match(fromOld.stderr, /old-profile\.json: the profile has no edgeOverheadUs .*taken as 0/);
  assert.match(table.stdout, /^fall-through: cascade 'c' after plan-fast 0\.500 ± 0\.112 \(standard error, 20 samples\)$/m);
  assert.match(table.stdout, /^warning: the fall-through share of cascade 'c' after plan-fast has a standard error of 0\.112/m);
  assert.match(table.stdout, /^verified on seeds 4, 5, 6: p99 /m);
  assert.match(
    table.stdout,
    /^overheads: per call \(in the server, beyond t\(n\)\) plan-fast [\d.]+ ms, plan-slow [\d.]+ ms; per query \(HTTP edge\) [\d.]+ ms$/m,
  );
  assert.deepEqual(replayed.plan, measured.plan);
  assert.deepEqual(replayed.profile, measured.profile);
  assert.equal(table.status, 0, table.stderr);
  for (const word of ['plan-fast:1', 'plan-slow:1', 'predicted: p50', 'baseline']) assert.ok(table.stdout.includes(word), table.stdout);

  // --apply: each model's batch size and replicas, and the plan stored on the app.
  const applied = await planJson('--profile', profileFile, '--apply', '--no-reactive');
  assert.equal(applied.plan.reactive, false);
  for (const m of applied.plan.models) {
    const info = await conn.getModelInfo(m.model, m.version);
    assert.notEqual(m.batch_size, 3);
    assert.equal(info?.batch_size, m.batch_size, `${m.model} batch size`);
    assert.equal(info?.num_replicas, m.replicas, `${m.model} replicas`);
  }
  assert.deepEqual((await conn.getAppInfo('cascade'))?.pipeline_plan, applied.plan);

  // A profile without the cascade's fall-through shares is refused naming the stage and the length.
  const noShares = path.join(dir, 'no-shares.json');
  writeFileSync(noShares, JSON.stringify({ ...measured.profile, fallthrough: {} }));
  // 2000 q/s, half of them to plan-slow (2 + 3n ms a batch of n, so at most ~330 q/s a replica), on one replica each: --apply writes nothing.
  const unmeetable = [
    'cascade',
    '--rate',
    '2000',
    '--seed',
    '3',
    '--duration-ms',
    '1000',
    '--profile',
    profileFile,
    '--replicas-max',
    '1',
    '--apply',
  ];

  // Refusals name the flag (or the app), checked side by side.
  await Promise.all([
    refused(
      /--profile .*no-shares\.json: fallthrough of cascade stage 'c' must list 1 share\(s\), one per model but the last \(got none\)/,
      'cascade',
      '--rate',
      '5',
      '--profile',
      noShares,
    ),
    refused(
      /--apply: nothing was applied: the plan does not meet its SLO with at most 1 replica per model: .*% of queries miss it/,
      ...unmeetable,
    ),
    refused(/--replicas-max must be an integer in \[1, 64\] \(got 100\)/, 'cascade', '--rate', '5', '--replicas-max', '100', '--apply'),
    refused(/--rate must be a number > 0 \(got fast\)/, 'cascade', '--rate', 'fast'),
    refused(/--workload: must be one of/, 'cascade', '--rate', '5', '--workload', 'zipf'),
    refused(/usage: clipper plan APP/, '--rate', '5'),
    refused(/--profile: cannot read .*nope\.json: ENOENT/, 'cascade', '--rate', '5', '--profile', path.join(dir, 'nope.json')),
    refused(/no application named 'nope' \(404, CLP_ERR_APP_NOT_FOUND\)/, 'nope', '--rate', '5'),
    refused(/application 'plain' has no pipeline/, 'plain', '--rate', '5'),
  ]);
  assert.deepEqual((await conn.getAppInfo('cascade'))?.pipeline_plan, applied.plan, 'the refused --apply wrote nothing');

  // --force applies it anyway, saying why it should not.
  const forced = await cli(...unmeetable, '--force');
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stderr, /--force: applying it although the plan does not meet its SLO/);
  assert.equal((await conn.getAppInfo('cascade'))?.pipeline_plan?.workload.rate_qps, 2000);
});
