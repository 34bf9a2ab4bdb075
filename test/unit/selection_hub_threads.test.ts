// SelectionHub's end for frontend threads (src/selection/selection_hub.ts): descriptors of its app
// selections, users' probabilities told to listeners, requests and feedback by app and generation
// (a stale generation refused). This test plays the selection worker on the hub's worker port.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessagePort } from 'node:worker_threads';
import type { ClipperError } from '../../src/errors.js';
import { errorReply } from '../../src/http/reply.js';
import { newAppStats } from '../../src/query/app_route.js';
import { SelectionHub } from '../../src/selection/selection_hub.js';
import type { SelectionEvent, SelectionRequest } from '../../src/selection/selection_messages.js';
import { MemoryStateStore } from '../../src/state/memory_store.js';
import { appRecord } from '../helpers/cluster.js';

function hubWithWorker(): { hub: SelectionHub; got: SelectionRequest[]; send(event: SelectionEvent): void; worker: MessagePort } {
  const hub = new SelectionHub(new MemoryStateStore(), { detachedStats: newAppStats }, { seed: 1, userEntriesMax: 8 });
  const worker = hub.workerPort;
  const got: SelectionRequest[] = [];
  worker.on('message', (msg: SelectionRequest) => got.push(msg));
  return { hub, got, send: (event) => worker.postMessage(event), worker };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(check(), 'condition not reached');
}

const placements = [
  { workerIndex: 0, modelIndex: 1 },
  { workerIndex: 0, modelIndex: 2 },
];

test('a descriptor per app with a selection; it follows the generation and goes with the app', () => {
  const { hub, worker } = hubWithWorker();
  const app = appRecord('a', 'doubles', ['m1', 'm2'], { selection_policy: 'exp3', policy_params: { personalized: true } });
  const sel = hub.route(app, placements)!;
  const [d] = hub.descriptors();
  assert.equal(hub.descriptors().length, 1);
  assert.equal(d!.app, 'a');
  assert.equal(d!.generation, sel.generation);
  assert.equal(d!.signature, sel.signature);
  assert.deepEqual(d!.models, ['m1', 'm2']);
  assert.equal(d!.mode, sel.mode);
  assert.equal(d!.userEntriesMax, 8);
  assert.ok(d!.sab instanceof SharedArrayBuffer);
  const again = hub.route(appRecord('a', 'doubles', ['m1', 'm2'], { selection_policy: 'epsilon_greedy' }), placements)!;
  assert.notEqual(again.generation, sel.generation);
  assert.equal(hub.descriptors()[0]!.generation, again.generation, 'a new policy: a new descriptor');
  hub.route(appRecord('a', 'doubles', ['m1']), [placements[0]!]);
  assert.deepEqual(hub.descriptors(), [], 'one linked model: no selection');
  worker.close();
});

test("users' probabilities reach the listeners; requests and feedback go to the worker by app and generation", async (t) => {
  const { hub, got, send, worker } = hubWithWorker();
  t.after(() => worker.close());
  const app = appRecord('a', 'doubles', ['m1', 'm2'], { selection_policy: 'exp3', policy_params: { personalized: true } });
  const sel = hub.route(app, placements)!;
  const heard: unknown[][] = [];
  hub.onUserProbs((...args) => heard.push(args));
  hub.requestUser('a', sel.generation, 'u1');
  await until(() => got.some((m) => m.kind === 'user_probs'));
  assert.deepEqual(
    got.find((m) => m.kind === 'user_probs'),
    { kind: 'user_probs', app: 'a', generation: sel.generation, uid: 'u1' },
  );
  send({ kind: 'user_probs', app: 'a', generation: sel.generation, uid: 'u1', probs: [0.2, 0.8] });
  send({ kind: 'user_probs', app: 'a', generation: sel.generation + 99, uid: 'u2', probs: [0.5, 0.5] });
  await until(() => heard.length >= 1);
  const done = hub.feedbackFor('a', sel.generation, 'u1', [0, null], 1);
  await until(() => got.some((m) => m.kind === 'feedback'));
  const fb = got.find((m) => m.kind === 'feedback') as Extract<SelectionRequest, { kind: 'feedback' }>;
  assert.deepEqual([fb.app, fb.generation, fb.uid, fb.losses, fb.chosen], ['a', sel.generation, 'u1', [0, null], 1]);
  send({ kind: 'feedback_done', requestId: fb.requestId, error: null, userProbs: [0.3, 0.7] });
  await done;
  assert.deepEqual(heard, [
    ['a', sel.generation, 'u1', [0.2, 0.8]],
    ['a', sel.generation, 'u1', [0.3, 0.7]],
  ]);
});

test('feedback for an app without a selection, or of an older generation, is refused as retryable: 503, Retry-After 0', async () => {
  const { hub, got, worker } = hubWithWorker();
  const sel = hub.route(appRecord('a', 'doubles', ['m1', 'm2'], { selection_policy: 'exp3' }), placements)!;
  const retryable = (err: ClipperError): boolean => {
    const reply = errorReply(err);
    return (
      reply.status === 503 &&
      reply.headers?.['Retry-After'] === '0' &&
      /selection changed .*while this feedback was on its way; send it again/.test(err.message)
    );
  };
  await assert.rejects(hub.feedbackFor('b', 1, null, [0, 1], null), retryable);
  await assert.rejects(hub.feedbackFor('a', sel.generation - 1, null, [0, 1], null), retryable);
  assert.equal(hub.stats.feedbacks, 0, 'nothing reached the worker');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(
    got.some((m) => m.kind === 'feedback'),
    false,
  );
  worker.close();
});
