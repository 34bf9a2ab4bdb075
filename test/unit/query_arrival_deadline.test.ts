// Deadlines count from a request's arrival (QueryRequest.arrivalMs), not from its submit: a query that
// waited past its SLO before submit (an overloaded frontend, a slow body) gets the SLO default at
// once and reaches no ring; one with time left keeps deadline = arrival + SLO on every path (pinned,
// selected, Exp4, a pipeline app), and its latency counts from arrival. Queries submitted out of
// arrival order are each answered exactly at their own deadline (query/deadline_watch.ts puts one due
// before its FIFO's tail in the heap). The real QueryProcessor on a fake pool and a simulated clock.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guardedClock } from '../../sim/query_core/guarded_clock.js';
import { SimClock } from '../../sim/sim_clock.js';
import { DefaultReason, ReplyStatus } from '../../src/ipc/records.js';
import { runSpanMs } from '../../src/deadline_split.js';
import { createPrng } from '../../src/lib/prng.js';
import type { PipelineSpec } from '../../src/pipeline_spec.js';
import type { Answer } from '../../src/query/answer.js';
import { DefaultKind, type AppRoute } from '../../src/query/app_route.js';
import { DeadlineWatch, type Watched } from '../../src/query/deadline_watch.js';
import { kExplainSlo } from '../../src/query/explanations.js';
import { QueryPipeline, type QueryRequest, type RequestSink } from '../../src/query/pipeline.js';
import { QueryProcessor } from '../../src/query/query_processor.js';
import { combineSloMs } from '../../src/query/selection_route.js';
import { AppSelection } from '../../src/selection/app_selection.js';
import { parsePolicyConfig } from '../../src/selection/policies/params.js';
import { createSnapshotBuffer, SnapshotWriter } from '../../src/selection/weights_snapshot.js';
import { FakeBatchingPort, kPlacementA, kPlacementB, RecordingSink, testRoute } from '../helpers/fake_batching.js';
import { PipelineHarness } from '../helpers/fake_pipeline.js';

function harness(cacheBytesMax = 0) {
  const clock = new SimClock(1000);
  const pool = new FakeBatchingPort();
  const processor = new QueryProcessor({ pool, clock: guardedClock(clock, (m) => assert.fail(m)), cacheBytesMax });
  const sink = new RecordingSink(clock);
  const route = testRoute({ stats: processor.appStats('app') });
  return { clock, pool, processor, sink, route };
}

/** A RequestSink over a RecordingSink: input i answers under index i. */
class Requests extends RecordingSink implements RequestSink {
  begin(_count: number): void {}
  indexFor(i: number): number {
    return i;
  }
  submitted(_index: number, _tokens: readonly number[], _from: number): void {}
}

function request(arrivalMs: number | undefined, inputs: number[][] = [[1]], sloMicros: number | null = null): QueryRequest {
  return { inputs, version: null, sloMicros, uid: null, arrivalMs };
}

test('arrival + SLO already past at submit: the SLO default at once, counted as a miss from arrival; nothing reaches the pool', () => {
  const { clock, pool, processor, sink, route } = harness();
  clock.advanceTo(1100); // arrived at 1000 with a 100 ms SLO: due exactly now
  assert.equal(processor.submit(route, kPlacementA, [1], 100, 0, sink, 0, null, 1000), -1);
  clock.advanceTo(1250);
  assert.equal(processor.submit(route, kPlacementA, 'late', 100, 3, sink, 1, { models: ['m'] }, 1000), -1);
  assert.equal(pool.written.length, 0, 'no record for a query already due');
  assert.equal(processor.pendingCount, 0);
  assert.equal(clock.pendingTimerCount, 0, 'no deadline timer either');
  for (const [index, atMs] of [
    [0, 1100],
    [1, 1250],
  ] as const) {
    const got = sink.only(index);
    assert.equal(got.atMs, atMs, 'answered at submit');
    assert.deepEqual(
      { ...got.answer, queryId: 0 },
      { queryId: 0, outputJson: '"dflt"', isDefault: true, explanation: kExplainSlo, shed: false, extra: null },
    );
  }
  assert.deepEqual(processor.counters, { queries: 2, answered: 2, defaults: 2, sloMisses: 2, cancelled: 0 });
  assert.equal(route.stats.sloMisses, 2);
  assert.equal(route.stats.defaultKinds[DefaultKind.Slo], 2);
  assert.deepEqual([route.stats.latencyUs.min, route.stats.latencyUs.max], [100_000, 250_000], 'latency from arrival');
});

test('time left: deadline = arrival + SLO, the latency counts from arrival, the SLO default comes at arrival + SLO', () => {
  const { clock, pool, processor, sink, route } = harness();
  clock.advanceTo(1030);
  const a = processor.submit(route, kPlacementA, [1], 100, 0, sink, 0, null, 1000);
  const b = processor.submit(route, kPlacementA, [2], 40, 0, sink, 1, null, 1010); // off-SLO (heap)
  processor.submit(route, kPlacementA, [3], 100, 0, sink, 2); // no arrival: from submit
  assert.deepEqual(
    pool.written.map((q) => q.deadlineMs),
    [1100, 1050, 1130],
  );
  clock.advanceTo(1045);
  processor.onReply(a, ReplyStatus.Ok, DefaultReason.None, '7');
  assert.equal(route.stats.latencyUs.max, 45_000, 'a model answer 45 ms after arrival, 15 ms after submit');
  clock.advanceTo(1049.999);
  assert.equal(sink.answers.length, 1);
  clock.advanceTo(1200);
  assert.deepEqual(
    sink.answers.map((r) => [r.index, r.atMs, r.answer.explanation]),
    [
      [0, 1045, null],
      [1, 1050, kExplainSlo],
      [2, 1130, kExplainSlo],
    ],
  );
  assert.ok(b >= 0);
  assert.equal(route.stats.latencyUs.max, 100_000, 'the query without an arrival: 100 ms from submit');
});

test('a query already past its deadline gets the SLO default, not the cached output', () => {
  const { clock, processor, sink, route } = harness(1 << 16);
  processor.onReply(processor.submit(route, kPlacementA, [4], 100, 0, sink, 0), ReplyStatus.Ok, DefaultReason.None, '"y"');
  clock.advanceTo(1300);
  processor.submit(route, kPlacementA, [4], 100, 0, sink, 1, null, 1150);
  processor.submit(route, kPlacementA, [4], 100, 0, sink, 2, null, 1250);
  assert.deepEqual(
    sink.answers.map((r) => [r.index, r.answer.outputJson]),
    [
      [0, '"y"'],
      [1, '"dflt"'],
      [2, '"y"'],
    ],
  );
  assert.deepEqual([route.stats.cacheLookups, route.stats.cacheHits], [2, 1], 'the late query was not looked up');
});

test('two queries submitted out of arrival order: each SLO default comes exactly at its own deadline', () => {
  const { clock, processor, sink, route } = harness();
  clock.advanceTo(1003);
  processor.submit(route, kPlacementA, [1], 100, 0, sink, 0, null, 1002); // its body came first
  clock.advanceTo(1005);
  processor.submit(route, kPlacementA, [2], 100, 0, sink, 1, null, 1000); // arrived first, due first
  clock.advanceTo(1200);
  assert.deepEqual(
    sink.answers.map((r) => [r.index, r.atMs]),
    [
      [1, 1100],
      [0, 1102],
    ],
  );
});

test('seeded: queries submitted with random arrival lags, replies and cancels are answered once, never after arrival + SLO', () => {
  const { clock, processor, sink, route } = harness();
  const prng = createPrng(17);
  const deadlines: number[] = [];
  const open: number[] = [];
  let cancelled = 0;
  for (let i = 0; i < 400; i++) {
    clock.advanceBy(prng.next() * 3);
    const sloMs = prng.next() < 0.8 ? 100 : 20 + 100 * prng.next();
    const arrivalMs = clock.nowMs() - prng.next() * 15; // under the shortest SLO: none is due at submit
    deadlines.push(arrivalMs + sloMs);
    const token = processor.submit(route, kPlacementA, [i], sloMs, 0, sink, i, null, arrivalMs);
    assert.ok(token >= 0);
    const r = prng.next();
    if (r < 0.2) processor.onReply(token, ReplyStatus.Ok, DefaultReason.None, '1');
    else if (r < 0.3) {
      processor.cancel([token]);
      cancelled++;
      deadlines[i] = Number.NaN;
    } else open.push(i);
  }
  clock.advanceBy(1000);
  assert.equal(sink.answers.length, 400 - cancelled);
  for (const r of sink.answers) {
    assert.ok(!Number.isNaN(deadlines[r.index]!), `query ${r.index} was cancelled but answered`);
    if (r.answer.isDefault) assert.equal(r.atMs, deadlines[r.index], `query ${r.index}: its SLO default exactly at its deadline`);
    else assert.ok(r.atMs <= deadlines[r.index]!);
  }
  assert.equal(new Set(sink.answers.map((r) => r.index)).size, sink.answers.length, 'each answered once');
  assert.equal(processor.counters.sloMisses, open.length);
  assert.equal(processor.pendingCount, 0);
});

interface Item extends Watched<Item> {
  token: number;
  deadlineMs: number;
}

test('the deadline watch: an item due before its FIFO tail goes to the heap; in order, the FIFO', () => {
  const clock = new SimClock(0);
  const expired: number[] = [];
  const watch = new DeadlineWatch<Item>(clock, (item) => {
    watch.unwatch(item);
    expired.push(item.token);
  });
  const item = (token: number, deadlineMs: number): Item => ({ token, deadlineMs, inHeap: false, fifo: null, prev: null, next: null });
  const a = item(1, 110);
  const b = item(2, 105);
  const c = item(3, 110);
  for (const x of [a, b, c]) watch.watch(x, 100);
  assert.deepEqual(
    [a, b, c].map((x) => [x.fifo !== null, x.inHeap]),
    [
      [true, false],
      [false, true],
      [true, false],
    ],
  );
  clock.advanceTo(105);
  assert.deepEqual(expired, [2]);
  clock.advanceTo(110);
  assert.deepEqual(expired, [2, 1, 3]);
});

/** A pipeline with one plain app, one Exp4 app (two models) and the cascade app of `h`. */
function pipelineWith(h: PipelineHarness): { pipeline: QueryPipeline; plain: AppRoute; exp4: AppRoute } {
  const processor = h.processor;
  const sab = createSnapshotBuffer(2);
  new SnapshotWriter(sab).publish(Float64Array.from([0.5, 0.5]), 'all');
  const sel = new AppSelection({
    app: 'e4',
    generation: 1,
    signature: 'e4',
    config: parsePolicyConfig('exp4', {}, 2),
    mode: 'all',
    models: ['m', 'n'],
    sab,
    prng: createPrng(1),
    userEntriesMax: 8,
    memberStats: processor.detachedStats(),
    requestUser: () => {},
  });
  sel.placements = [kPlacementA, kPlacementB];
  const plain = testRoute({ name: 'plain', stats: processor.appStats('plain') });
  const exp4 = testRoute({ name: 'e4', stats: processor.appStats('e4'), selection: sel });
  const routes = new Map<string, AppRoute>([
    ['plain', plain],
    ['e4', exp4],
    ['app', h.route],
  ]);
  return { pipeline: new QueryPipeline({ processor, routes, hub: null, sloMicrosMax: 10_000_000 }), plain, exp4 };
}

const kCascade: PipelineSpec = { output: 'c', stages: [{ name: 'c', kind: 'cascade', models: ['fast', 'slow'], threshold: 0.8 }] };

test('predict(): every path takes its deadline from the request arrival (pinned, per-request SLO, Exp4, a pipeline app)', () => {
  const h = new PipelineHarness(kCascade, { models: { fast: 'doubles', slow: 'doubles' } });
  const { pipeline, plain, exp4 } = pipelineWith(h);
  const sink = new Requests(h.clock);
  h.clock.advanceTo(1020); // every request arrived at 1000
  pipeline.predict(plain, request(1000), sink, []);
  pipeline.predict(plain, request(1000, [[2]], 50_000), sink, []);
  assert.deepEqual(
    h.pool.written.map((q) => q.deadlineMs),
    [1100, 1050],
  );
  pipeline.predict(exp4, request(1000, [[3]]), sink, []);
  assert.deepEqual(
    h.pool.written.slice(2).map((q) => q.deadlineMs),
    [1000 + combineSloMs(100), 1000 + combineSloMs(100)],
  );
  pipeline.predict(h.route, request(1000, [[0.5]]), sink, []);
  const first = h.openFor('fast');
  assert.ok(first.deadlineMs <= 1000 + runSpanMs(100) && first.deadlineMs > 1020, `the cascade's first call is due at ${first.deadlineMs}`);
  // The same request arriving now gets a later deadline: the 20 ms already spent are the run's.
  const later = new PipelineHarness(kCascade, { models: { fast: 'doubles', slow: 'doubles' } });
  later.clock.advanceTo(1020);
  later.runs.start(later.processor, later.route, later.pipeline, [0.5], 100, 0, later.sink, 0);
  assert.ok(later.openFor('fast').deadlineMs > first.deadlineMs);
  assert.equal(sink.answers.length, 0);
});

test('predict(): a request that arrived more than its SLO ago is answered with defaults at once on every path, no ring record', () => {
  const h = new PipelineHarness(kCascade, { models: { fast: 'doubles', slow: 'doubles' } });
  const { pipeline, plain, exp4 } = pipelineWith(h);
  const sink = new Requests(h.clock);
  h.clock.advanceTo(1200);
  const answers = (route: AppRoute, inputs: number[][]): Answer[] => {
    sink.answers.length = 0;
    const tokens: number[] = [];
    assert.equal(pipeline.predict(route, request(1000, inputs), sink, tokens), inputs.length);
    assert.deepEqual(tokens, [], 'nothing left open to cancel');
    return sink.answers.map((r) => r.answer);
  };
  const plainAnswers = answers(plain, [[1], [2]]);
  assert.deepEqual(
    plainAnswers.map((a) => a.explanation),
    [kExplainSlo, kExplainSlo],
  );
  const [combined] = answers(exp4, [[3]]);
  assert.equal(combined?.isDefault, true);
  assert.equal(exp4.stats.defaultKinds[DefaultKind.Slo], 1, 'the Exp4 query counted as an SLO miss');
  const [run] = answers(h.route, [[0.5]]);
  assert.equal(run?.isDefault, true);
  assert.match(run?.explanation ?? '', /no time was left/);
  assert.equal(h.route.stats.defaultKinds[DefaultKind.Slo], 1);
  assert.equal(pipeline.runs.brokenCount, 0);
  assert.equal(h.pool.written.length, 0);
  assert.equal(h.processor.pendingCount, 0);
});
