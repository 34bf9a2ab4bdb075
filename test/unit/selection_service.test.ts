// SelectionService (the selection worker's handlers) driven directly, without a thread or a port:
// configure publishes a snapshot and asks the store for saved state, a matching saved state is
// restored, feedback updates and saves the policy, stale feedback is refused, stop waits for saves.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicyConfig } from '../../src/selection/policies/params.js';
import { createPolicy } from '../../src/selection/policies/registry.js';
import type { AppPolicySpec, SelectionEvent } from '../../src/selection/selection_messages.js';
import { SelectionService, wrapState } from '../../src/selection/selection_service.js';
import { createSnapshotBuffer, SnapshotReader } from '../../src/selection/weights_snapshot.js';

const kModels = ['a', 'b', 'c'];

function harness() {
  const events: SelectionEvent[] = [];
  let stopped = false;
  const service = new SelectionService(
    (e) => events.push(e),
    () => {
      stopped = true;
    },
  );
  const sab = createSnapshotBuffer(kModels.length);
  const spec: AppPolicySpec = { app: 'app', generation: 1, policy: 'exp3', params: undefined, models: kModels, sab, userEntriesMax: 10 };
  const reader = new SnapshotReader(sab);
  const snapshot = (): number[] => {
    const into = new Float64Array(kModels.length);
    assert.equal(reader.read(into), true);
    return Array.from(into);
  };
  /** The events posted since the last call. */
  const take = (): SelectionEvent[] => events.splice(0);
  return { service, spec, snapshot, take, stopped: () => stopped };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** An Exp3 state that learned models 0 and 1 lose (Exp3 learns from the chosen model's loss), serialised. */
function trainedState(): string {
  const policy = createPolicy(parsePolicyConfig('exp3', undefined, kModels.length), kModels.length);
  for (let i = 0; i < 50; i++) policy.observe({ uid: null, losses: Float64Array.of(1, 1, 0), chosen: i % 2 });
  return policy.serialize();
}

test('configure publishes a fresh snapshot, then restores a saved state made for the same models', async () => {
  const h = harness();
  h.service.handle({ kind: 'configure', spec: h.spec });
  const uniform = h.snapshot();
  assert.ok(
    uniform.every((p) => Math.abs(p - 1 / 3) < 1e-9),
    String(uniform),
  );
  const [load] = h.take();
  assert.deepEqual(load, { kind: 'store_load', requestId: 1, key: 'app' });
  h.service.handle({ kind: 'store_loaded', requestId: 1, value: wrapState(kModels, trainedState()), error: null });
  await settle();
  const restored = h.snapshot();
  assert.ok(restored[2]! > 0.5, `restored state favours model 2: ${restored}`);
  assert.deepEqual(h.take(), []);
});

test('a saved state made for other linked models is ignored', async () => {
  const h = harness();
  h.service.handle({ kind: 'configure', spec: h.spec });
  h.take();
  h.service.handle({ kind: 'store_loaded', requestId: 1, value: wrapState(['x', 'y', 'z'], trainedState()), error: null });
  await settle();
  assert.ok(h.snapshot().every((p) => Math.abs(p - 1 / 3) < 1e-9));
});

test('feedback updates the snapshot and saves; stale generations are refused; stop waits for saves', async () => {
  const h = harness();
  h.service.handle({ kind: 'configure', spec: h.spec });
  h.take();
  h.service.handle({ kind: 'store_loaded', requestId: 1, value: null, error: null });
  h.service.handle({ kind: 'feedback', requestId: 7, app: 'app', generation: 1, uid: null, losses: [1, 1, 0], chosen: 0 });
  await settle();
  const [save, done] = h.take();
  assert.deepEqual(done, { kind: 'feedback_done', requestId: 7, error: null, userProbs: null });
  assert.equal(save?.kind, 'store_save');
  const saveRequest = save as Extract<SelectionEvent, { kind: 'store_save' }>;
  assert.equal(saveRequest.key, 'app');
  assert.deepEqual((JSON.parse(saveRequest.value) as { models: string[] }).models, kModels);
  const probs = h.snapshot();
  assert.ok(probs[0]! < probs[2]!, `model 0 lost weight: ${probs}`);

  h.service.handle({ kind: 'feedback', requestId: 8, app: 'app', generation: 0, uid: null, losses: [0, 0, 0], chosen: 0 });
  await settle();
  const [stale] = h.take();
  assert.equal(stale?.kind, 'feedback_done');
  assert.match((stale as { error: string }).error, /reconfigured/);

  // The save is still in flight: stop answers only once it is done.
  h.service.handle({ kind: 'stop' });
  await settle();
  assert.deepEqual(h.take(), []);
  assert.equal(h.stopped(), false);
  h.service.handle({ kind: 'store_saved', requestId: saveRequest.requestId, error: null });
  await settle();
  assert.deepEqual(h.take(), [{ kind: 'stopped' }]);
  assert.equal(h.stopped(), true);
});
