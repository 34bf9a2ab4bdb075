// The frontend threads' counters added up on the main thread (src/frontend_thread/stats_merge.ts):
// sums, one AppStats object per app across merges, a late thread counted with its last answer, a
// deleted app gone at once, pipeline stages matched by identity and arrival rates summed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FrontendStats, PipelineStatsWire } from '../../src/frontend_thread/messages.js';
import { MergedStats, mergePipelineStats, zeroCacheStats } from '../../src/frontend_thread/stats_merge.js';
import { observeBucket } from '../../src/lib/bucket_histogram.js';
import { countDefault, DefaultKind, newAppStats, observeLatency, type AppStats } from '../../src/query/app_route.js';
import { kStageLatencyUsBuckets, type StageStats } from '../../src/query/stage_stats.js';
import { newBucketHistogram } from '../../src/lib/bucket_histogram.js';

function appStats(queries: number, latenciesMs: number[], defaults = 0): AppStats {
  const s = newAppStats();
  s.queries = queries;
  for (const ms of latenciesMs) observeLatency(s, ms);
  for (let i = 0; i < defaults; i++) countDefault(s, DefaultKind.Slo, false);
  return s;
}

function threadStats(queries: number, apps: Array<[string, AppStats]>, pipelines: Array<[string, PipelineStatsWire]> = []): FrontendStats {
  return {
    counters: { queries, answered: queries, defaults: 0, sloMisses: 0, cancelled: 0 },
    pendingCount: 1,
    cache: { ...zeroCacheStats(), hitCount: queries, entryCount: 2 },
    apps,
    pipelines,
  };
}

test('counters, cache stats and apps add up over the threads, histograms included', () => {
  const merged = new MergedStats(2);
  merged.set(0, threadStats(3, [['a', appStats(3, [0.1, 2, 30], 1)]]));
  merged.set(
    1,
    threadStats(4, [
      ['a', appStats(4, [0.1, 0.2])],
      ['b', appStats(1, [5])],
    ]),
  );
  merged.merge();
  assert.equal(merged.counters.queries, 7);
  assert.equal(merged.counters.answered, 7);
  assert.equal(merged.pendingCount, 2);
  assert.equal(merged.cache.hitCount, 7);
  assert.equal(merged.cache.entryCount, 4);
  const a = merged.apps.get('a')!;
  assert.equal(a.queries, 7);
  assert.equal(a.defaults, 1);
  assert.equal(a.sloMisses, 1);
  assert.equal(a.defaultKinds[DefaultKind.Slo], 1);
  assert.equal(
    a.latencyUs.counts.reduce((x, y) => x + y, 0),
    5,
  );
  assert.equal(a.latencyUs.min, 100);
  assert.equal(a.latencyUs.max, 30_000);
  assert.equal(merged.apps.get('b')!.queries, 1);
});

test("an app's merged stats stay one object across merges; a late thread counts with its last answer", () => {
  const merged = new MergedStats(2);
  merged.set(0, threadStats(1, [['a', appStats(1, [1])]]));
  merged.set(1, threadStats(2, [['a', appStats(2, [1, 1])]]));
  merged.merge();
  const first = merged.apps.get('a')!;
  // Thread 1 did not answer this round: its previous numbers still count, nothing goes down.
  merged.set(0, threadStats(5, [['a', appStats(5, [1, 1, 1, 1, 1])]]));
  merged.merge();
  assert.equal(merged.apps.get('a'), first, 'the same object, refilled in place');
  assert.equal(first.queries, 7);
  assert.equal(merged.counters.queries, 7);
  assert.equal(
    first.latencyUs.counts.reduce((x, y) => x + y, 0),
    7,
  );
});

test('a deleted app goes at once, also from the last answers, and comes back as a new object', () => {
  const merged = new MergedStats(1);
  merged.set(
    0,
    threadStats(1, [
      ['a', appStats(1, [1])],
      ['b', appStats(1, [1])],
    ]),
  );
  merged.merge();
  const before = merged.apps.get('a')!;
  merged.forgetApp('a');
  assert.equal(merged.apps.has('a'), false);
  merged.merge();
  assert.equal(merged.apps.has('a'), false, "the thread's last answer no longer holds it");
  assert.equal(merged.apps.get('b')!.queries, 1);
  merged.set(0, threadStats(1, [['a', appStats(1, [1])]]));
  merged.merge();
  assert.notEqual(merged.apps.get('a'), before);
  assert.equal(merged.apps.has('b'), false, 'an app no thread has any more is dropped');
});

test('an answer to a stats request sent before an app was deleted leaves it out; a later one counts it again', () => {
  const merged = new MergedStats(2);
  merged.forgetApp('a', 5); // requests 0..4 were posted before the threads were told
  merged.set(0, threadStats(1, [['a', appStats(1, [1])]]), 4);
  merged.set(1, threadStats(1, [['a', appStats(2, [1])]]), 5);
  merged.merge();
  assert.equal(merged.apps.get('a')!.queries, 2, "only thread 1's answer, taken after it forgot the app, counts it");
  merged.set(0, threadStats(1, [['a', appStats(3, [1])]]), 6);
  merged.merge();
  assert.equal(merged.apps.get('a')!.queries, 3 + 2, 'the app made again counts once every thread answered after the delete');
  merged.set(0, threadStats(1, [['a', appStats(4, [1])]]), 4);
  merged.merge();
  assert.equal(merged.apps.get('a')!.queries, 4 + 2, 'every thread answered past the delete: nothing is left out any more');
});

function stage(name: string, calls: number, fallthrough: number[] | null = null): StageStats {
  const latencyUs = newBucketHistogram(kStageLatencyUsBuckets);
  for (let i = 0; i < calls; i++) observeBucket(latencyUs, 300);
  return {
    name,
    kind: fallthrough === null ? 'model' : 'cascade',
    models: fallthrough === null ? ['m'] : ['m', 'n'],
    calls,
    latencyUs,
    fallbacks: 1,
    fallthrough,
    failovers: fallthrough === null ? null : fallthrough.map(() => 0),
  };
}

test('pipeline stats: stages matched by name, kind and models; run errors and rates add up', () => {
  const one: PipelineStatsWire = {
    stages: [stage('c', 2, [1]), stage('s', 3)],
    memberStats: appStats(5, []),
    runErrors: 1,
    arrivalRateQps: 2.5,
  };
  const two: PipelineStatsWire = {
    stages: [stage('c', 4, [3]), stage('other', 9)],
    memberStats: appStats(7, []),
    runErrors: 0,
    arrivalRateQps: 1.5,
  };
  const merged = mergePipelineStats('p', [one, two]);
  assert.equal(merged.app, 'p');
  assert.deepEqual(
    merged.stages.map((s) => [s.name, s.calls, s.fallbacks]),
    [
      ['c', 6, 2],
      ['s', 3, 1],
    ],
  );
  assert.deepEqual(merged.stages[0]!.fallthrough, [4]);
  assert.equal(
    merged.stages[0]!.latencyUs.counts.reduce((x, y) => x + y, 0),
    6,
  );
  assert.equal(merged.runErrors, 1);
  assert.equal(merged.memberStats.queries, 12);
  assert.equal(merged.arrivalRateQps(), 4);
  assert.equal(one.stages[0]!.calls, 2, "a thread's answer is not changed by the merge");
});

test('MergedStats merges the pipelines of every thread', () => {
  const merged = new MergedStats(2);
  const wire = (calls: number): PipelineStatsWire => ({
    stages: [stage('s', calls)],
    memberStats: newAppStats(),
    runErrors: 0,
    arrivalRateQps: 1,
  });
  merged.set(0, threadStats(1, [], [['p', wire(1)]]));
  merged.set(1, threadStats(1, [], [['p', wire(2)]]));
  merged.merge();
  assert.equal(merged.pipelines.get('p')!.stages[0]!.calls, 3);
  assert.equal(merged.pipelines.get('p')!.arrivalRateQps(), 2);
});
