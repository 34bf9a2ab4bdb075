// Deployments (src/admin/deployments.ts) against fakes of the batching pool, the container
// managers and the cache: state changes place and remove model actors, start and stop replicas,
// and a deploy completes once a batching worker reports a ready connection.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Placement } from '../../src/batching/protocol.js';
import type { ReplicaInfo } from '../../src/containers/container_manager.js';
import { ClipperError } from '../../src/errors.js';
import { Deployments, type ActorPool, type ModelCache, type ReplicaManager } from '../../src/control/deployments.js';
import { emptySnapshot, type AppRecord, type ModelRecord } from '../../src/state/records.js';

function model(version: string, extra: Partial<ModelRecord> = {}): ModelRecord {
  return {
    model_name: 'm',
    model_version: version,
    input_type: 'doubles',
    labels: [],
    container_name: 'node',
    model_data_path: '',
    batch_size: -1,
    container: { runtime: 'node', entry: 'm.js' },
    num_replicas: 1,
    ...extra,
  };
}

const kApp: AppRecord = {
  name: 'a',
  input_type: 'doubles',
  default_output: '-1',
  latency_slo_micros: 100_000,
  linked_models: ['m'],
  selection_policy: 'default',
  overload_response: 'status_429',
};

function harness() {
  const log: string[] = [];
  let nextIndex = 1;
  const pool: ActorPool = {
    addModel: (spec) => {
      log.push(`add ${spec.name}:${spec.version} batch ${spec.scheduler.batchSize}`);
      return { workerIndex: 0, modelIndex: nextIndex++ };
    },
    removeModel: (p) => log.push(`remove #${p.modelIndex}`),
    addReplica: (p, id) => log.push(`replica+ #${p.modelIndex}/${id}`),
    removeReplica: (p, id) => log.push(`replica- #${p.modelIndex}/${id}`),
    setBatchSize: (p, size) => log.push(`batch #${p.modelIndex} ${size}`),
  };
  const running: ReplicaInfo[] = [];
  const manager: ReplicaManager = {
    ensure: async (m) => {
      log.push(`ensure ${m.model_name}:${m.model_version} x${m.num_replicas}`);
    },
    remove: async (name, version) => {
      log.push(`stop ${name}:${version}`);
    },
    list: () => running,
    logs: async () => [],
  };
  const cacheOn = new Map<number, boolean>();
  const cache: ModelCache = { setEnabled: (p, on) => cacheOn.set(p.modelIndex, on), forgetModel: (p) => cacheOn.delete(p.modelIndex) };
  const changed: Array<ReadonlyMap<string, Placement>> = [];
  const deleted: string[] = [];
  const d = new Deployments({
    pool,
    manager,
    cache,
    cacheOn: true,
    scheduler: { queueBound: 10 },
    connectTimeoutMs: 50,
    onAppDeleted: (name) => deleted.push(name),
    onChanged: (_s, placements) => changed.push(new Map(placements)),
  });
  return { d, log, running, cacheOn, changed, deleted };
}

test('a model put places an actor, starts replicas and completes once a worker connects', async () => {
  const h = harness();
  h.d.apply({ kind: 'model_put', model: model('1', { batch_size: 8, cache_enabled: false }) });
  assert.deepEqual(h.log, ['add m:1 batch 8', 'ensure m:1 x1']);
  assert.equal(h.cacheOn.get(1), false, 'the model opted out of the cache');
  assert.deepEqual([...h.changed.at(-1)!.keys()], ['m:1']);
  let done = false;
  const deploy = h.d.waitForDeploy('m', '1').then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'not done before a ready connection');
  h.d.onReplicaStarted({ model: 'm', version: '1', replicaId: 0, host: '127.0.0.1', port: 1 });
  h.d.onReplicaState({ workerIndex: 0, modelIndex: 1 }, 0, true);
  await deploy;
  h.running.push({
    model: 'm',
    version: '1',
    replicaId: 0,
    host: '127.0.0.1',
    port: 1,
    state: 'running',
    pid: 1,
    restartCount: 0,
    manager: 'local',
    containerId: null,
    image: null,
    health: 'none',
  });
  assert.equal(h.d.replicas()[0]!.connected, true);
  h.d.close();
});

test('a deploy with no ready connection fails with CLP_ERR_DEPLOY_FAILED', async () => {
  const h = harness();
  h.d.apply({ kind: 'model_put', model: model('1') });
  await assert.rejects(h.d.waitForDeploy('m', '1'), (err: unknown) => err instanceof ClipperError && err.code === 'CLP_ERR_DEPLOY_FAILED');
  await assert.rejects(h.d.waitForDeploy('m', '9'), (err: unknown) => err instanceof ClipperError && err.code === 'CLP_ERR_NOT_FOUND');
  h.d.close();
});

test('deleting a model stops its replicas and removes its actor; deleting an app is reported', () => {
  const h = harness();
  h.d.apply({ kind: 'app_put', app: kApp });
  h.d.apply({ kind: 'model_put', model: model('1', { container: null }) });
  h.d.apply({ kind: 'model_deleted', name: 'm', version: '1' });
  h.d.apply({ kind: 'app_deleted', name: 'a' });
  assert.deepEqual(h.log, ['add m:1 batch -1', 'stop m:1', 'remove #1']);
  assert.deepEqual(h.deleted, ['a']);
  assert.equal(h.cacheOn.size, 0);
  assert.equal(h.changed.length, 4, 'routes follow every change');
  // A connection report for the removed actor is ignored.
  h.d.onReplicaState({ workerIndex: 0, modelIndex: 1 }, 0, true);
  h.d.close();
});

test('a resync removes the versions that are gone and keeps the ones that stay', () => {
  const h = harness();
  h.d.apply({ kind: 'model_put', model: model('1', { container: null }) });
  h.d.apply({ kind: 'model_put', model: model('2', { container: null }) });
  const next = emptySnapshot();
  next.models.set('m:2', model('2', { container: null }));
  h.d.apply({ kind: 'resync', snapshot: next });
  assert.deepEqual(h.log, ['add m:1 batch -1', 'add m:2 batch -1', 'stop m:1', 'remove #1']);
  assert.equal(h.d.snapshot(), next);
  assert.deepEqual([...h.d.wantedModels()], ['m:2']);
  h.d.close();
  h.d.apply({ kind: 'model_deleted', name: 'm', version: '2' });
  assert.equal(h.log.length, 4, 'closed: changes are ignored');
});
