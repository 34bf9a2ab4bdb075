// The Kubernetes container manager's writes when their answers are slow or lost, against the fake
// API server holding requests (test/helpers/fake_kube_faults.ts): a create that times out is
// cancelled, so it cannot land after its model is gone; a create that landed but whose answer was
// lost is read back and undone by the deploy's rollback; a frontend that steps down aborts its write
// in flight; one that closes lets its write end before it releases the Lease.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import { waitUntil } from '../helpers/cluster.js';
import { kBoundMs, modelRecord, startApi, startManager, deployFailed } from '../helpers/k8s_manager_harness.js';

const kDeployment = 'clipper-k8stest-m-1';

test('a create that gets no answer in time is cancelled: it never lands after its model was removed', async (t) => {
  const { api } = await startApi(t);
  const { manager } = await startManager(t, api, { requestTimeoutMs: 1000 });
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  // The API server is slow to take the create: it would handle it after 3 s.
  const held = api.delayRequests({ method: 'POST', resource: 'deployments' }, { delayMs: 3000, when: 'before' });
  await assert.rejects(
    manager.ensure(modelRecord('m', '1', 1)),
    deployFailed(new RegExp(`to create deployments "${kDeployment}" in namespace "default" \\(ETIMEDOUT: no answer within 1000 ms`)),
  );
  // What the admin API does after a failed add_model: the model goes.
  await manager.remove('m', '1');
  await waitUntil(() => held.outcomes.length === 1, kBoundMs, 'the held create to settle');
  assert.deepEqual(held.outcomes, ['dropped'], 'the request was cancelled, not left to the server');
  assert.deepEqual(api.objects('deployments'), [], 'no orphan Deployment');
});

test('a create that landed but whose answer was lost is read back, and the failed deploy deletes it', async (t) => {
  const { api } = await startApi(t);
  // No kubelet: no pod ever becomes ready, so the deploy fails by its timeout and rolls back.
  const { manager } = await startManager(t, api, { requestTimeoutMs: 1000, deployTimeoutMs: 2000 });
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  const late = api.delayRequests({ method: 'POST', resource: 'deployments' }, { delayMs: 3000, when: 'after' });
  await assert.rejects(
    manager.ensure(modelRecord('m', '1', 1)),
    deployFailed(
      new RegExp(
        `^0 of 1 replica\\(s\\) of model m:1 ready after 2 s: no pod of it exists.*; its Deployment ${kDeployment} was deleted \\(rolled back\\)$`,
      ),
    ),
  );
  assert.deepEqual(late.outcomes, ['handled']);
  assert.deepEqual(api.objects('deployments'), []);
  const reads = api.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/deployments/${kDeployment}`));
  assert.ok(reads.length >= 2, 'read before the create, and read back after it went unanswered');
});

test('a frontend that loses the Lease aborts its write in flight and writes nothing more', async (t) => {
  const { api } = await startApi(t);
  const { manager } = await startManager(t, api, { deployTimeoutMs: 3000 });
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  const held = api.delayRequests({ method: 'POST', resource: 'deployments' }, { delayMs: 4000, when: 'before' });
  const deployed = manager.ensure(modelRecord('m', '1', 1));
  await waitUntil(() => api.requests.some((r) => r.method === 'POST' && r.path.endsWith('/deployments')), kBoundMs, 'the create');
  // Another frontend takes the Lease (its clock its own): this one's next renewal conflicts and it follows.
  const lease = api.get('leases', 'default', 'clipper-k8stest-manager');
  api.upsert('leases', { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseDurationSeconds: 120 } });
  await waitUntil(() => !manager.isLeader, kBoundMs, 'the step-down');
  await assert.rejects(deployed, deployFailed(/does not exist \(the frontend holding the Lease, intruder, writes it\)$/));
  await waitUntil(() => held.outcomes.length === 1, kBoundMs, 'the held create to settle');
  assert.deepEqual(held.outcomes, ['dropped'], 'aborted when the lead was lost');
  await manager.remove('m', '1');
  assert.deepEqual(api.objects('deployments'), []);
  assert.equal(api.requests.filter((r) => r.method !== 'GET' && r.path.includes('/deployments')).length, 1, 'only the aborted create');
});

test('close() lets the write in flight end before it releases the Lease', async (t) => {
  const { api } = await startApi(t);
  const { manager } = await startManager(t, api);
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  const changes: string[] = [];
  const stop = api.onChange((type, resource, obj) => {
    if (resource === 'deployments') changes.push(`${type} deployment`);
    if (resource === 'leases' && !obj.spec?.holderIdentity) changes.push('lease released');
  });
  t.after(stop);
  api.delayRequests({ method: 'POST', resource: 'deployments' }, { delayMs: 1500, when: 'before' });
  // Settled into a value at once: it fails (closed) while close() is awaited.
  const deployed = manager.ensure(modelRecord('m', '1', 1)).then(
    () => null,
    (err: unknown) => err,
  );
  await waitUntil(() => api.requests.some((r) => r.method === 'POST' && r.path.endsWith('/deployments')), kBoundMs, 'the create');
  await manager.close();
  const failure = await deployed;
  assert.ok(failure instanceof ClipperError && /closed/.test(failure.message), String(failure));
  assert.deepEqual(changes, ['ADDED deployment', 'lease released']);
  assert.equal(api.objects('deployments').length, 1, 'the Deployment stays: replicas outlive frontends');
});
