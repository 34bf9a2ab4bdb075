// The dashboard's batch-mode action below the admin API: a running scheduler takes a new batch size
// (fixed ↔ adaptive) without losing a query, and Deployments hands a model's new batch_size to the
// pool, only when it changed, without placing the model again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimClock } from '../../sim/sim_clock.js';
import { nodeModelRecord } from '../../src/admin/deploy_local.js';
import { ModelScheduler } from '../../src/batching/model_scheduler.js';
import { Deployments, type ActorPool } from '../../src/control/deployments.js';

function scheduler(batchSize: number) {
  const clock = new SimClock(1000);
  const batches: number[][] = [];
  const s = new ModelScheduler<null>({ batchSize, latencyModel: { marginSigmaCount: 0 } }, clock, {
    sendBatch: (_replica, _batch, items) => batches.push(items.map((i) => i.token)),
    expire: () => assert.fail('no query expires'),
    reject: () => assert.fail('no query is refused'),
  });
  let token = 0;
  const enqueue = (n: number): void => {
    for (let i = 0; i < n; i++) s.enqueue({ token: ++token, deadlineMs: clock.nowMs() + 10_000, payload: null });
  };
  /** Answer every batch in flight, in order, after 1 ms each. */
  const answerAll = (): void => {
    for (let done = 0; done < 100 && s.openQueryCount > 0; done++) {
      clock.advanceBy(1);
      const last = s.stats().batchSentCount;
      s.onBatchDone(last);
    }
  };
  return { s, batches, enqueue, answerAll };
}

test('a fixed batch size set on a running scheduler shapes the next batches; in-flight ones finish', () => {
  const h = scheduler(8);
  h.s.addReplica(1);
  h.s.hold();
  h.enqueue(8);
  h.s.release();
  assert.deepEqual(
    h.batches.map((b) => b.length),
    [8],
  );
  h.enqueue(6); // queued behind the batch in flight
  h.s.setBatchSize(1);
  assert.equal(h.s.stats().replicas[0]!.batchSizeMax, 1, "the replica's controller is the new fixed size");
  h.answerAll();
  assert.deepEqual(
    h.batches.map((b) => b.length),
    [8, 1, 1, 1, 1, 1, 1],
    'after the change every batch has one query',
  );
  assert.equal(h.s.stats().sentQueryCount, 14, 'no query lost');

  h.s.setBatchSize(-1);
  assert.equal(h.s.options.batchSize, -1);
  h.enqueue(1);
  h.answerAll();
  assert.equal(h.batches.length, 8);
  assert.throws(() => h.s.setBatchSize(0), /batchSize/, 'a size the options refuse is refused');
  h.s.close();
});

test('Deployments tells the pool about a changed batch_size only, and keeps the placement', () => {
  const log: string[] = [];
  const pool: ActorPool = {
    addModel: (spec) => {
      log.push(`add ${spec.name} batch ${spec.scheduler.batchSize}`);
      return { workerIndex: 0, modelIndex: 1 };
    },
    removeModel: () => log.push('remove'),
    addReplica: () => {},
    removeReplica: () => {},
    setBatchSize: (p, size) => log.push(`batch #${p.modelIndex} ${size}`),
  };
  const d = new Deployments({
    pool,
    manager: { ensure: async () => {}, remove: async () => {}, list: () => [], logs: async () => [] },
    cache: { setEnabled: () => {}, forgetModel: () => {} },
    cacheOn: true,
    scheduler: {},
    onAppDeleted: () => {},
    onChanged: () => {},
  });
  const model = nodeModelRecord('m', '1', 'doubles', '/x.mjs', { container: null, num_replicas: 0 });
  d.apply({ kind: 'model_put', model });
  d.apply({ kind: 'model_put', model: { ...model, labels: ['x'] } });
  d.apply({ kind: 'model_put', model: { ...model, batch_size: 1 } });
  d.apply({ kind: 'model_put', model: { ...model, batch_size: 1, num_replicas: 0 } });
  d.apply({ kind: 'model_put', model: { ...model, batch_size: -1 } });
  assert.deepEqual(log, ['add m batch -1', 'batch #1 1', 'batch #1 -1']);
  d.close();
});
