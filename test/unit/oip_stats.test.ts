// The Open Inference Protocol's statistics (Triton's statistics extension) computed from model actor
// stats: first from a real ModelActor driven by a fake replica link on a simulated clock, so the
// counts and durations are the ones the actor really measures; then the filter, the order and the
// unit conversion on hand-made stats.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelActor } from '../../src/batching/model_actor.js';
import type { ModelActorStats } from '../../src/batching/protocol.js';
import type { ReplicaLink, ReplicaLinkEvents } from '../../src/batching/replica_link.js';
import { modelStatsJson, type ModelStatsSource } from '../../src/frontend/oip/stats.js';
import { kLatencyUsBuckets, kBatchSizeBuckets } from '../../src/batching/model_actor.js';
import { newBucketHistogram, observeBucket } from '../../src/lib/bucket_histogram.js';
import type { PredictMessage } from '../../src/rpc/protocol.js';
import { SimClock } from '../../sim/sim_clock.js';

function doubles(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => {
    b.writeDoubleLE(v, i * 8);
  });
  return b;
}

/** One model actor with one replica whose link records batches and answers when told. */
function actorWithReplica() {
  const clock = new SimClock(1000);
  const sent: PredictMessage[] = [];
  let events: ReplicaLinkEvents | undefined;
  const actor = new ModelActor(
    { modelIndex: 0, name: 'm', version: '1', inputType: 'doubles', scheduler: { batchSize: 8, inFlightPerReplica: 1 } },
    {
      replies: { ok: () => {}, fallback: () => {} },
      clock,
      onReplicaState: () => {},
      io: { pull: () => {}, rearm: () => {} },
      connect: (_address, e) => {
        events = e;
        const link: ReplicaLink = {
          send: (message) => {
            sent.push(message);
            return true;
          },
          reset: () => {},
          close: () => {},
        };
        return link;
      },
    },
  );
  actor.addReplica(1, '127.0.0.1', 1);
  assert.ok(events !== undefined);
  const link = events;
  link.onReady();
  const last = (): PredictMessage => {
    const m = sent.at(-1);
    assert.ok(m !== undefined, 'a batch was sent');
    return m;
  };
  return { clock, actor, link, last, sent };
}

test('stats of a real actor: counts, queue and round-trip durations in ns, failures', () => {
  const { clock, actor, link, last, sent } = actorWithReplica();
  actor.enqueue(1, clock.nowMs() + 1000, 1, doubles(1)); // batch A, sent at once
  const a = last();
  actor.hold();
  actor.enqueue(2, clock.nowMs() + 1000, 1, doubles(2));
  actor.enqueue(3, clock.nowMs() + 1000, 1, doubles(3));
  actor.release();
  clock.advanceBy(3);
  link.onResult(a.id, [1]); // A took 3 ms; batch B (2 and 3, queued 3 ms) goes out
  const b = last();
  assert.equal(b.n, 2);
  clock.advanceBy(2);
  link.onResult(b.id, [2, 3]); // B took 2 ms
  actor.enqueue(4, clock.nowMs() + 1000, 1, doubles(4)); // batch C: the model fails it after 1 ms
  const c = last();
  clock.advanceBy(1);
  link.onBatchError(c.id, 'boom');
  actor.enqueue(5, clock.nowMs() + 1000, 1, doubles(5)); // batch D stays in flight
  assert.equal(sent.length, 4);

  const stats: ModelActorStats = actor.stats();
  const sources: ModelStatsSource[] = [stats]; // ModelActorStats is what the route hands over
  const { model_stats } = modelStatsJson(sources, { name: 'm' });
  assert.equal(model_stats.length, 1);
  const s = model_stats[0]!;
  assert.equal(s.name, 'm');
  assert.equal(s.version, '1');
  assert.equal(s.inference_count, 4, 'five queries sent, one still in flight (the failed one counts: documented)');
  assert.equal(s.execution_count, 2, 'three batches came back, one with an error');
  assert.deepEqual(s.inference_stats.success, { count: 4, ns: 0 });
  assert.deepEqual(s.inference_stats.fail, { count: 1, ns: 0 });
  assert.deepEqual(s.inference_stats.queue, { count: 5, ns: 6_000_000 }, 'queries 2 and 3 waited 3 ms each');
  assert.deepEqual(s.inference_stats.compute_infer, { count: 3, ns: 6_000_000 }, '3 + 2 + 1 ms');
  for (const unmeasured of ['compute_input', 'compute_output', 'cache_hit'] as const) {
    assert.deepEqual(s.inference_stats[unmeasured], { count: 0, ns: 0 }, unmeasured);
  }
  assert.equal(s.last_inference, 0);
  assert.deepEqual(s.batch_stats, []);
  actor.close();
});

function fakeStats(name: string, version: string, extra: Partial<ModelStatsSource> = {}): ModelStatsSource {
  return {
    name,
    version,
    scheduler: {
      inFlightQueryCount: 0,
      batchDoneCount: 0,
      expiredCount: { deadline: 0, replica_failed: 0, shutdown: 0 },
      rejectedCount: { queue_full: 0, deadline_unreachable: 0, no_replica: 0 },
    },
    batchSize: newBucketHistogram(kBatchSizeBuckets),
    batchLatencyUs: newBucketHistogram(kLatencyUsBuckets),
    queueUs: newBucketHistogram(kLatencyUsBuckets),
    modelErrorCount: 0,
    ...extra,
  };
}

test('filter by name and version; ordered by name, then version numerically', () => {
  const all = [fakeStats('b', '1'), fakeStats('a', '10'), fakeStats('a', '2'), fakeStats('a', 'x')];
  const names = (f: Parameters<typeof modelStatsJson>[1]): string[] =>
    modelStatsJson(all, f).model_stats.map((s) => `${s.name}:${s.version}`);
  assert.deepEqual(names({}), ['a:2', 'a:10', 'a:x', 'b:1']);
  assert.deepEqual(names(undefined), ['a:2', 'a:10', 'a:x', 'b:1']);
  assert.deepEqual(names({ name: 'a' }), ['a:2', 'a:10', 'a:x']);
  assert.deepEqual(names({ name: 'a', version: '10' }), ['a:10']);
  assert.deepEqual(names({ name: 'a', version: '3' }), [], 'no such version: empty (the route answers 404)');
  assert.deepEqual(names({ name: 'c' }), []);
  assert.deepEqual(
    all.map((s) => s.version),
    ['1', '10', '2', 'x'],
    'the input is not reordered',
  );
});

test('every refusal and expiry counts as a failure; durations are whole ns; counts never negative', () => {
  const queueUs = newBucketHistogram(kLatencyUsBuckets);
  observeBucket(queueUs, 1.5);
  observeBucket(queueUs, 0.0004);
  const s = fakeStats('m', '1', {
    scheduler: {
      inFlightQueryCount: 3,
      batchDoneCount: 0,
      expiredCount: { deadline: 1, replica_failed: 2, shutdown: 4 },
      rejectedCount: { queue_full: 8, deadline_unreachable: 16, no_replica: 32 },
    },
    queueUs,
    modelErrorCount: 64,
  });
  const stat = modelStatsJson([s]).model_stats[0]!;
  assert.equal(stat.inference_stats.fail.count, 127);
  assert.deepEqual(stat.inference_stats.queue, { count: 2, ns: 1500 });
  assert.ok(Number.isInteger(stat.inference_stats.queue.ns));
  assert.equal(stat.inference_count, 0, 'in flight exceeds sent in a racy snapshot: clamped to 0');
  assert.equal(stat.execution_count, 0);
});

test('the response is JSON in Triton shape', () => {
  const text = JSON.stringify(modelStatsJson([fakeStats('m', '1')]));
  const parsed = JSON.parse(text) as { model_stats: Array<Record<string, unknown>> };
  assert.deepEqual(Object.keys(parsed.model_stats[0]!), [
    'name',
    'version',
    'last_inference',
    'inference_count',
    'execution_count',
    'inference_stats',
    'batch_stats',
  ]);
  assert.deepEqual(Object.keys(parsed.model_stats[0]!.inference_stats as object), [
    'success',
    'fail',
    'queue',
    'compute_input',
    'compute_infer',
    'compute_output',
    'cache_hit',
  ]);
});
