// The dashboard's snapshot builder over made-up counters: per-interval deltas and rates, latency
// quantiles from histogram deltas, nulls where nothing happened, counters that restart (a recreated
// app, a redeployed model version), selection weights, replicas.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReplicaStatus } from '../../src/admin/admin_context.js';
import { appRecordOf, nodeModelRecord } from '../../src/admin/deploy_local.js';
import { kBatchSizeBuckets, kLatencyUsBuckets } from '../../src/batching/model_actor.js';
import type { ModelActorStats } from '../../src/batching/protocol.js';
import type { SchedulerStats } from '../../src/batching/scheduler_types.js';
import { histogramDelta, normalisedWeights, SnapshotBuilder, type SampleInput } from '../../src/dashboard/snapshot_builder.js';
import { newBucketHistogram, observeBucket } from '../../src/lib/bucket_histogram.js';
import { countDefault, DefaultKind, newAppStats, observeLatency, type AppStats } from '../../src/query/app_route.js';
import { emptySnapshot, modelKey } from '../../src/state/records.js';

/** A model actor's cumulative stats after batches of `sizes`, each query queued `queueUs`, each batch taking `modelUs`. */
function actorStats(modelIndex: number, sizes: number[], queueUs: number, modelUs: number): ModelActorStats {
  const s: ModelActorStats = {
    modelIndex,
    name: 'm',
    version: '1',
    scheduler: {} as SchedulerStats, // not read by the builder
    batchSize: newBucketHistogram(kBatchSizeBuckets),
    batchLatencyUs: newBucketHistogram(kLatencyUsBuckets),
    queueUs: newBucketHistogram(kLatencyUsBuckets),
    modelErrorCount: 0,
  };
  for (const n of sizes) {
    observeBucket(s.batchSize, n);
    observeBucket(s.batchLatencyUs, modelUs);
    for (let i = 0; i < n; i++) observeBucket(s.queueUs, queueUs);
  }
  return s;
}

function state() {
  const snap = emptySnapshot();
  snap.apps.set('a', appRecordOf('a', 'doubles', ['m'], { latency_slo_micros: 20_000 }));
  snap.apps.set('b', appRecordOf('b', 'doubles', ['m', 'n'], { selection_policy: 'exp3' }));
  snap.models.set(modelKey('m', '1'), nodeModelRecord('m', '1', 'doubles', '/x.mjs', { batch_size: 4, num_replicas: 2 }));
  snap.currentVersions.set('m', '1');
  return snap;
}

const replica = (id: number, connected: boolean): ReplicaStatus => ({
  model: 'm',
  version: '1',
  replicaId: id,
  host: '127.0.0.1',
  port: 7000 + id,
  state: 'running',
  pid: 1,
  restartCount: id,
  manager: 'local',
  containerId: null,
  image: null,
  health: 'none',
  connected,
});

function input(apps: Map<string, AppStats>, models: ModelActorStats[], weights: number[] | null = null): SampleInput {
  return {
    state: state(),
    appStats: apps,
    modelStats: models,
    replicas: [replica(0, true), replica(1, false)],
    selectionWeights: (app) => (app === 'b' && weights !== null ? { models: ['m', 'n'], weights } : null),
  };
}

test('the first build is a baseline; the next reports what changed over the interval', () => {
  const a = newAppStats();
  for (let i = 0; i < 10; i++) observeLatency(a, 1); // 1 ms before the baseline: not in the interval
  const apps = new Map([['a', a]]);
  const b = new SnapshotBuilder();
  assert.equal(b.build(input(apps, [actorStats(1, [1, 1], 100, 500)]), 1_000), null);

  for (let i = 0; i < 90; i++) observeLatency(a, 3); // 3 ms: the 2500..5000 µs bucket
  for (let i = 0; i < 10; i++) {
    observeLatency(a, 0);
    countDefault(a, i < 6 ? DefaultKind.Shed : DefaultKind.Slo, i < 6);
  }
  a.cacheLookups += 50;
  a.cacheHits += 20;
  const snap = b.build(input(apps, [actorStats(1, [1, 1, 4, 4, 8], 100, 500)], [3, 1]), 3_000);
  assert.ok(snap !== null);
  assert.equal(snap.t, 3_000);
  assert.equal(snap.intervalMs, 2_000);
  const app = snap.apps.find((x) => x.name === 'a')!;
  assert.equal(app.qps, 50, '100 answers in 2 s');
  assert.ok(app.latencyMsP50! >= 2.5 && app.latencyMsP50! <= 3, `p50 ${app.latencyMsP50} in the 3 ms bucket, narrowed to the max`);
  assert.ok(app.latencyMsP99! > app.latencyMsP50! - 1e-9);
  assert.equal(app.defaultShare, 0.1);
  assert.equal(app.sloAttainment, 0.9);
  assert.deepEqual(app.defaultReasons, { slo: 4, shed: 6 });
  assert.equal(app.shed, 6);
  assert.equal(app.cacheHitRatio, 0.4);
  assert.equal(app.sloMicros, 20_000);
  assert.deepEqual(app.linkedModels, ['m']);
  assert.deepEqual(app.selection, [], 'a one-model app has no selection');

  const multi = snap.apps.find((x) => x.name === 'b')!;
  assert.deepEqual(multi.selection, [
    { model: 'm', weight: 0.75 },
    { model: 'n', weight: 0.25 },
  ]);
  assert.equal(multi.qps, 0, 'no stats yet: nothing answered');
  assert.equal(multi.latencyMsP50, null);
  assert.equal(multi.sloAttainment, null);
  assert.equal(multi.cacheHitRatio, null);

  const m = snap.models[0]!;
  assert.equal(m.qps, 8, '16 queries in 3 new batches over 2 s');
  assert.ok(Math.abs(m.batchSizeMean! - 16 / 3) < 1e-9);
  assert.deepEqual(
    m.batchSizeHistogram.filter((x) => x.count > 0),
    [
      { le: 4, count: 2 },
      { le: 8, count: 1 },
    ],
  );
  assert.equal(m.queueMsMean, 0.1);
  assert.equal(m.modelMsMean, 0.5);
  assert.equal(m.batchMode, 4);
  assert.equal(m.numReplicas, 2);
  assert.equal(m.current, true);
  assert.deepEqual(
    m.replicas.map((r) => [r.id, r.connected, r.restarts, r.port]),
    [
      [0, true, 0, 7000],
      [1, false, 1, 7001],
    ],
  );
});

test('an interval with no traffic has zero rates and null figures', () => {
  const apps = new Map([['a', newAppStats()]]);
  const b = new SnapshotBuilder();
  b.build(input(apps, [actorStats(1, [2], 10, 10)]), 0);
  const snap = b.build(input(apps, [actorStats(1, [2], 10, 10)]), 1_000)!;
  const app = snap.apps.find((x) => x.name === 'a')!;
  assert.deepEqual(
    [app.qps, app.latencyMsP50, app.latencyMsP99, app.defaultShare, app.sloAttainment, app.cacheHitRatio, app.shed],
    [0, null, null, null, null, null, 0],
  );
  assert.deepEqual(app.defaultReasons, {});
  const m = snap.models[0]!;
  assert.deepEqual([m.qps, m.batchSizeMean, m.queueMsMean, m.modelMsMean], [0, null, null, null]);
  assert.ok(m.batchSizeHistogram.every((x) => x.count === 0));
});

test('a recreated app and a redeployed model version count from zero, not below it', () => {
  const b = new SnapshotBuilder();
  const old = newAppStats();
  for (let i = 0; i < 100; i++) observeLatency(old, 1);
  b.build(input(new Map([['a', old]]), [actorStats(1, [8, 8, 8], 10, 10)]), 0);
  const fresh = newAppStats(); // the app was deleted and added again: new counters
  for (let i = 0; i < 5; i++) observeLatency(fresh, 1);
  const snap = b.build(input(new Map([['a', fresh]]), [actorStats(2, [1], 10, 10)]), 1_000)!;
  assert.equal(snap.apps.find((x) => x.name === 'a')!.qps, 5);
  assert.equal(snap.models[0]!.qps, 1, 'the new actor (model index 2) sent one query');
  assert.equal(snap.models[0]!.batchSizeMean, 1);
});

test('a model without an actor yet, adaptive batching and the overflow bucket', () => {
  const b = new SnapshotBuilder();
  const s = state();
  s.models.set(modelKey('m', '1'), nodeModelRecord('m', '1', 'doubles', '/x.mjs'));
  const noActor: SampleInput = { ...input(new Map(), []), state: s };
  b.build(noActor, 0);
  const snap = b.build(noActor, 1_000)!;
  assert.deepEqual([snap.models[0]!.batchMode, snap.models[0]!.qps, snap.models[0]!.batchSizeMean], ['adaptive', 0, null]);
  assert.deepEqual(snap.models[0]!.batchSizeHistogram, []);

  const before = actorStats(1, [], 0, 0);
  const after = actorStats(1, [2000, 3000], 0, 0); // above the last bound (1024)
  const delta = histogramDelta(after.batchSize, before.batchSize);
  assert.equal(delta.counts.at(-1), 2);
  b.build({ ...input(new Map(), [before]), state: s }, 2_000);
  const big = b.build({ ...input(new Map(), [after]), state: s }, 3_000)!;
  assert.deepEqual(big.models[0]!.batchSizeHistogram.at(-1), { le: null, count: 2 }, 'the open-ended bucket: above the last bound');
});

test('a model its worker left out of a sample keeps its counts: no spike of all-time totals when it is back', () => {
  const b = new SnapshotBuilder();
  const apps = new Map<string, AppStats>();
  const history = [8, 8, 8, 8, 8, 8, 8, 8, 8, 8]; // 80 queries before the dashboard opened
  b.build(input(apps, [actorStats(1, history, 10, 10)]), 0);
  const one = b.build(input(apps, [actorStats(1, [...history, 2], 10, 10)]), 1_000)!;
  assert.equal(one.models[0]!.qps, 2);
  const missed = b.build(input(apps, []), 2_000)!; // the worker did not answer in time
  assert.deepEqual([missed.models[0]!.qps, missed.models[0]!.batchSizeMean], [0, null], 'nothing known this interval');
  const back = b.build(input(apps, [actorStats(1, [...history, 2, 4, 4], 10, 10)]), 3_000)!;
  assert.equal(back.models[0]!.qps, 4, '8 queries since the sample at 1 s, over the 2 s since');
  assert.equal(back.models[0]!.batchSizeMean, 4);
  assert.equal(back.intervalMs, 1_000);
});

test('a configured model first read after the baseline gets a baseline of its own, then figures', () => {
  const b = new SnapshotBuilder();
  const apps = new Map<string, AppStats>();
  const history = [16, 16, 16, 16, 16, 16];
  b.build(input(apps, []), 0); // its worker missed the first sample
  const first = b.build(input(apps, [actorStats(1, history, 10, 10)]), 1_000)!;
  assert.deepEqual([first.models[0]!.qps, first.models[0]!.batchSizeMean], [0, null], 'its all-time counts are not one interval');
  const next = b.build(input(apps, [actorStats(1, [...history, 3], 10, 10)]), 2_000)!;
  assert.equal(next.models[0]!.qps, 3);

  // Deployed after the last sample (not configured then): everything its new actor counted is new.
  const c = new SnapshotBuilder();
  const none = { ...input(apps, []), state: emptySnapshot() };
  c.build(none, 0);
  const fresh = c.build(input(apps, [actorStats(4, [2, 2], 10, 10)]), 500)!;
  assert.equal(fresh.models[0]!.qps, 8, '4 queries in 0.5 s');
});

test("an interval's quantiles are bounded by its own buckets, not by the all-time max", () => {
  const a = newAppStats();
  observeLatency(a, 1); // long before: the all-time min,
  observeLatency(a, 60_000); // and a query of a minute: the all-time max
  const apps = new Map([['a', a]]);
  const b = new SnapshotBuilder();
  b.build(input(apps, []), 0);
  for (let i = 0; i < 100; i++) observeLatency(a, 2_000); // 2 s: the open-ended bucket (above 1 s)
  const snap = b.build(input(apps, []), 1_000)!;
  const app = snap.apps.find((x) => x.name === 'a')!;
  assert.equal(app.latencyMsP99, 1_000, 'known only to be above the last bound (1 s), not the minute of long ago');

  const before = newBucketHistogram(kLatencyUsBuckets);
  observeBucket(before, 900_000);
  const now = { ...before, counts: [...before.counts] };
  observeBucket(now, 300);
  observeBucket(now, 400);
  const d = histogramDelta(now, before);
  assert.deepEqual([d.min, d.max], [300, 500], 'the interval lies in the 250..500 µs bucket');
  assert.deepEqual([histogramDelta(before, before).min, histogramDelta(before, before).max], [Infinity, -Infinity], 'empty');
});

test('selection weights are normalised and refused when unusable', () => {
  assert.deepEqual(normalisedWeights(null), []);
  assert.deepEqual(normalisedWeights({ models: ['x'], weights: [1] }), []);
  assert.deepEqual(normalisedWeights({ models: ['x', 'y'], weights: [0, 0] }), []);
  assert.deepEqual(normalisedWeights({ models: ['x', 'y'], weights: Float64Array.from([2, 6]) }), [
    { model: 'x', weight: 0.25 },
    { model: 'y', weight: 0.75 },
  ]);
});
