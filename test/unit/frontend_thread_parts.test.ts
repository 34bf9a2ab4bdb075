// A frontend thread's parts alone, in this thread: its asks to main (frontend_thread/main_asks.ts) on
// a simulated clock, and its selection and feedback relay (frontend_thread/thread_selection.ts) with
// the events it would post to main collected in an array.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appRecordOf } from '../../src/admin/deploy_local.js';
import { ClipperError, toWireError } from '../../src/errors.js';
import { kAskTimeoutMs, MainAsks } from '../../src/frontend_thread/main_asks.js';
import type { FrontendEvent, SelectionDescriptor } from '../../src/frontend_thread/messages.js';
import { ThreadSelection } from '../../src/frontend_thread/thread_selection.js';
import { newAppStats } from '../../src/query/app_route.js';
import { parsePolicyConfig } from '../../src/selection/policies/params.js';
import { createPolicy } from '../../src/selection/policies/registry.js';
import { createSnapshotBuffer, SnapshotWriter } from '../../src/selection/weights_snapshot.js';
import { SimClock } from '../../sim/sim_clock.js';

function lastAsk(events: FrontendEvent[]): Extract<FrontendEvent, { kind: 'ask' }> {
  const event = events.at(-1);
  assert.equal(event?.kind, 'ask');
  return event as Extract<FrontendEvent, { kind: 'ask' }>;
}

test('asks: answered by requestId, checked for shape, failed after the timeout and at close', async () => {
  const clock = new SimClock();
  const events: FrontendEvent[] = [];
  const asks = new MainAsks((e) => events.push(e), clock);

  const text = asks.metricsText('openmetrics');
  const first = lastAsk(events);
  assert.deepEqual(first, { kind: 'ask', requestId: first.requestId, what: 'metrics_text', format: 'openmetrics' });
  const json = asks.metricsJson();
  const second = lastAsk(events);
  assert.notEqual(second.requestId, first.requestId);
  // Answers may come in any order: each goes to its own request.
  asks.onAnswer(second.requestId, '{"counters":[]}', null);
  asks.onAnswer(first.requestId, { contentType: 'text/plain', body: 'x 1\n' }, null);
  assert.deepEqual(await text, { contentType: 'text/plain', body: 'x 1\n' });
  assert.equal(await json, '{"counters":[]}');

  const wrong = asks.actorStats();
  asks.onAnswer(lastAsk(events).requestId, { not: 'an array' }, null);
  await assert.rejects(wrong, (err: ClipperError) => err.code === 'CLP_ERR_INTERNAL' && /wrong shape/.test(err.message));

  const failed = asks.metricsJson();
  asks.onAnswer(lastAsk(events).requestId, null, toWireError(new ClipperError('CLP_ERR_STATE_UNAVAILABLE', 'store down')));
  await assert.rejects(failed, (err: ClipperError) => err.code === 'CLP_ERR_STATE_UNAVAILABLE' && err.status === 503);

  const late = asks.metricsJson();
  const lateId = lastAsk(events).requestId;
  clock.advanceBy(kAskTimeoutMs);
  await assert.rejects(late, /did not answer \(metrics_json\)/);
  asks.onAnswer(lateId, 'too late', null); // dropped: nothing left to answer
  assert.equal(clock.pendingTimerCount, 0);

  const open = asks.metricsJson();
  asks.close();
  await assert.rejects(open, /shutting down/);
  await assert.rejects(asks.actorStats(), /shutting down/);
  assert.equal(clock.pendingTimerCount, 0, 'no timer outlives its ask');
});

function descriptorOf(app: string, generation: number, policy: string, params: Record<string, unknown>): SelectionDescriptor {
  const config = parsePolicyConfig(policy, params, 2);
  const sab = createSnapshotBuffer(2);
  const initial = createPolicy(config, 2);
  new SnapshotWriter(sab).publish(initial.snapshot(), initial.mode);
  const models = ['a', 'b'];
  return { app, generation, signature: JSON.stringify([policy, params]), config, mode: initial.mode, models, sab, userEntriesMax: 8 };
}

test('selection: one AppSelection per generation over main’s buffer; users and feedback go through main', async () => {
  const events: FrontendEvent[] = [];
  const sel = new ThreadSelection({ seed: 3, post: (e) => events.push(e), memberStats: newAppStats });
  const app = appRecordOf('pick', 'doubles', ['a', 'b'], { selection_policy: 'exp3', policy_params: { personalized: true } });
  assert.equal(sel.route(app, [null, null]), null, 'no descriptor: the one-model path');

  sel.setDescriptors([descriptorOf('pick', 4, 'exp3', { personalized: true })]);
  const s4 = sel.route(app, [null, null]);
  assert.ok(s4 !== null);
  assert.equal(s4.generation, 4);
  assert.equal(sel.route(app, [{ workerIndex: 0, modelIndex: 9 }, null]), s4, 'the same generation keeps its selection (and its users)');
  assert.deepEqual(s4.placements, [{ workerIndex: 0, modelIndex: 9 }, null], 'with the new placements');

  // An unknown user is asked of main once; its probabilities then decide its model.
  s4.pick('ann');
  s4.pick('ann');
  assert.deepEqual(
    events.filter((e) => e.kind === 'user_probs_request'),
    [{ kind: 'user_probs_request', app: 'pick', generation: 4, uid: 'ann' }],
  );
  sel.setUser('pick', 4, 'ann', [0, 1]);
  sel.setUser('pick', 3, 'bob', [1, 0]); // an older generation: ignored
  for (let i = 0; i < 20; i++) assert.equal(s4.pick('ann'), 1);
  assert.equal(s4.userCount, 1);

  const done = sel.feedback(s4, 'ann', Float64Array.from([Number.NaN, 0.25]), 1);
  const posted = events.at(-1);
  assert.ok(posted?.kind === 'feedback');
  assert.deepEqual(posted, {
    kind: 'feedback',
    requestId: posted.requestId,
    app: 'pick',
    generation: 4,
    uid: 'ann',
    losses: [null, 0.25],
    chosen: 1,
  });
  sel.onFeedbackDone(posted.requestId, null);
  await done;

  const refused = sel.feedback(s4, null, Float64Array.from([0, 0]), null);
  const refusedEvent = events.at(-1) as Extract<FrontendEvent, { kind: 'feedback' }>;
  sel.onFeedbackDone(refusedEvent.requestId, 'generation 4 is gone');
  await assert.rejects(refused, (err: ClipperError) => err.code === 'CLP_ERR_QUERY_PROCESSING' && err.status === 400);

  sel.setDescriptors([descriptorOf('pick', 5, 'exp3', { personalized: true })]);
  const s5 = sel.route(app, [null, null]);
  assert.ok(s5 !== null && s5 !== s4 && s5.generation === 5, 'a new generation: a fresh selection');
  sel.setDescriptors([]);
  assert.equal(sel.route(app, [null, null]), null);

  // Main's hub refuses a feedback of a generation it no longer has with a retryable error: its code crosses.
  const retry = sel.feedback(s5, null, Float64Array.from([0, 0]), 0);
  const retryEvent = events.at(-1) as Extract<FrontendEvent, { kind: 'feedback' }>;
  sel.onFeedbackDone(retryEvent.requestId, toWireError(new ClipperError('CLP_ERR_OVERLOADED', 'selection changed', { retryAfterS: 0 })));
  await assert.rejects(retry, (err: ClipperError) => err.status === 503 && err.details?.retryAfterS === 0);

  const pending = sel.feedback(s5, null, Float64Array.from([0, 0]), 0);
  assert.equal(events.at(-1)?.kind, 'feedback', 'posted to main, waiting for its answer');
  sel.close();
  await assert.rejects(pending, /shutting down/);
  await assert.rejects(sel.feedback(s5, null, Float64Array.from([0, 0]), 0), /shutting down/);
});
