// The digits pipeline examples (containers/python/examples/digits_pipeline) end to end: train the
// three scikit-learn models into a temp dir, serve them as Python replicas on a test cluster, create
// the cascade app and the ensemble app from the example's own pipeline files, and query held-out
// digits through both (and through the fast model alone). Checks answers, not timings: the cascade
// is at least as accurate as the fast model on the same inputs and answers exactly the inputs its
// first model was not confident about with the second model (as get_pipeline_stats counts them),
// and the ensemble's answer is the majority vote of its three members. Skips (naming the modules)
// when /usr/bin/python3 lacks them.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection } from '../../src/client/admin_client.js';
import { kRepoRoot } from '../../src/paths.js';
import { postJson, startTestCluster } from '../helpers/cluster.js';
import { missingPythonModules, runPythonAsync } from './python_harness.js';

const kMissing = missingPythonModules(['msgpack', 'numpy', 'sklearn', 'cloudpickle']);
const skip = kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')} (run npm run setup)` : false;
const kExampleDir = path.join(kRepoRoot, 'containers', 'python', 'examples', 'digits_pipeline');
/** Held-out rows queried per app: enough to see fall-through and disagreements, few enough to be quick. */
const kRows = 120;

interface Guess {
  label: number;
  confidence: number;
}
interface Heldout {
  inputs: number[][];
  labels: number[];
  local: { fast: Guess[]; forest: Guess[]; knn: Guess[] };
}
interface Reply {
  output: unknown;
  default: boolean;
  default_explanation?: string;
  fallback?: string;
  models?: string[];
}
interface StageStats {
  name: string;
  kind: string;
  calls: number;
  fallbacks: number;
  fallthrough?: Record<string, number>;
}

async function trainInto(dir: string, seed = 0): Promise<{ models: Record<string, { accuracy: number }> }> {
  const run = await runPythonAsync([path.join(kExampleDir, 'train.py'), dir, '--seed', String(seed)]);
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { models: Record<string, { accuracy: number }> };
}

/** POST /admin/{route} on the cluster's admin port; asserts a 200 and returns the parsed answer. */
async function adminPost(adminPort: number, route: string, body: unknown): Promise<unknown> {
  const res = await postJson(adminPort, `/admin/${route}`, body);
  assert.equal(res.status, 200, `${route}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Query `app` with each input, four at a time; answers in input order. */
async function queryAll(port: number, app: string, inputs: number[][]): Promise<Reply[]> {
  const replies: Reply[] = new Array(inputs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < inputs.length) {
      const i = next++;
      const res = await postJson(port, `/${app}/predict`, { input: inputs[i] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      replies[i] = res.body as Reply;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return replies;
}

function labelOf(reply: Reply, app: string): number {
  assert.equal(reply.default, false, `${app} answered the default: ${JSON.stringify(reply)}`);
  assert.equal(reply.fallback, undefined, `${app} fell back: ${JSON.stringify(reply)}`);
  const label = (reply.output as { label?: unknown }).label;
  assert.ok(Number.isInteger(label) && (label as number) >= 0 && (label as number) <= 9, `${app}: ${JSON.stringify(reply)}`);
  return label as number;
}

/** The majority label of the members in order; a three-way split goes to the first member (combine.ts's vote). */
function majority(labels: number[]): number {
  let best = labels[0]!;
  let bestVotes = 0;
  for (const label of labels) {
    const votes = labels.filter((l) => l === label).length;
    if (votes > bestVotes) [best, bestVotes] = [label, votes];
  }
  return best;
}

test('train.py is seeded, and the slow model is the more accurate one', { skip }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-digits-train-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = await trainInto(path.join(dir, 'a'));
  const b = await trainInto(path.join(dir, 'b'));
  for (const name of ['fast', 'forest', 'knn']) assert.equal(a.models[name]!.accuracy, b.models[name]!.accuracy, name);
  const heldA = await readFile(path.join(dir, 'a', 'heldout.json'), 'utf8');
  assert.equal(heldA, await readFile(path.join(dir, 'b', 'heldout.json'), 'utf8'), 'the same split and the same answers');
  const held = JSON.parse(heldA) as Heldout;
  assert.equal(held.inputs.length, held.labels.length);
  assert.ok(held.inputs.every((x) => x.length === 64));
  assert.ok(a.models.forest!.accuracy > a.models.fast!.accuracy, JSON.stringify(a.models));
  for (const name of ['fast', 'forest', 'knn'] as const) {
    assert.equal(held.local[name].length, held.inputs.length);
    assert.ok(held.local[name].every((g) => g.confidence > 0 && g.confidence <= 1 && g.label >= 0 && g.label <= 9));
  }
  const other = await trainInto(path.join(dir, 'c'), 1);
  assert.notEqual(await readFile(path.join(dir, 'c', 'heldout.json'), 'utf8'), heldA, 'another seed, another split');
  assert.ok(other.models.fast!.accuracy > 0.9);
});

test('the cascade and the ensemble serve held-out digits on a cluster', { skip }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-digits-pipeline-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await trainInto(dir);
  const held = JSON.parse(await readFile(path.join(dir, 'heldout.json'), 'utf8')) as Heldout;
  const cascadeSpec = JSON.parse(await readFile(path.join(kExampleDir, 'cascade.json'), 'utf8')) as {
    stages: Array<{ name: string; threshold: number }>;
  };
  const ensembleSpec = JSON.parse(await readFile(path.join(kExampleDir, 'ensemble.json'), 'utf8')) as unknown;
  const threshold = cascadeSpec.stages[0]!.threshold;

  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const adminUrl = `http://127.0.0.1:${cluster.adminPort}`;
  const conn = new ClipperConnection({ adminUrl, queryUrl: `http://127.0.0.1:${cluster.queryPort}`, timeoutMs: 120_000 });
  for (const fn of ['fast', 'forest', 'knn']) {
    await conn.deployModel({
      name: `digits-${fn}`,
      version: '1',
      inputType: 'doubles',
      numReplicas: 1,
      container: { runtime: 'python', entry: path.join(dir, 'model.py'), function: fn },
      cacheEnabled: false,
    });
  }
  // A generous objective: this checks answers, and the box is shared.
  const app = { input_type: 'doubles', default_output: '-1', latency_slo_micros: 5_000_000 };
  await conn.registerApplication({ name: 'digits-fast-alone', inputType: 'doubles', defaultOutput: '-1', sloMicros: 5_000_000 });
  await conn.linkModelToApp('digits-fast-alone', 'digits-fast');
  await adminPost(cluster.adminPort, 'add_app', { name: 'digits-cascade', ...app, pipeline: cascadeSpec });
  await adminPost(cluster.adminPort, 'add_app', { name: 'digits-ensemble', ...app, pipeline: ensembleSpec });

  const inputs = held.inputs.slice(0, kRows);
  const truth = held.labels.slice(0, kRows);
  const fast = await queryAll(cluster.queryPort, 'digits-fast-alone', inputs);
  const cascade = await queryAll(cluster.queryPort, 'digits-cascade', inputs);
  const ensemble = await queryAll(cluster.queryPort, 'digits-ensemble', inputs);

  const fastLabels = fast.map((r) => labelOf(r, 'digits-fast-alone'));
  assert.deepEqual(
    fastLabels,
    held.local.fast.slice(0, kRows).map((g) => g.label),
    'the replica answers as the model does in-process',
  );
  // The inputs the fast model is not confident about, by its own answers through the server.
  const unsure = fast.map((r) => (r.output as Guess).confidence < threshold);
  const cascadeLabels = cascade.map((r) => labelOf(r, 'digits-cascade'));
  for (let i = 0; i < kRows; i++) {
    const expected = unsure[i] ? held.local.forest[i]!.label : fastLabels[i];
    assert.equal(cascadeLabels[i], expected, `row ${i}: ${JSON.stringify(cascade[i])}`);
    assert.deepEqual(cascade[i]!.models, [unsure[i] ? 'digits-forest' : 'digits-fast'], `row ${i}`);
  }
  const correct = (labels: number[]): number => labels.filter((l, i) => l === truth[i]).length;
  assert.ok(correct(cascadeLabels) >= correct(fastLabels), `cascade ${correct(cascadeLabels)} vs fast ${correct(fastLabels)} of ${kRows}`);
  const fellThrough = unsure.filter(Boolean).length;
  assert.ok(fellThrough > 0 && fellThrough < kRows, `${fellThrough} of ${kRows} fell through`);

  const stats = (await adminPost(cluster.adminPort, 'get_pipeline_stats', { name: 'digits-cascade' })) as {
    queries: number;
    stages: StageStats[];
  };
  assert.equal(stats.queries, kRows);
  const [stage] = stats.stages;
  assert.equal(stage!.name, 'cascade');
  assert.equal(stage!.calls, kRows);
  assert.equal(stage!.fallbacks, 0);
  assert.equal(stage!.fallthrough?.['digits-fast'], fellThrough, JSON.stringify(stage));

  for (let i = 0; i < kRows; i++) {
    const members = [held.local.forest[i]!.label, held.local.knn[i]!.label, fastLabels[i]!];
    assert.equal(labelOf(ensemble[i]!, 'digits-ensemble'), majority(members), `row ${i}: ${JSON.stringify(ensemble[i])}`);
  }

  // A digit is 64 pixels: a shorter input fails the cascade's first model, the cascade fails over
  // to its second, which fails alike; the answer names the stage, the last model asked and
  // model.py's error.
  const bad = await postJson(cluster.queryPort, '/digits-cascade/predict', { input: [1, 2, 3] });
  assert.equal(bad.status, 200);
  assert.equal(bad.body.default, true, JSON.stringify(bad.body));
  assert.match(String(bad.body.default_explanation), /stage 'cascade'.*digits-forest.*a digit is 64 pixels/);
});
