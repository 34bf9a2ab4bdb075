// The per-app counters the dashboard reads, kept by the QueryProcessor as it answers: why each
// default output was given (defaultKinds), shed answers, and the app's own cache lookups and hits
// (an Exp4 app's too: its sub-queries' lookups). A fake batching pool and a simulated clock
// (test/helpers/fake_batching.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimClock } from '../../sim/sim_clock.js';
import { DefaultReason, ReplyStatus } from '../../src/ipc/records.js';
import { kDefaultKindNames, type AppStats } from '../../src/query/app_route.js';
import { createPrng } from '../../src/lib/prng.js';
import { AppSelection } from '../../src/selection/app_selection.js';
import { parsePolicyConfig } from '../../src/selection/policies/params.js';
import { createSnapshotBuffer, SnapshotWriter } from '../../src/selection/weights_snapshot.js';
import { QueryProcessor } from '../../src/query/query_processor.js';
import { submitSelected } from '../../src/query/selection_route.js';
import { FakeBatchingPort, kPlacementA, kPlacementB, RecordingSink, testRoute } from '../helpers/fake_batching.js';

/** The non-zero kinds of an app's default outputs, by name. */
function kinds(stats: AppStats): Record<string, number> {
  const out: Record<string, number> = {};
  kDefaultKindNames.forEach((name, i) => {
    if (stats.defaultKinds[i]! > 0) out[name] = stats.defaultKinds[i]!;
  });
  return out;
}

test('each default output is counted once under its reason, shed ones also as shed', () => {
  const clock = new SimClock(1000);
  const pool = new FakeBatchingPort();
  const processor = new QueryProcessor({ pool, clock, cacheBytesMax: 0 });
  const sink = new RecordingSink(clock);
  const route = testRoute({ stats: processor.appStats('app') });
  const submit = (input: number[]) => processor.submit(route, kPlacementA, input, 100, 0, sink, sink.answers.length);

  processor.onReply(submit([1]), ReplyStatus.Ok, DefaultReason.None, '1');
  processor.onReply(submit([2]), ReplyStatus.Default, DefaultReason.QueueFull, '');
  processor.onReply(submit([3]), ReplyStatus.Default, DefaultReason.DeadlineUnreachable, '');
  processor.onReply(submit([4]), ReplyStatus.Default, DefaultReason.ModelError, 'boom');
  processor.onReply(submit([5]), ReplyStatus.Default, DefaultReason.ReplicaFailed, '');
  processor.onReply(submit([6]), ReplyStatus.Default, DefaultReason.SloInfeasible, '');
  processor.onReply(submit([7]), ReplyStatus.Default, DefaultReason.NoReplica, '');
  processor.submit(route, null, [8], 100, 0, sink, 99); // no model deployed
  pool.full = true;
  submit([9]); // the ring refuses it: shed
  pool.full = false;
  submit([10]);
  clock.advanceBy(100); // its deadline

  const s = route.stats;
  assert.deepEqual(kinds(s), { slo: 1, shed: 3, no_model: 2, model_error: 1, replica_failed: 1, slo_infeasible: 1 });
  assert.equal(s.defaults, 9);
  assert.equal(s.shed, 3);
  assert.equal(s.sloMisses, 1);
  assert.equal(
    s.defaultKinds.reduce((a, b) => a + b, 0),
    s.defaults,
    'the kinds add up to the defaults',
  );
  assert.equal(sink.answers.filter((a) => a.answer.shed).length, s.shed, 'shed as the answers say');
  assert.equal(s.cacheLookups, 0, 'a cache that is off is not looked up');
  processor.close();
});

test("an app's cache lookups and hits are its own", () => {
  const clock = new SimClock(1000);
  const pool = new FakeBatchingPort();
  const processor = new QueryProcessor({ pool, clock, cacheBytesMax: 1 << 16 });
  const sink = new RecordingSink(clock);
  const a = testRoute({ name: 'a', stats: processor.appStats('a') });
  const b = testRoute({ name: 'b', stats: processor.appStats('b') });
  processor.onReply(processor.submit(a, kPlacementA, [1], 100, 0, sink, 0), ReplyStatus.Ok, DefaultReason.None, '10');
  processor.submit(a, kPlacementA, [1], 100, 0, sink, 1); // a hit
  processor.submit(b, kPlacementA, [1], 100, 0, sink, 2); // a hit for b (same model, same input)
  processor.onReply(processor.submit(b, kPlacementA, [2], 100, 0, sink, 3), ReplyStatus.Ok, DefaultReason.None, '20');
  assert.deepEqual([a.stats.cacheLookups, a.stats.cacheHits], [2, 1]);
  assert.deepEqual([b.stats.cacheLookups, b.stats.cacheHits], [2, 1]);
  assert.equal(sink.answers.length, 4);
  processor.close();
});

test("an Exp4 app's cache lookups and hits (one per linked model) are the app's own, not its sub-queries' stats", () => {
  const clock = new SimClock(1000);
  const pool = new FakeBatchingPort();
  const processor = new QueryProcessor({ pool, clock, cacheBytesMax: 1 << 16 });
  const sink = new RecordingSink(clock);
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
  const route = testRoute({ name: 'e4', stats: processor.appStats('e4'), selection: sel });
  const tokens: number[] = [];
  submitSelected(processor, route, null, [1], 100, 0, sink, 0, tokens);
  assert.equal(tokens.length, 2, 'one sub-query per linked model');
  for (const token of tokens) processor.onReply(token, ReplyStatus.Ok, DefaultReason.None, '7');
  submitSelected(processor, route, null, [1], 100, 0, sink, 1, tokens); // both from the cache
  assert.equal(tokens.length, 2, 'nothing sent the second time');
  assert.deepEqual(
    sink.answers.map((a) => [a.index, a.answer.isDefault]),
    [
      [0, false],
      [1, false],
    ],
  );
  assert.deepEqual([route.stats.cacheLookups, route.stats.cacheHits], [4, 2]);
  assert.deepEqual([sel.memberStats.cacheLookups, sel.memberStats.cacheHits], [0, 0]);
  assert.equal(route.stats.queries, 2, 'the answers are counted as two of the app');
  processor.close();
});
