// The pipeline executor (src/query/stage_run.ts, stage_step.ts) alone: the real QueryProcessor on a
// fake batching pool and a simulated clock (test/helpers/fake_pipeline.ts). Each test answers the
// sub-queries the executor writes and checks what it writes next, its budgets, and the one answer.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerJson, answerMap } from '../../src/frontend/answers.js';
import type { PipelineSpec } from '../../src/pipeline_spec.js';
import { DefaultKind } from '../../src/query/app_route.js';
import { kExplainSlo } from '../../src/query/explanations.js';
import { QueryPipeline, type RequestSink } from '../../src/query/pipeline.js';
import { kRunTokenBase, PipelineRuns } from '../../src/query/pipeline_runs.js';
import type { Answer } from '../../src/query/answer.js';
import { StageRun } from '../../src/query/stage_run.js';
import { StageState } from '../../src/query/stage_step.js';
import { PipelineHarness } from '../helpers/fake_pipeline.js';

const cascade = (threshold: number, fallback?: 'default'): PipelineSpec => ({
  output: 'c',
  stages: [{ name: 'c', kind: 'cascade', models: ['fast', 'slow'], threshold }],
  ...(fallback === undefined ? {} : { fallback }),
});
const kCascadeModels = { fast: 'doubles', slow: 'doubles' } as const;

/** The only answer, checked to come no later than the query's deadline (start 1000 + SLO). */
function onlyAnswer(h: PipelineHarness, sloMs = h.route.sloMs): Answer {
  const { answer, atMs } = h.sink.only(0);
  assert.ok(atMs <= 1000 + sloMs, `answered at ${atMs}, after the deadline ${1000 + sloMs}`);
  return answer;
}

test('a cascade stops at the first confident answer; the slow model is never called', () => {
  const h = new PipelineHarness(cascade(0.8), { models: kCascadeModels });
  const token = h.start([0.9, 1]);
  assert.ok(token >= kRunTokenBase);
  assert.deepEqual(h.openFor('fast').input, [0.9, 1]);
  h.reply('fast', { label: 3, confidence: 0.9 }, 2);
  const a = onlyAnswer(h);
  assert.deepEqual(JSON.parse(a.outputJson), { label: 3, confidence: 0.9 });
  assert.equal(a.isDefault, false);
  assert.deepEqual(a.extra, { models: ['fast'] });
  assert.equal(h.writtenFor('slow').length, 0);
  assert.deepEqual(h.stage('c').fallthrough, [0]);
  assert.equal(h.stage('c').calls, 1);
  assert.equal(h.runs.openCount, 0);
  assert.equal(h.route.stats.queries, 1, 'one query of the app, whatever its sub-queries');
});

test('a cascade falls through an unsure answer to the next model, with the same input', () => {
  const h = new PipelineHarness(cascade(0.8), { models: kCascadeModels });
  h.start([0.2, 5]);
  h.reply('fast', { label: 1, confidence: 0.5 });
  assert.deepEqual(h.openFor('slow').input, [0.2, 5]);
  assert.equal(h.sink.answers.length, 0);
  h.reply('slow', { label: 2, confidence: 0.6 }); // the last model's answer is always kept
  const a = onlyAnswer(h);
  assert.deepEqual(JSON.parse(a.outputJson), { label: 2, confidence: 0.6 });
  assert.deepEqual(a.extra?.models, ['slow']);
  assert.deepEqual(h.stage('c').fallthrough, [1]);
  // An array of numbers is confident by its largest element.
  const g = new PipelineHarness(cascade(0.8), { models: kCascadeModels });
  g.start([1]);
  g.reply('fast', [0.1, 0.85, 0.05]);
  assert.deepEqual(JSON.parse(onlyAnswer(g).outputJson), [0.1, 0.85, 0.05]);
});

test('one deadline split into budgets: each call gets its share of what is left, the last one the rest', () => {
  // $input → a → b, default weights 1 each; SLO 100 ms keeps 5 ms back: the run ends at 1095.
  const spec: PipelineSpec = {
    output: 'b',
    stages: [
      { name: 'a', kind: 'model', model: 'ma', output_type: 'doubles' },
      { name: 'b', kind: 'cascade', input: 'a', models: ['mb', 'mc'], threshold: 0.9 },
    ],
  };
  const h = new PipelineHarness(spec, { models: { ma: 'doubles', mb: 'doubles', mc: 'doubles' } });
  h.start([1]);
  assert.equal(h.openFor('ma').deadlineMs, 1000 + 95 / 3, 'a: 1 of the 3 calls on the worst path');
  h.reply('ma', [0.5, 0.25], 10);
  assert.deepEqual(h.openFor('mb').input, [0.5, 0.25], 'an output feeds the next stage');
  assert.equal(h.openFor('mb').deadlineMs, 1010 + 85 / 2);
  h.reply('mb', [0.5], 20);
  assert.equal(h.openFor('mc').deadlineMs, 1095, 'the last call gets all that is left');
  h.reply('mc', [0.7], 1);
  assert.deepEqual(onlyAnswer(h).extra?.models, ['ma', 'mc']);
  // A request's own SLO sets the deadline; a fixed budget_micros caps its stage.
  const fixed: PipelineSpec = { output: 'a', stages: [{ name: 'a', kind: 'model', model: 'ma', budget_micros: 20_000 }] };
  const f = new PipelineHarness(fixed, { models: { ma: 'doubles' } });
  f.start([1], 0, 50);
  assert.equal(f.openFor('ma').deadlineMs, 1020);
});

test('an ensemble combines its members (weighted vote on a field); a combine fans in stage outputs', () => {
  const spec: PipelineSpec = {
    output: 'e',
    stages: [{ name: 'e', kind: 'ensemble', models: ['m1', 'm2', 'm3'], combine: 'vote', field: 'label', weights: [1, 1, 2] }],
  };
  const h = new PipelineHarness(spec, { models: { m1: 'doubles', m2: 'doubles', m3: 'doubles' } });
  h.start([1]);
  for (const m of ['m1', 'm2', 'm3']) assert.equal(h.openFor(m).deadlineMs, 1095, 'members run side by side, each with the whole budget');
  h.reply('m1', { label: 'cat', confidence: 0.9 });
  h.reply('m3', { label: 'dog', confidence: 0.8 });
  assert.equal(h.sink.answers.length, 0, 'waits for every member');
  h.reply('m2', { label: 'dog', confidence: 0.7 });
  const a = onlyAnswer(h);
  assert.deepEqual(JSON.parse(a.outputJson), { label: 'dog', confidence: 0.75 });
  assert.deepEqual(a.extra?.models, ['m1', 'm2', 'm3']);

  const fan: PipelineSpec = {
    output: 'avg',
    stages: [
      { name: 'x', kind: 'model', model: 'm1', output_type: 'doubles' },
      { name: 'y', kind: 'model', model: 'm2', output_type: 'doubles' },
      { name: 'avg', kind: 'combine', inputs: ['x', 'y'], combine: 'mean', weights: [3, 1] },
    ],
  };
  const g = new PipelineHarness(fan, { models: { m1: 'doubles', m2: 'doubles' } });
  g.start([1]);
  g.reply('m2', 4);
  g.reply('m1', 8);
  const b = onlyAnswer(g);
  assert.equal(JSON.parse(b.outputJson), 7);
  assert.deepEqual(b.extra?.models, ['m1', 'm2']);
});

test('a map feeds the featurizer\'s output to the predictor ({"output": [...]} too)', () => {
  const spec: PipelineSpec = { output: 'm', stages: [{ name: 'm', kind: 'map', models: ['feat', 'pred'], feature_type: 'integers' }] };
  const h = new PipelineHarness(spec, { models: { feat: 'strings', pred: 'integers' }, inputType: 'strings' });
  h.start('hello');
  assert.equal(h.openFor('feat').input, 'hello');
  h.reply('feat', { output: [1, 2, 3] });
  assert.deepEqual(h.openFor('pred').input, [1, 2, 3]);
  h.reply('pred', 'positive');
  const a = onlyAnswer(h);
  assert.equal(a.outputJson, '"positive"');
  assert.deepEqual(a.extra?.models, ['feat', 'pred']);
});

test('an output that does not fit the next model fails the stage, named, with the default output', () => {
  const spec: PipelineSpec = { output: 'm', stages: [{ name: 'm', kind: 'map', models: ['feat', 'pred'], feature_type: 'integers' }] };
  const h = new PipelineHarness(spec, { models: { feat: 'doubles', pred: 'integers' } });
  h.start([1]);
  h.reply('feat', [1.5]);
  const a = onlyAnswer(h);
  assert.equal(a.isDefault, true);
  assert.equal(a.outputJson, '"dflt"');
  assert.match(
    a.explanation!,
    /^pipeline stage 'm': the output of featurizer 'feat' does not fit model 'pred': element 0 is not a 32-bit integer/,
  );
  assert.equal(h.writtenFor('pred').length, 0);
  assert.equal(h.stage('m').fallbacks, 1);
  assert.equal(h.route.stats.defaultKinds[DefaultKind.Other], 1);

  const chain: PipelineSpec = {
    output: 'b',
    stages: [
      { name: 'a', kind: 'model', model: 'ma', output_type: 'doubles' },
      { name: 'b', kind: 'model', model: 'mb', input: 'a' },
    ],
  };
  const g = new PipelineHarness(chain, { models: { ma: 'doubles', mb: 'doubles' } });
  g.start([1]);
  g.reply('ma', 'not numbers');
  assert.match(
    onlyAnswer(g).explanation!,
    /^pipeline stage 'b': the input of stage 'a' does not fit model 'mb': it is not an array of numbers/,
  );
});

test('a late cascade level: the most confident answer so far, marked "fallback", by the deadline', () => {
  const h = new PipelineHarness(cascade(0.9), { models: kCascadeModels });
  h.start([1]);
  h.reply('fast', { label: 4, confidence: 0.6 }, 5);
  const slow = h.openFor('slow');
  assert.equal(slow.deadlineMs, 1095);
  h.clock.advanceTo(1095); // slow never answers: the processor answers it at its deadline
  const a = onlyAnswer(h);
  assert.equal(a.isDefault, false);
  assert.deepEqual(JSON.parse(a.outputJson), { label: 4, confidence: 0.6 });
  assert.equal(
    a.extra?.fallback,
    `stage 'c': model 'slow' gave no answer: ${kExplainSlo}; answered with the best so far, from model 'fast'`,
  );
  assert.deepEqual(a.extra?.models, ['fast']);
  assert.equal(h.sink.answers[0]!.atMs, 1095);
  assert.equal(h.stage('c').fallbacks, 1);
  assert.equal(h.route.stats.defaults, 0, 'a best-so-far answer is not a default');
  // The encoders carry the note.
  assert.match(answerJson(a), /"models":\["fast"\],"fallback":"stage 'c': model 'slow'/);
  assert.equal(answerMap(a, undefined).fallback, a.extra?.fallback);
});

test("fallback 'default', or nothing so far: the app's default output, explained naming the stage", () => {
  const h = new PipelineHarness(cascade(0.9, 'default'), { models: kCascadeModels });
  h.start([1]);
  h.reply('fast', { label: 4, confidence: 0.6 });
  h.fail('slow', 'division by zero');
  const a = onlyAnswer(h);
  assert.equal(a.isDefault, true);
  assert.equal(a.explanation, "pipeline stage 'c': model 'slow' gave no answer: Model error: division by zero");
  assert.equal(h.route.stats.defaultKinds[DefaultKind.ModelError], 1);

  const g = new PipelineHarness(cascade(0.9), { models: kCascadeModels });
  g.start([1]);
  g.clock.advanceTo(1000 + 95 / 2); // fast is late (its half of the time): slow gets the rest
  assert.equal(g.openFor('slow').deadlineMs, 1095);
  g.clock.advanceTo(1095); // slow is late too: nothing so far
  const b = onlyAnswer(g);
  assert.equal(b.isDefault, true);
  assert.equal(b.explanation, `pipeline stage 'c': model 'slow' gave no answer: ${kExplainSlo}`);
  assert.equal(g.route.stats.sloMisses, 1);
  assert.deepEqual(g.stage('c').failovers, [1]);
});

test('an ensemble member that fails: what arrived is combined and noted; with fallback default the default output', () => {
  const spec = (fallback: 'best_so_far' | 'default'): PipelineSpec => ({
    output: 'e',
    fallback,
    stages: [{ name: 'e', kind: 'ensemble', models: ['m1', 'm2'], combine: 'mean' }],
  });
  const h = new PipelineHarness(spec('best_so_far'), { models: { m1: 'doubles', m2: 'doubles' } });
  h.start([1]);
  h.reply('m1', 2.5);
  h.fail('m2');
  const a = onlyAnswer(h);
  assert.equal(a.outputJson, '2.5');
  assert.deepEqual(a.extra?.models, ['m1']);
  assert.equal(a.extra?.fallback, "stage 'e': model 'm2' gave no answer: Model error: boom; combined the answers that arrived");
  const g = new PipelineHarness(spec('default'), { models: { m1: 'doubles', m2: 'doubles' } });
  g.start([1]);
  g.fail('m2');
  // The default answer comes at once; m1's sub-query is cancelled in its worker.
  assert.equal(onlyAnswer(g).isDefault, true);
  assert.deepEqual(
    g.pool.cancelled.map((c) => c.token),
    [g.writtenFor('m1')[0]!.token],
  );
  assert.equal(g.processor.pendingCount, 0);
});

test('a combine whose input stage failed combines the others; a stage reading a failed stage fails too', () => {
  const spec: PipelineSpec = {
    output: 'out',
    stages: [
      { name: 'x', kind: 'model', model: 'm1', output_type: 'doubles' },
      { name: 'y', kind: 'model', model: 'm2', output_type: 'doubles' },
      { name: 'avg', kind: 'combine', inputs: ['x', 'y'], output_type: 'doubles' },
      { name: 'out', kind: 'model', model: 'm3', input: 'avg' },
    ],
  };
  const h = new PipelineHarness(spec, { models: { m1: 'doubles', m2: 'doubles', m3: 'doubles' } });
  h.start([1]);
  h.fail('m1');
  h.reply('m2', [3]);
  assert.deepEqual(h.openFor('m3').input, [3]);
  h.reply('m3', 9);
  const a = onlyAnswer(h);
  assert.equal(a.outputJson, '9');
  assert.deepEqual(a.extra?.models, ['m2', 'm3']);
  assert.match(
    a.extra!.fallback!,
    /^pipeline stage 'x': model 'm1' gave no answer: Model error: boom; stage 'avg' combined the inputs that arrived$/,
  );

  const chain: PipelineSpec = {
    output: 'b',
    stages: [
      { name: 'a', kind: 'model', model: 'm1', output_type: 'doubles' },
      { name: 'b', kind: 'model', model: 'm2', input: 'a' },
    ],
  };
  const g = new PipelineHarness(chain, { models: { m1: 'doubles', m2: 'doubles' } });
  g.start([1]);
  g.fail('m1');
  assert.equal(onlyAnswer(g).explanation, "pipeline stage 'a': model 'm1' gave no answer: Model error: boom");
  assert.equal(g.stage('a').fallbacks, 1);
  assert.equal(g.stage('b').fallbacks, 0, 'b did not fail by itself');
  assert.equal(g.stage('b').calls, 0);
});

test('a stage with no time left is not submitted: it fails at once', () => {
  const spec: PipelineSpec = {
    output: 'b',
    stages: [
      { name: 'a', kind: 'model', model: 'ma', output_type: 'doubles', budget_micros: 94_990 },
      { name: 'b', kind: 'model', model: 'mb', input: 'a' },
    ],
  };
  const h = new PipelineHarness(spec, { models: { ma: 'doubles', mb: 'doubles' } });
  h.start([1]);
  h.reply('ma', [1], 94.97); // 0.03 ms left
  assert.equal(h.writtenFor('mb').length, 0);
  const a = onlyAnswer(h);
  assert.equal(a.explanation, "pipeline stage 'b': no time was left for model 'mb' before the deadline");
  assert.equal(h.sink.answers[0]!.atMs, 1094.97);
  assert.equal(h.route.stats.sloMisses, 1);
});

test('an undeployed model answers at once: the run is answered before start returns (no token)', () => {
  const h = new PipelineHarness(cascade(0.5), { models: kCascadeModels, undeployed: ['fast', 'slow'] });
  assert.equal(h.start([1]), -1);
  assert.match(onlyAnswer(h).explanation!, /model 'slow' gave no answer: No connected models found for query/);
  assert.equal(h.runs.openCount, 0);
  assert.deepEqual(h.stage('c').failovers, [1], 'the cascade asked slow after fast');
  // With only its first level undeployed, the cascade asks the next one.
  const g = new PipelineHarness(cascade(0.5), { models: kCascadeModels, undeployed: ['fast'] });
  assert.ok(g.start([1]) >= kRunTokenBase);
  g.reply('slow', { confidence: 0.3 });
  assert.equal(onlyAnswer(g).isDefault, false);
});

test('a cached stage answers at once and the next stage starts in the same turn', () => {
  const spec: PipelineSpec = {
    output: 'b',
    stages: [
      { name: 'a', kind: 'model', model: 'ma', output_type: 'doubles' },
      { name: 'b', kind: 'model', model: 'mb', input: 'a' },
    ],
  };
  const h = new PipelineHarness(spec, { models: { ma: 'doubles', mb: 'doubles' }, cacheBytesMax: 1 << 16 });
  h.start([7]);
  h.reply('ma', [70]);
  h.reply('mb', 700);
  assert.equal(h.start([7], 1), -1, 'both stages hit the cache: answered within start');
  assert.equal(h.sink.only(1).answer.outputJson, '700');
  assert.equal(h.pool.written.length, 2);
});

test('cancel: the run and its sub-queries are forgotten and never answered', () => {
  const h = new PipelineHarness(cascade(0.9), { models: kCascadeModels });
  const token = h.start([1]);
  h.reply('fast', { confidence: 0.1 });
  const slow = h.openFor('slow');
  h.runs.cancel([token]);
  assert.deepEqual(h.pool.cancelled, [{ placement: h.placements.get('slow'), token: slow.token }]);
  h.clock.advanceBy(1000);
  assert.equal(h.sink.answers.length, 0);
  assert.equal(h.runs.openCount, 0);
  assert.equal(h.processor.pendingCount, 0);
  h.runs.cancel([token]); // twice: nothing
});

test('QueryPipeline: a pipeline route runs here, keeps the run token for cancel, and refuses a pinned version', () => {
  const h = new PipelineHarness(cascade(0.9), { models: kCascadeModels });
  const qp = new QueryPipeline({ processor: h.processor, routes: new Map([['app', h.route]]), hub: null, sloMicrosMax: 1e9 });
  const answers: Answer[] = [];
  const sink: RequestSink = {
    begin: () => {},
    indexFor: (i) => i,
    submitted: () => {},
    onAnswer: (_i, a) => answers.push(a),
  };
  const tokens: number[] = [];
  const request = { inputs: [[1], [2]], version: null, sloMicros: null, uid: null };
  assert.equal(qp.predict(h.route, request, sink, tokens), 2);
  assert.equal(tokens.length, 2);
  assert.ok(tokens.every((t) => t >= kRunTokenBase));
  qp.cancel(tokens);
  assert.equal(qp.runs.openCount, 0);
  assert.equal(h.processor.pendingCount, 0);
  assert.throws(
    () => qp.predict(h.route, { ...request, version: '2' }, sink, tokens),
    (e: Error & { code?: string }) => e.code === 'CLP_ERR_INVALID_ARG' && /is a pipeline/.test(e.message),
  );
  assert.equal(answers.length, 0);
});

test('per-stage counters: calls, latency, fallbacks, fall-through; the arrival rate', () => {
  const h = new PipelineHarness(cascade(0.8), { models: kCascadeModels });
  for (let i = 0; i < 4; i++) {
    h.start([i], i);
    h.reply('fast', { confidence: i < 2 ? 0.9 : 0.1 }, 2);
    if (i >= 2) h.reply('slow', { confidence: 0.5 }, 3);
  }
  const c = h.stage('c');
  assert.equal(c.calls, 4);
  assert.deepEqual(c.fallthrough, [2]);
  assert.equal(
    c.latencyUs.counts.reduce((a, b) => a + b, 0),
    4,
  );
  assert.equal(c.latencyUs.sum, 2 * 2000 + 2 * 5000);
  const rate = h.pipeline.stats.arrivalRateQps(h.clock.nowMs());
  assert.ok(Math.abs(rate - 4 / ((h.clock.nowMs() - 1000) / 1000)) < 1e-6, `${rate} queries/s`);
});

test('a cascade level that gives no answer asks the next model while time is left (a failover, counted apart)', () => {
  // Even with fallback 'default': the answer is then the next model's own, without a fallback note.
  const h = new PipelineHarness(cascade(0.9, 'default'), { models: kCascadeModels });
  h.start([0.3, 7]);
  h.fail('fast', 'out of memory', 5);
  assert.deepEqual(h.openFor('slow').input, [0.3, 7], 'with the same input');
  assert.equal(h.openFor('slow').deadlineMs, 1095, 'and all the time left');
  h.reply('slow', { label: 2, confidence: 0.4 });
  const a = onlyAnswer(h);
  assert.equal(a.isDefault, false);
  assert.deepEqual(JSON.parse(a.outputJson), { label: 2, confidence: 0.4 });
  assert.deepEqual(a.extra, { models: ['slow'] });
  assert.deepEqual(h.stage('c').failovers, [1]);
  assert.deepEqual(h.stage('c').fallthrough, [0]);
  assert.equal(h.stage('c').fallbacks, 0, 'the stage did not fail');
  assert.equal(h.route.stats.defaults, 0);

  // A level refused at once (its queue is full: answered inside submit) fails over in the same turn;
  // the best so far skips the levels that gave no answer.
  const three: PipelineSpec = { output: 'c', stages: [{ name: 'c', kind: 'cascade', models: ['fast', 'mid', 'slow'], threshold: 0.9 }] };
  const g = new PipelineHarness(three, { models: { fast: 'doubles', mid: 'doubles', slow: 'doubles' } });
  const submit = g.pool.submitNumeric.bind(g.pool);
  g.pool.submitNumeric = (placement, ...rest) => placement !== g.placements.get('mid') && submit(placement, ...rest);
  g.start([1]);
  g.reply('fast', { label: 5, confidence: 0.5 }, 1);
  assert.equal(g.writtenFor('mid').length, 0);
  assert.equal(g.openFor('slow').deadlineMs, 1095);
  g.clock.advanceTo(1095);
  const b = onlyAnswer(g);
  assert.deepEqual(JSON.parse(b.outputJson), { label: 5, confidence: 0.5 });
  assert.equal(
    b.extra?.fallback,
    `stage 'c': model 'slow' gave no answer: ${kExplainSlo}; answered with the best so far, from model 'fast'`,
  );
  assert.deepEqual(g.stage('c').fallthrough, [1, 0]);
  assert.deepEqual(g.stage('c').failovers, [0, 1]);
  assert.equal(g.stage('c').fallbacks, 1);
});

test('a cascade with no time left does not go on: the default output naming the level', () => {
  const spec: PipelineSpec = {
    output: 'c',
    stages: [
      { name: 'a', kind: 'model', model: 'ma', output_type: 'doubles', budget_micros: 94_990 },
      { name: 'c', kind: 'cascade', input: 'a', models: ['fast', 'slow'], threshold: 0.5 },
    ],
  };
  const h = new PipelineHarness(spec, { models: { ma: 'doubles', fast: 'doubles', slow: 'doubles' } });
  h.start([1]);
  h.reply('ma', [1], 94.97); // 0.03 ms left
  assert.equal(h.pool.written.length, 1, 'neither cascade level is submitted');
  assert.equal(onlyAnswer(h).explanation, "pipeline stage 'c': no time was left for model 'fast' before the deadline");
  assert.deepEqual(h.stage('c').failovers, [0]);
});

test('a shutdown while runs with fallback default have several calls open: each query answered once', () => {
  // The first shutdown answer settles a run; its other calls are answered by the shutdown too
  // (cancelling them from inside it used to finish them twice: an assertion in the query core).
  const spec: PipelineSpec = { output: 'e', fallback: 'default', stages: [{ name: 'e', kind: 'ensemble', models: ['m1', 'm2'] }] };
  const h = new PipelineHarness(spec, { models: { m1: 'doubles', m2: 'doubles' }, cacheBytesMax: 1 << 16 });
  h.start([1], 0);
  h.start([1], 1); // identical: its calls wait on the first run's
  h.start([2], 2);
  h.processor.close();
  for (const i of [0, 1, 2]) assert.match(h.sink.only(i).answer.explanation!, /^pipeline stage 'e': model 'm1' gave no answer: .*shut/i);
  assert.equal(h.runs.openCount, 0);
  assert.equal(h.processor.pendingCount, 0);
  assert.equal(h.route.stats.defaultKinds[DefaultKind.Shutdown], 3);
});

/** A registry that records what broke. */
function brokenLog(): { runs: PipelineRuns; broken: string[] } {
  const broken: string[] = [];
  return { runs: new PipelineRuns({ onBroken: (why) => broken.push(why) }), broken };
}

test('a step that throws costs its query the default output, never the server: counted and reported', () => {
  const h = new PipelineHarness(cascade(0.9), { models: kCascadeModels });
  const { runs, broken } = brokenLog();
  const submit = h.pool.submitNumeric.bind(h.pool);
  h.pool.submitNumeric = (placement, ...rest) => {
    if (placement === h.placements.get('slow')) throw new Error('a bug in the pool');
    return submit(placement, ...rest);
  };
  assert.ok(runs.start(h.processor, h.route, h.pipeline, [1], 100, 0, h.sink, 0) >= kRunTokenBase);
  h.reply('fast', { confidence: 0.1 }); // falls through: submitting to slow throws
  const a = onlyAnswer(h);
  assert.equal(a.isDefault, true);
  assert.equal(a.explanation, "pipeline 'app': internal error: an error in the executor: a bug in the pool");
  assert.deepEqual(broken, ["pipeline app 'app': an error in the executor: a bug in the pool"]);
  assert.equal(runs.brokenCount, 1);
  assert.equal(runs.openCount, 0);
  assert.equal(h.pipeline.stats.runErrors, 1);
  assert.equal(h.route.stats.defaultKinds[DefaultKind.Other], 1);
  // The next query runs as usual.
  h.pool.submitNumeric = submit;
  runs.start(h.processor, h.route, h.pipeline, [2], 100, 0, h.sink, 1);
  h.reply('fast', { confidence: 0.95 });
  assert.equal(h.sink.only(1).answer.isDefault, false);
});

test('a run that would wait on nothing (a broken invariant) answers the default output instead of hanging or throwing', () => {
  const h = new PipelineHarness(cascade(0.9), { models: kCascadeModels });
  const why: string[] = [];
  const registry = { forget: () => {}, broken: (_run: StageRun, w: string) => why.push(w) };
  const run = new StageRun(registry, h.processor, h.route, h.pipeline, [1], 100, 0, h.sink, 0);
  run.start();
  run.state[0] = StageState.Done; // corrupt it: the cascade no longer takes its model's answer
  h.reply('fast', { confidence: 0.2 });
  const a = onlyAnswer(h);
  assert.equal(a.isDefault, true);
  assert.equal(a.explanation, "pipeline 'app': internal error: the run has no answer and waits on no model call");
  assert.deepEqual(why, ['the run has no answer and waits on no model call']);
  assert.equal(run.done, true);
  assert.equal(h.processor.pendingCount, 0);
});

test('answer extras: a stage reading a stage gets the same models list and extra every run; the map stays small', () => {
  // featurize → cascade: the models list is joined per level; 100 runs (more than the 64 kept) share two extras.
  const spec: PipelineSpec = {
    output: 'c',
    stages: [
      { name: 'f', kind: 'model', model: 'feat', output_type: 'doubles' },
      { name: 'c', kind: 'cascade', input: 'f', models: ['fast', 'slow'], threshold: 0.8 },
    ],
  };
  const h = new PipelineHarness(spec, { models: { feat: 'doubles', fast: 'doubles', slow: 'doubles' } });
  for (let i = 0; i < 100; i++) {
    h.start([i], i);
    h.reply('feat', [i, 1]);
    h.reply('fast', { confidence: i % 2 === 0 ? 0.9 : 0.1 });
    if (i % 2 === 1) h.reply('slow', { confidence: 0.5 });
  }
  const extras = h.sink.answers.map((r) => r.answer.extra);
  assert.equal(extras.length, 100);
  assert.deepEqual(extras[0]?.models, ['feat', 'fast']);
  assert.deepEqual(extras[1]?.models, ['feat', 'slow']);
  for (let i = 2; i < 100; i++) assert.equal(extras[i], extras[i % 2], `run ${i} shares the extra of run ${i % 2}`);
  assert.ok(h.pipeline.extras.size <= 4, `${h.pipeline.extras.size} entries for 2 lists of models`);
});
