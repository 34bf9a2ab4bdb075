// The request path every protocol shares (QueryPipeline), against a fake batching pool and a
// simulated clock: route lookup, version pinning, the input-size check, the empty batch, the
// RequestSink calls per input, tokens for cancel, and feedback of an app that does not learn.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipperError } from '../../src/errors.js';
import { DefaultReason, ReplyStatus } from '../../src/ipc/records.js';
import type { Answer } from '../../src/query/answer.js';
import type { AppRoute } from '../../src/query/app_route.js';
import { QueryPipeline, type QueryRequest, type RequestSink } from '../../src/query/pipeline.js';
import { QueryProcessor } from '../../src/query/query_processor.js';
import { SimClock } from '../../sim/sim_clock.js';
import { FakeBatchingPort, kPlacementA, kPlacementB, testRoute } from '../helpers/fake_batching.js';

/** Records every RequestSink call; indexes are 10 + i so they differ from input positions. */
class TraceSink implements RequestSink {
  readonly calls: string[] = [];
  readonly answers = new Map<number, Answer>();
  refuse = false;

  begin(count: number): void {
    this.calls.push(`begin ${count}`);
    if (this.refuse) throw new ClipperError('CLP_ERR_OVERLOADED', 'full');
  }

  indexFor(i: number): number {
    this.calls.push(`index ${i}`);
    return 10 + i;
  }

  submitted(index: number, tokens: readonly number[], from: number): void {
    this.calls.push(`submitted ${index} tokens ${tokens.slice(from).length}`);
  }

  onAnswer(index: number, answer: Answer): void {
    assert.equal(this.answers.has(index), false, `index ${index} answered twice`);
    this.answers.set(index, answer);
    this.calls.push(`answer ${index}`);
  }
}

function harness(route: Partial<AppRoute> = {}) {
  const clock = new SimClock(0);
  const pool = new FakeBatchingPort();
  const processor = new QueryProcessor({ pool, clock, cacheBytesMax: 0 });
  const app = testRoute({
    versions: new Map([
      ['1', kPlacementA],
      ['2', kPlacementB],
    ]),
    ...route,
  });
  const pipeline = new QueryPipeline({ processor, routes: new Map([['app', app]]), hub: null, sloMicrosMax: 1e7 });
  return { clock, pool, processor, app, pipeline, sink: new TraceSink() };
}

function request(fields: Partial<QueryRequest> = {}): QueryRequest {
  return { inputs: [[1]], version: null, sloMicros: null, uid: null, ...fields };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ClipperError);
    return err.code;
  }
  return 'none';
}

test("route(): the app's route, or a 404 for an unknown app", () => {
  const { pipeline, app } = harness();
  assert.equal(pipeline.route('app'), app);
  assert.equal(pipeline.has('app'), true);
  assert.equal(
    codeOf(() => pipeline.route('nope')),
    'CLP_ERR_APP_NOT_FOUND',
  );
  assert.equal(pipeline.has('nope'), false);
});

test('each input: begin once, then indexFor → submit → submitted, tokens collected for cancel', () => {
  const { pipeline, app, pool, sink } = harness();
  const tokens: number[] = [];
  assert.equal(pipeline.predict(app, request({ inputs: [[1], [2]] }), sink, tokens), 2);
  assert.deepEqual(sink.calls, ['begin 2', 'index 0', 'submitted 10 tokens 1', 'index 1', 'submitted 11 tokens 1']);
  assert.equal(pool.written.length, 2);
  assert.deepEqual(
    tokens,
    pool.written.map((q) => q.token),
  );
  pipeline.cancel(tokens);
  assert.deepEqual(
    pool.cancelled.map((c) => c.token),
    tokens,
  );
});

test('answers reach the sink under the index indexFor gave', () => {
  const { pipeline, processor, app, pool, sink } = harness();
  pipeline.predict(app, request(), sink, []);
  processor.onReply(pool.last().token, ReplyStatus.Ok, DefaultReason.None, '5');
  assert.equal(sink.answers.get(10)?.outputJson, '5');
});

test('an input answered at once (no model deployed) has no token', () => {
  const { pipeline, app, sink } = harness({ placement: null });
  const tokens: number[] = [];
  pipeline.predict(app, request(), sink, tokens);
  assert.deepEqual(sink.calls, ['begin 1', 'index 0', 'answer 10', 'submitted 10 tokens 0']);
  assert.equal(sink.answers.get(10)?.isDefault, true);
  assert.deepEqual(tokens, []);
});

test('version pins a deployed version; an unknown one is a 400 before anything is submitted', () => {
  const { pipeline, app, pool, sink } = harness();
  pipeline.predict(app, request({ version: '2' }), sink, []);
  assert.equal(pool.last().placement, kPlacementB);
  const before = sink.calls.length;
  assert.equal(
    codeOf(() => pipeline.predict(app, request({ version: '9' }), sink, [])),
    'CLP_ERR_QUERY_PROCESSING',
  );
  assert.equal(sink.calls.length, before, 'the sink heard nothing');
});

test('an input larger than a ring record is a 413; the empty batch returns 0 without calling the sink', () => {
  const { pipeline, app, pool, sink } = harness();
  pool.inputBytesMax = 16;
  assert.equal(
    codeOf(() => pipeline.predict(app, request({ inputs: [[1], [1, 2, 3]] }), sink, [])),
    'CLP_ERR_BODY_TOO_LARGE',
  );
  assert.equal(pipeline.predict(app, request({ inputs: [] }), sink, []), 0);
  assert.deepEqual(sink.calls, []);
  assert.equal(pool.written.length, 0);
});

test('a sink that refuses in begin() gets nothing submitted', () => {
  const { pipeline, app, pool, sink } = harness();
  sink.refuse = true;
  assert.equal(
    codeOf(() => pipeline.predict(app, request({ inputs: [[1], [2]] }), sink, [])),
    'CLP_ERR_OVERLOADED',
  );
  assert.deepEqual(sink.calls, ['begin 2']);
  assert.equal(pool.written.length, 0);
});

test("slo_micros sets the deadline; without it the app's SLO applies", () => {
  const { clock, pipeline, app, pool, sink } = harness();
  clock.advanceBy(5);
  pipeline.predict(app, request({ sloMicros: 2500 }), sink, []);
  assert.equal(pool.last().deadlineMs, 7.5);
  pipeline.predict(app, request(), sink, []);
  assert.equal(pool.last().deadlineMs, 5 + app.sloMs);
});

test('priority rides with every input (pinned or not); absent is normal (0); out of range is a 400 before any submit', () => {
  const { pipeline, app, pool, sink } = harness();
  pipeline.predict(app, request({ inputs: [[1], [2]], priority: 12 }), sink, []);
  pipeline.predict(app, request({ version: '2', priority: 1 }), sink, []);
  pipeline.predict(app, request(), sink, []);
  assert.deepEqual(
    pool.written.map((q) => q.priority),
    [12, 12, 1, 0],
  );
  for (const priority of [-1, 16, 2.5, Number.NaN]) {
    assert.equal(
      codeOf(() => pipeline.predict(app, request({ priority }), sink, [])),
      'CLP_ERR_INVALID_ARG',
    );
  }
  assert.equal(pool.written.length, 4);
});

test('feedback of an app without selection is acknowledged with nothing learned', async () => {
  const { pipeline, app, pool } = harness();
  const answer = await pipeline.feedback(app, { input: [1], label: 1, uid: null });
  assert.deepEqual({ ...answer, queryId: 0 }, { queryId: 0, models: [], losses: [] });
  assert.equal(pool.written.length, 0);
});
