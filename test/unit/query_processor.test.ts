// QueryProcessor alone: a fake batching pool (test/helpers/fake_batching.ts) and a simulated clock.
// Each answer path (a worker's reply, no model, a full ring, the deadline, the cache, cancel,
// shutdown) reaches the sink exactly once with the right fields, and the counters add up. The
// same rules over whole seeded runs are checked by the query-core simulator (test/sim).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DefaultReason, frontendTokenBase, ReplyStatus } from '../../src/ipc/records.js';
import type { Answer } from '../../src/query/answer.js';
import type { AppRoute } from '../../src/query/app_route.js';
import { QueryProcessor } from '../../src/query/query_processor.js';
import { kExplainNoModel, kExplainQueueFull, kExplainShutdown, kExplainSlo } from '../../src/query/explanations.js';
import { ClipperError } from '../../src/errors.js';
import { InputTypeCode } from '../../src/input_types.js';
import { SimClock } from '../../sim/sim_clock.js';
import { guardedClock } from '../../sim/query_core/guarded_clock.js';
import { FakeBatchingPort, kPlacementA, kPlacementB, RecordingSink, testRoute } from '../helpers/fake_batching.js';

function harness(cacheBytesMax = 1 << 16) {
  const clock = new SimClock(1000);
  const pool = new FakeBatchingPort();
  // Guarded: a deadline timer that spins fails the test instead of hanging it.
  const processor = new QueryProcessor({ pool, clock: guardedClock(clock, (m) => assert.fail(m)), cacheBytesMax });
  const sink = new RecordingSink(clock);
  const route = testRoute({ stats: processor.appStats('app') });
  return { clock, pool, processor, sink, route };
}

test('a reply from the pool reaches the sink once, with its output and extra fields', () => {
  const { clock, pool, processor, sink, route } = harness();
  const extra = { models: ['m'] };
  const token = processor.submit(route, kPlacementA, [1, 2, 3], 100, 0, sink, 7, extra);
  assert.ok(token >= 0);
  assert.deepEqual(pool.written, [
    { placement: kPlacementA, token, deadlineMs: 1100, priority: 0, type: route.typeCode, input: [1, 2, 3] },
  ]);
  assert.equal(sink.answers.length, 0);
  clock.advanceBy(3);
  processor.onReply(token, ReplyStatus.Ok, DefaultReason.None, '{"y":1}');
  const { answer, atMs } = sink.only(7);
  assert.equal(atMs, 1003);
  assert.deepEqual(
    { ...answer, queryId: 0 },
    { queryId: 0, outputJson: '{"y":1}', isDefault: false, explanation: null, shed: false, extra },
  );
  assert.equal(answer.extra, extra, 'the extra object rides through unchanged');
  processor.onReply(token, ReplyStatus.Ok, DefaultReason.None, '{"y":2}');
  clock.advanceBy(1000);
  assert.equal(sink.answers.length, 1, 'a second reply and the deadline change nothing');
  assert.equal(processor.pendingCount, 0);
  assert.deepEqual(processor.counters, { queries: 1, answered: 1, defaults: 0, sloMisses: 0, cancelled: 0 });
});

test('the priority reaches the pool with each query (numeric and bytes); one out of range is a bug', () => {
  const { pool, processor, sink, route } = harness();
  processor.submit(route, kPlacementA, [1], 100, 15, sink, 0);
  processor.submit(testRoute({ inputType: 'strings', stats: route.stats }), kPlacementA, 'x', 100, 3, sink, 1);
  processor.submit(route, kPlacementB, [2], 100, 0, sink, 2);
  assert.deepEqual(
    pool.written.map((q) => [q.token, q.priority]),
    [
      [0, 15],
      [1, 3],
      [2, 0],
    ],
  );
  for (const priority of [-1, 16, 0.5]) assert.throws(() => processor.submit(route, kPlacementA, [3], 100, priority, sink, 3), /priority/);
  assert.equal(pool.written.length, 3);
});

test('no placement: the default output at once, "No connected models found for query"', () => {
  const { pool, processor, sink, route } = harness();
  const token = processor.submit(route, null, [1], 100, 0, sink, 0, { models: ['m'] });
  assert.equal(token, -1);
  assert.equal(pool.written.length, 0);
  const { answer } = sink.only(0);
  assert.deepEqual(
    { ...answer, queryId: 0 },
    { queryId: 0, outputJson: '"dflt"', isDefault: true, explanation: kExplainNoModel, shed: false, extra: null },
  );
  assert.equal(processor.counters.defaults, 1);
});

test('a full ring: the default output at once, marked shed', () => {
  const { pool, processor, sink, route } = harness();
  pool.full = true;
  assert.equal(processor.submit(route, kPlacementA, 'text', 100, 0, sink, 0), -1);
  const { answer } = sink.only(0);
  assert.equal(answer.isDefault, true);
  assert.equal(answer.shed, true);
  assert.equal(answer.explanation, kExplainQueueFull);
  assert.equal(processor.pendingCount, 0);
  // The cache entry it would have computed was released: an identical query goes to the pool.
  pool.full = false;
  assert.ok(processor.submit(route, kPlacementA, 'text', 100, 0, sink, 1) >= 0);
  assert.equal(pool.written.length, 1);
});

test("the deadline passes: the default with Clipper's SLO explanation, exactly at the deadline; a late reply is ignored", () => {
  const { clock, processor, sink, route } = harness();
  const token = processor.submit(route, kPlacementA, [1], 100, 0, sink, 0);
  clock.advanceTo(1099.999);
  assert.equal(sink.answers.length, 0);
  clock.advanceTo(1100);
  const { answer, atMs } = sink.only(0);
  assert.equal(atMs, 1100);
  assert.equal(answer.explanation, kExplainSlo);
  assert.equal(answer.isDefault, true);
  assert.equal(answer.shed, false);
  clock.advanceBy(5);
  processor.onReply(token, ReplyStatus.Ok, DefaultReason.None, '1');
  assert.equal(sink.answers.length, 1);
  assert.deepEqual(processor.counters, { queries: 1, answered: 1, defaults: 1, sloMisses: 1, cancelled: 0 });
  assert.equal(route.stats.sloMisses, 1);
});

test('default replies from a worker: a model error is not shed, a full model queue is', () => {
  const { processor, sink, route } = harness(0);
  const a = processor.submit(route, kPlacementA, [1], 100, 0, sink, 0);
  const b = processor.submit(route, kPlacementA, [2], 100, 0, sink, 1);
  const c = processor.submit(route, kPlacementA, [3], 100, 0, sink, 2);
  processor.onReply(a, ReplyStatus.Default, DefaultReason.ModelError, 'boom');
  processor.onReply(b, ReplyStatus.Default, DefaultReason.QueueFull, '');
  processor.onReply(c, ReplyStatus.Default, DefaultReason.DeadlineUnreachable, '');
  assert.deepEqual(
    sink.answers.map((r) => [r.answer.isDefault, r.answer.shed, r.answer.explanation]),
    [
      [true, false, 'Model error: boom'],
      [true, true, kExplainQueueFull],
      [true, true, 'The query could not be answered within its latency SLO: it was shed'],
    ],
  );
});

test('cache: a second identical query is answered from the cache, without the pool', () => {
  const { pool, processor, sink, route } = harness();
  const token = processor.submit(route, kPlacementA, [4, 5], 100, 0, sink, 0);
  processor.onReply(token, ReplyStatus.Ok, DefaultReason.None, '"out"');
  const extra = { models: ['m'] };
  assert.equal(processor.submit(route, kPlacementA, [4, 5], 100, 0, sink, 1, extra), -1);
  assert.equal(pool.written.length, 1);
  const { answer } = sink.only(1);
  assert.equal(answer.outputJson, '"out"');
  assert.equal(answer.extra, extra);
  assert.equal(answer.isDefault, false);
  // Another model, or another input, is not a hit.
  processor.submit(route, kPlacementB, [4, 5], 100, 0, sink, 2);
  processor.submit(route, kPlacementA, [4, 6], 100, 0, sink, 3);
  assert.equal(pool.written.length, 3);
  assert.equal(processor.cache.stats().hitCount, 1);
});

test('cache: an identical query in flight coalesces, and both get the answer', () => {
  const { clock, pool, processor, sink, route } = harness();
  const owner = processor.submit(route, kPlacementA, 'same', 100, 0, sink, 0);
  clock.advanceBy(10);
  const waiter = processor.submit(route, kPlacementA, 'same', 100, 0, sink, 1);
  assert.ok(waiter >= 0 && waiter !== owner, 'the waiter has a token of its own (for cancel)');
  assert.equal(pool.written.length, 1);
  clock.advanceBy(10);
  processor.onReply(owner, ReplyStatus.Ok, DefaultReason.None, '"o"');
  assert.deepEqual(
    sink.answers.map((r) => [r.index, r.answer.outputJson, r.atMs]),
    [
      [0, '"o"', 1020],
      [1, '"o"', 1020],
    ],
  );
  processor.onReply(waiter, ReplyStatus.Ok, DefaultReason.None, '"x"');
  clock.advanceBy(1000);
  assert.equal(sink.answers.length, 2, 'the waiter is answered once, and never at its deadline');
  assert.equal(processor.pendingCount, 0);
  assert.equal(processor.cache.stats().pendingCount, 0);
});

test('cache: when the owner fails, the waiter dispatches itself (at its own priority) and gets its own answer', () => {
  const { pool, processor, sink, route } = harness();
  const owner = processor.submit(route, kPlacementA, [9], 100, 0, sink, 0);
  // A more urgent identical query still waits on the one in flight (it coalesces whatever the priority).
  const waiter = processor.submit(route, kPlacementA, [9], 100, 9, sink, 1);
  assert.equal(pool.written.length, 1);
  processor.onReply(owner, ReplyStatus.Default, DefaultReason.ModelError, 'boom');
  assert.equal(sink.answers.length, 1);
  assert.equal(sink.only(0).answer.isDefault, true);
  assert.equal(pool.written.length, 2);
  assert.equal(pool.last().token, waiter);
  assert.equal(pool.last().priority, 9);
  assert.deepEqual(pool.last().input, [9]);
  processor.onReply(waiter, ReplyStatus.Ok, DefaultReason.None, '"w"');
  assert.equal(sink.only(1).answer.outputJson, '"w"');
});

test('cache: a waiter whose owner expires first dispatches itself with its own deadline', () => {
  const { clock, pool, processor, sink, route } = harness();
  processor.submit(route, kPlacementA, [9], 50, 0, sink, 0); // off-SLO: 50 ms
  const waiter = processor.submit(route, kPlacementA, [9], 100, 0, sink, 1);
  clock.advanceTo(1050);
  assert.equal(sink.only(0).answer.explanation, kExplainSlo);
  assert.equal(pool.last().token, waiter);
  assert.equal(pool.last().deadlineMs, 1100);
  clock.advanceTo(1100);
  assert.equal(sink.only(1).atMs, 1100);
  assert.equal(sink.only(1).answer.explanation, kExplainSlo);
});

test('cache: a waiter due at the same instant as its expiring owner is not written to a ring', () => {
  const { clock, pool, processor, sink, route } = harness();
  processor.submit(route, kPlacementA, [9], 100, 0, sink, 0);
  processor.submit(route, kPlacementA, [9], 100, 0, sink, 1);
  clock.advanceTo(1100);
  assert.equal(pool.written.length, 1, 'no record goes out already due');
  assert.deepEqual(
    sink.answers.map((r) => [r.index, r.atMs, r.answer.explanation]),
    [
      [0, 1100, kExplainSlo],
      [1, 1100, kExplainSlo],
    ],
  );
  assert.equal(processor.pendingCount, 0);
});

test('cache: a waiter whose owner fails while the ring is full is shed', () => {
  const { pool, processor, sink, route } = harness();
  const owner = processor.submit(route, kPlacementA, [9], 100, 0, sink, 0);
  processor.submit(route, kPlacementA, [9], 100, 0, sink, 1);
  pool.full = true;
  processor.onReply(owner, ReplyStatus.Default, DefaultReason.ReplicaFailed, 'gone');
  assert.equal(sink.only(1).answer.shed, true);
  assert.equal(sink.only(1).answer.explanation, kExplainQueueFull);
  assert.equal(processor.pendingCount, 0);
});

test('cancel: an in-ring query sends a cancel and is never answered; a waiter sends none', () => {
  const { clock, pool, processor, sink, route } = harness();
  const owner = processor.submit(route, kPlacementA, [1], 100, 0, sink, 0);
  const waiter = processor.submit(route, kPlacementA, [1], 100, 0, sink, 1);
  processor.cancel([waiter]);
  assert.deepEqual(pool.cancelled, []);
  processor.onReply(owner, ReplyStatus.Ok, DefaultReason.None, '"o"');
  assert.deepEqual(
    sink.answers.map((r) => r.index),
    [0],
  );
  const other = processor.submit(route, kPlacementB, [2], 100, 0, sink, 2);
  processor.cancel([other, other, 12345]);
  assert.deepEqual(pool.cancelled, [{ placement: kPlacementB, token: other }]);
  processor.onReply(other, ReplyStatus.Ok, DefaultReason.None, '"late"');
  clock.advanceBy(1000);
  assert.deepEqual(
    sink.answers.map((r) => r.index),
    [0],
  );
  assert.equal(processor.pendingCount, 0);
  assert.equal(processor.counters.queries, 3);
  assert.equal(processor.counters.answered, 1);
  assert.equal(processor.counters.cancelled, 2, 'a repeated or unknown token is not counted');
});

test('cancel: when the owner is cancelled, its waiter dispatches itself', () => {
  const { pool, processor, sink, route } = harness();
  const owner = processor.submit(route, kPlacementA, 's', 100, 0, sink, 0);
  const waiter = processor.submit(route, kPlacementA, 's', 100, 0, sink, 1);
  processor.cancel([owner]);
  assert.equal(pool.last().token, waiter);
  processor.onReply(waiter, ReplyStatus.Ok, DefaultReason.None, '"w"');
  assert.deepEqual(
    sink.answers.map((r) => [r.index, r.answer.outputJson]),
    [[1, '"w"']],
  );
});

test('close() answers everything open with the shutdown explanation, once; later queries too', () => {
  const { clock, processor, sink, route } = harness();
  const a = processor.submit(route, kPlacementA, [1], 100, 0, sink, 0);
  processor.submit(route, kPlacementA, [1], 100, 0, sink, 1); // waits on a (cache)
  processor.submit(route, kPlacementB, [2], 30, 0, sink, 2); // off-SLO (heap)
  const cancelled = processor.submit(route, kPlacementB, [3], 100, 0, sink, 3);
  processor.cancel([cancelled]);
  processor.close();
  assert.deepEqual(sink.answers.map((r) => r.index).sort(), [0, 1, 2]);
  for (const r of sink.answers) {
    assert.deepEqual([r.answer.isDefault, r.answer.explanation, r.answer.outputJson], [true, kExplainShutdown, '"dflt"']);
  }
  assert.equal(processor.submit(route, kPlacementA, [5], 100, 0, sink, 4), -1);
  assert.equal(sink.only(4).answer.explanation, kExplainShutdown);
  processor.onReply(a, ReplyStatus.Ok, DefaultReason.None, '"late"');
  clock.advanceBy(1000);
  assert.equal(sink.answers.length, 4);
  assert.equal(processor.pendingCount, 0);
});

test('close() counts its answers: queries = answered + cancelled', () => {
  const { processor, sink, route } = harness();
  processor.submit(route, kPlacementA, [1], 100, 0, sink, 0);
  const b = processor.submit(route, kPlacementA, [2], 100, 0, sink, 1);
  processor.cancel([b]);
  processor.close();
  const c = processor.counters;
  assert.equal(c.queries, 2);
  assert.equal(c.answered, 1, `counters after close(): ${JSON.stringify(c)}`);
  assert.equal(c.defaults, 1);
  assert.equal(c.cancelled, 1);
  assert.equal(route.stats.defaults, 1);
  assert.equal(
    route.stats.latencyUs.counts.reduce((a, b) => a + b, 0),
    1,
  );
});

test("off-SLO deadlines (a request SLO that is not the app's) use the heap and fire in order, each at its deadline", () => {
  const { clock, processor, sink, route } = harness(0);
  const slos = [300, 100, 50, 200, 100, 75, 250];
  slos.forEach((slo, i) => {
    processor.submit(route, kPlacementA, [i], slo, 0, sink, i);
  });
  clock.advanceBy(20);
  processor.submit(route, kPlacementA, [99], 100, 0, sink, 99); // app SLO, deadline 1120
  clock.advanceTo(2000);
  const got = sink.answers.map((r) => [r.index, r.atMs]);
  assert.deepEqual(got, [
    [2, 1050],
    [5, 1075],
    [1, 1100],
    [4, 1100],
    [99, 1120],
    [3, 1200],
    [6, 1250],
    [0, 1300],
  ]);
  assert.ok(sink.answers.every((r) => r.answer.explanation === kExplainSlo));
});

test('a deadline answered early leaves the watch: the next one still fires on time', () => {
  const { clock, processor, sink, route } = harness(0);
  const first = processor.submit(route, kPlacementA, [1], 50, 0, sink, 0);
  processor.submit(route, kPlacementA, [2], 100, 0, sink, 1);
  processor.submit(route, kPlacementA, [3], 60, 0, sink, 2);
  processor.onReply(first, ReplyStatus.Ok, DefaultReason.None, '1');
  clock.advanceTo(1500);
  assert.deepEqual(
    sink.answers.map((r) => [r.index, r.atMs]),
    [
      [0, 1000],
      [2, 1060],
      [1, 1100],
    ],
  );
});

test('a sink that submits or cancels from inside onAnswer (at a deadline) leaves every deadline on time', () => {
  const { clock, processor, route } = harness(0);
  const sink = new RecordingSink(clock);
  let victim = -1;
  const reacting = {
    onAnswer(index: number, answer: Answer): void {
      sink.onAnswer(index, answer);
      if (index === 0) {
        processor.cancel([victim]); // due at the same instant, later in the FIFO
        processor.submit(route, kPlacementA, [10], 100, 0, sink, 10); // app SLO: 1200
        processor.submit(route, kPlacementA, [11], 5, 0, sink, 11); // off-SLO: 1105
      }
    },
  };
  processor.submit(route, kPlacementA, [0], 100, 0, reacting, 0);
  victim = processor.submit(route, kPlacementA, [1], 100, 0, sink, 1);
  processor.submit(route, kPlacementA, [2], 150, 0, sink, 2); // heap: 1150
  clock.advanceTo(2000);
  assert.deepEqual(
    sink.answers.map((r) => [r.index, r.atMs]),
    [
      [0, 1100],
      [11, 1105],
      [2, 1150],
      [10, 1200],
    ],
  );
  assert.equal(processor.counters.cancelled, 1);
  assert.equal(processor.pendingCount, 0);
});

test('per-app stats and the counters add up', () => {
  const { clock, pool, processor, sink } = harness();
  const a: AppRoute = testRoute({ name: 'a', stats: processor.appStats('a') });
  const b: AppRoute = testRoute({ name: 'b', stats: processor.appStats('b'), sloMs: 20, inputType: 'strings' });
  const ok = processor.submit(a, kPlacementA, [1], 100, 0, sink, 0);
  processor.submit(a, kPlacementA, [2], 100, 0, sink, 1); // expires
  processor.submit(b, null, 'x', 20, 0, sink, 2); // no model
  const failed = processor.submit(b, kPlacementB, 'y', 20, 0, sink, 3);
  const cancelled = processor.submit(b, kPlacementB, 'z', 20, 0, sink, 4);
  clock.advanceBy(4);
  processor.onReply(ok, ReplyStatus.Ok, DefaultReason.None, '1');
  processor.onReply(failed, ReplyStatus.Default, DefaultReason.ModelError, 'e');
  processor.cancel([cancelled]);
  processor.submit(a, kPlacementA, [1], 100, 0, sink, 5); // cache hit
  pool.full = true;
  processor.submit(b, kPlacementB, 'w', 20, 0, sink, 6); // shed
  clock.advanceBy(1000);
  const count = (s: AppRoute) => s.stats.latencyUs.counts.reduce((x, y) => x + y, 0);
  assert.deepEqual([a.stats.queries, a.stats.defaults, a.stats.sloMisses, count(a)], [3, 1, 1, 3]);
  assert.deepEqual([b.stats.queries, b.stats.defaults, b.stats.sloMisses, count(b)], [4, 3, 0, 3]);
  assert.deepEqual(processor.counters, { queries: 7, answered: 6, defaults: 4, sloMisses: 1, cancelled: 1 });
  assert.equal(sink.answers.length, 6);
  assert.equal(processor.allAppStats().get('a'), a.stats);
});

test('the cache off: identical queries each go to the pool', () => {
  const { pool, processor, sink, route } = harness(0);
  const t = processor.submit(route, kPlacementA, [1], 100, 0, sink, 0);
  processor.onReply(t, ReplyStatus.Ok, DefaultReason.None, '1');
  processor.submit(route, kPlacementA, [1], 100, 0, sink, 1);
  processor.submit(route, kPlacementA, [1], 100, 0, sink, 2);
  assert.equal(pool.written.length, 3);
  assert.equal(processor.cache.stats().bypassCount, 3);
});

test('an input larger than a ring record can carry is refused with 413', () => {
  const { pool, processor } = harness();
  pool.inputBytesMax = 64;
  processor.assertInputsFit([[1, 2, 3, 4, 5, 6, 7, 8], 'short', Buffer.alloc(64)], InputTypeCode.Doubles);
  assert.throws(
    () => processor.assertInputsFit([[1, 2, 3, 4, 5, 6, 7, 8, 9]], InputTypeCode.Doubles),
    (err: unknown) => err instanceof ClipperError && err.code === 'CLP_ERR_BODY_TOO_LARGE',
  );
  assert.throws(() => processor.assertInputsFit([Buffer.alloc(65)], InputTypeCode.Bytes), /input of 65 bytes/);
  assert.throws(() => processor.assertInputsFit(['x', '\u00e9'.repeat(40)], InputTypeCode.Strings), /input \[1\] of 80 bytes/);
});

test('the token counter wraps past queries still open: they keep their tokens, new ones skip them', () => {
  const clock = new SimClock(1000);
  const pool = new FakeBatchingPort();
  // 8 tokens a lap (the real counter has 2^27), frontend 2's bits on top.
  const processor = new QueryProcessor({ pool, clock, cacheBytesMax: 0, frontendIndex: 2, tokenCounterMask: 7 });
  const sink = new RecordingSink(clock);
  const route = testRoute({ stats: processor.appStats('app') });
  const base = frontendTokenBase(2);
  // Three long queries (an hour's SLO) stay open across several laps.
  const open = [0, 1, 2].map((i) => processor.submit(route, kPlacementA, [i], 3_600_000, 0, sink, i));
  assert.deepEqual(open, [base, base | 1, base | 2]);
  const given: number[] = [];
  for (let i = 3; i < 30; i++) {
    const token = processor.submit(route, kPlacementA, [i], 100, 0, sink, i);
    given.push(token - base);
    processor.onReply(token, ReplyStatus.Ok, DefaultReason.None, `${i}`);
  }
  const lap = [3, 4, 5, 6, 7];
  assert.deepEqual(given, [...lap, ...lap, ...lap, ...lap, ...lap, 3, 4], 'counter values 0..2 skipped while their queries are open');
  for (const [i, token] of open.entries()) processor.onReply(token, ReplyStatus.Ok, DefaultReason.None, `old ${i}`);
  for (let i = 0; i < 30; i++) assert.equal(sink.only(i).answer.outputJson, i < 3 ? `old ${i}` : `${i}`, `query ${i} got its own answer`);
  // Nothing open from an earlier lap: the counter goes on without skipping, through 0..2 again.
  const next = [30, 31, 32, 33, 34, 35].map((i) => processor.submit(route, kPlacementA, [i], 100, 0, sink, i) - base);
  assert.deepEqual(next, [5, 6, 7, 0, 1, 2]);
  assert.equal(processor.pendingCount, 6);
  assert.deepEqual(processor.counters, { queries: 36, answered: 30, defaults: 0, sloMisses: 0, cancelled: 0 });
});
