// ModelActor against fakes: replica links that record what is sent and answer on demand, a reply
// sink that records answers, and a simulated clock. Covers batching, answers by token, cancel, no
// replica, a replica going down, a model error and the stats the metrics endpoint reads.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelActor, type ReplySink } from '../../src/batching/model_actor.js';
import type { ModelActorSpec } from '../../src/batching/protocol.js';
import type { ReplicaConnector, ReplicaLink, ReplicaLinkEvents } from '../../src/batching/replica_link.js';
import type { SchedulerOptions } from '../../src/batching/scheduler_options.js';
import type { InputType } from '../../src/input_types.js';
import { DefaultReason } from '../../src/ipc/records.js';
import type { PredictMessage } from '../../src/rpc/protocol.js';
import type { ReplicaAddress } from '../../src/rpc/replica_connection.js';
import { SimClock } from '../../sim/sim_clock.js';

class FakeLink implements ReplicaLink {
  readonly address: ReplicaAddress;
  readonly events: ReplicaLinkEvents;
  readonly sent: PredictMessage[] = [];
  readonly inFlight = new Set<number>();
  ready = false;
  closedReason: string | null = null;

  constructor(address: ReplicaAddress, events: ReplicaLinkEvents) {
    this.address = address;
    this.events = events;
  }

  send(message: PredictMessage): boolean {
    if (!this.ready) return false;
    this.sent.push(message);
    this.inFlight.add(message.id);
    return true;
  }

  reset(reason: string): void {
    this.down(reason);
  }

  close(reason = 'closed'): void {
    this.closedReason = reason;
    this.down(reason);
  }

  becomeReady(): void {
    this.ready = true;
    this.events.onReady();
  }

  down(reason: string): void {
    this.ready = false;
    const lost = [...this.inFlight];
    this.inFlight.clear();
    this.events.onDown(reason, lost);
  }

  answer(batchId: number, outputs: unknown[]): void {
    this.inFlight.delete(batchId);
    this.events.onResult(batchId, outputs);
  }

  lastBatch(): PredictMessage {
    const batch = this.sent.at(-1);
    assert.ok(batch !== undefined, 'a batch was sent');
    return batch;
  }
}

type Answer = { token: number; ok: true; json: string } | { token: number; ok: false; reason: DefaultReason; detail: string };

function harness(scheduler: Partial<SchedulerOptions> = {}, inputType: InputType = 'doubles') {
  const clock = new SimClock(1000);
  const links: FakeLink[] = [];
  const answers: Answer[] = [];
  const states: Array<[number, boolean, string]> = [];
  const io = { pulls: 0, rearms: 0 };
  const replies: ReplySink = {
    ok: (token, json) => answers.push({ token, ok: true, json }),
    fallback: (token, reason, detail = '') => answers.push({ token, ok: false, reason, detail }),
  };
  const connect: ReplicaConnector = (address, events) => {
    const link = new FakeLink(address, events);
    links.push(link);
    return link;
  };
  const spec: ModelActorSpec = {
    modelIndex: 3,
    name: 'm',
    version: '2',
    inputType,
    scheduler: { batchSize: 8, inFlightPerReplica: 1, latencyModel: { marginSigmaCount: 0 }, ...scheduler },
  };
  const actor = new ModelActor(spec, {
    replies,
    connect,
    clock,
    io: {
      pull: () => {
        io.pulls++;
      },
      rearm: () => {
        io.rearms++;
      },
    },
    onReplicaState: (replicaId, connected, reason) => states.push([replicaId, connected, reason]),
  });
  const link = (i: number): FakeLink => {
    const l = links[i];
    assert.ok(l !== undefined, `link ${i} was opened`);
    return l;
  };
  const doubles = (...values: number[]): Buffer => {
    const b = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => {
      b.writeDoubleLE(v, i * 8);
    });
    return b;
  };
  return { clock, actor, links, link, answers, states, io, doubles };
}

test('a replica link is opened with the model, version, input type, address and the secret it must prove', () => {
  const { actor, link, states } = harness();
  const secret = new Uint8Array(32).fill(3);
  actor.addReplica(5, '127.0.0.1', 7000, secret);
  assert.deepEqual(link(0).address, {
    model: 'm',
    version: '2',
    inputType: 'doubles',
    replicaId: 5,
    host: '127.0.0.1',
    port: 7000,
    secret,
  });
  link(0).becomeReady();
  assert.deepEqual(states, [[5, true, '']]);
  actor.close();
});

test('queries enqueued while held go out as one batch; replies go to their tokens', () => {
  const { clock, actor, link, answers, io, doubles } = harness();
  actor.addReplica(1, 'h', 1);
  link(0).becomeReady();
  actor.hold();
  actor.enqueue(101, clock.nowMs() + 1000, 2, doubles(1, 2));
  actor.enqueue(102, clock.nowMs() + 1000, 1, doubles(3));
  actor.enqueue(103, clock.nowMs() + 1000, 1, doubles(4));
  assert.equal(link(0).sent.length, 0, 'nothing sent while held');
  actor.release();
  assert.equal(link(0).sent.length, 1);
  const batch = link(0).lastBatch();
  assert.equal(batch.type, 'doubles');
  assert.equal(batch.n, 3);
  assert.deepEqual(batch.lens, [2, 1, 1]);
  assert.deepEqual(Buffer.from(batch.data!), doubles(1, 2, 3, 4));
  const pullsBefore = io.pulls;
  link(0).answer(batch.id, [10, 'x', { a: 1 }]);
  assert.equal(io.pulls, pullsBefore + 1, 'the ring is pulled before the next batch forms');
  assert.deepEqual(answers, [
    { token: 101, ok: true, json: '10' },
    { token: 102, ok: true, json: '"x"' },
    { token: 103, ok: true, json: '{"a":1}' },
  ]);
  actor.close();
});

test('strings go out as items', () => {
  const { clock, actor, link } = harness({}, 'strings');
  actor.addReplica(1, 'h', 1);
  link(0).becomeReady();
  actor.enqueue(1, clock.nowMs() + 1000, 2, Buffer.from('hé', 'utf8'));
  assert.deepEqual(link(0).lastBatch().items, ['hé']);
  actor.close();
});

test('cancel drops a queued query: it is never sent nor answered', () => {
  const { clock, actor, link, answers, doubles } = harness();
  actor.addReplica(1, 'h', 1);
  link(0).becomeReady();
  actor.enqueue(1, clock.nowMs() + 1000, 1, doubles(1));
  const first = link(0).lastBatch();
  actor.enqueue(2, clock.nowMs() + 1000, 1, doubles(2));
  actor.enqueue(3, clock.nowMs() + 1000, 1, doubles(3));
  actor.cancel(2);
  link(0).answer(first.id, [1]);
  const second = link(0).lastBatch();
  assert.notEqual(second.id, first.id);
  assert.equal(second.n, 1);
  assert.deepEqual(Buffer.from(second.data!), doubles(3));
  link(0).answer(second.id, [3]);
  assert.deepEqual(
    answers.map((a) => a.token),
    [1, 3],
  );
  assert.equal(actor.stats().scheduler.expiredCount.cancelled, 1);
  actor.close();
});

test('overload: a query shed at arrival or dropped before its deadline is answered at once; one past its deadline is not', () => {
  const { clock, actor, link, answers, doubles } = harness({ batchSize: 1 });
  actor.addReplica(1, 'h', 1);
  link(0).becomeReady();
  actor.enqueue(1, clock.nowMs() + 1000, 1, doubles(1));
  clock.advanceBy(10);
  link(0).answer(link(0).lastBatch().id, [1]); // a batch takes 10 ms
  actor.enqueue(2, clock.nowMs() + 1000, 1, doubles(2)); // sent at once
  assert.equal(actor.wantsWake(), false, 'replica busy, nothing shed: new queries can wait in the ring');
  actor.enqueue(3, clock.nowMs() + 15, 1, doubles(3)); // the replica frees in 10 ms, then 10 more: shed now
  assert.deepEqual(answers.at(-1), { token: 3, ok: false, reason: DefaultReason.DeadlineUnreachable, detail: '' });
  assert.equal(actor.wantsWake(), true, 'shedding: each arrival must be seen (and refused) at once');
  actor.enqueue(4, clock.nowMs() + 25, 1, doubles(4)); // fits: admitted
  actor.enqueue(5, clock.nowMs() + 40, 1, doubles(5)); // fits behind it: admitted
  assert.equal(answers.length, 2);
  clock.advanceBy(20); // the batch in flight is slow: 5 ms left for token 4, a batch now predicted at 15
  link(0).answer(link(0).lastBatch().id, [2]);
  assert.deepEqual(answers.at(-2), { token: 4, ok: false, reason: DefaultReason.DeadlineUnreachable, detail: '' });
  assert.equal(link(0).lastBatch().n, 1); // token 5 went out instead
  actor.enqueue(6, clock.nowMs() + 40, 1, doubles(6)); // fits behind token 5: admitted
  clock.advanceBy(50); // the replica hangs past token 6's deadline: it expires in the queue
  link(0).answer(link(0).lastBatch().id, [5]);
  // Token 6 gets no reply from the worker: its deadline has come, the frontend answers it then.
  assert.deepEqual(
    answers.map((a) => [a.token, a.ok]),
    [
      [1, true],
      [3, false],
      [4, false],
      [2, true],
      [5, true],
    ],
  );
  assert.equal(actor.stats().scheduler.rejectedCount.deadline_unreachable, 1);
  assert.equal(actor.stats().scheduler.expiredCount.deadline, 2);
  actor.close();
});

test('an SLO shorter than the measured latency of one query, replica idle: answered at once SloInfeasible, not shed', () => {
  const { clock, actor, link, answers, doubles } = harness({ batchSize: 1 });
  actor.addReplica(1, 'h', 1);
  link(0).becomeReady();
  actor.enqueue(1, clock.nowMs() + 1000, 1, doubles(1));
  clock.advanceBy(200);
  link(0).answer(link(0).lastBatch().id, [1]); // one query takes 200 ms
  actor.enqueue(2, clock.nowMs() + 100, 1, doubles(2)); // idle replica, empty queue, a 100 ms SLO
  assert.deepEqual(answers.at(-1), { token: 2, ok: false, reason: DefaultReason.SloInfeasible, detail: '' });
  assert.equal(link(0).sent.length, 1, 'never sent');
  actor.close();
});

test('with no ready replica a query is answered at once with the default, reason NoReplica', () => {
  const { clock, actor, link, answers, doubles } = harness();
  actor.enqueue(7, clock.nowMs() + 1000, 1, doubles(1));
  actor.addReplica(1, 'h', 1);
  actor.enqueue(8, clock.nowMs() + 1000, 1, doubles(1));
  assert.equal(link(0).sent.length, 0);
  assert.deepEqual(answers, [
    { token: 7, ok: false, reason: DefaultReason.NoReplica, detail: '' },
    { token: 8, ok: false, reason: DefaultReason.NoReplica, detail: '' },
  ]);
  actor.close();
});

test('a replica that goes down loses its batch: answered with ReplicaFailed when no retry is left', () => {
  const { clock, actor, link, answers, states, doubles } = harness({ retryMax: 0 });
  actor.addReplica(1, 'h', 1);
  link(0).becomeReady();
  actor.enqueue(1, clock.nowMs() + 1000, 1, doubles(1));
  actor.enqueue(2, clock.nowMs() + 1000, 1, doubles(2));
  assert.equal(link(0).sent.length, 1);
  link(0).down('socket closed');
  assert.deepEqual(states.at(-1), [1, false, 'socket closed']);
  assert.deepEqual(
    answers.map((a) => [a.token, a.ok ? 'ok' : a.reason]),
    [[1, DefaultReason.ReplicaFailed]],
  );
  assert.equal(actor.stats().scheduler.queuedCount, 1, 'the query not yet sent waits for a replica');
  actor.close();
  assert.deepEqual(
    answers.map((a) => [a.token, a.ok ? 'ok' : a.reason]),
    [
      [1, DefaultReason.ReplicaFailed],
      [2, DefaultReason.NoReplica],
    ],
    'close answers what is still queued',
  );
});

test('a batch lost with retries left goes to the next replica', () => {
  const { clock, actor, link, answers, doubles } = harness({ retryMax: 1 });
  actor.addReplica(1, 'h', 1);
  actor.addReplica(2, 'h', 2);
  link(0).becomeReady();
  actor.enqueue(1, clock.nowMs() + 1000, 1, doubles(1));
  assert.equal(link(0).sent.length, 1);
  link(1).becomeReady();
  link(0).down('reset');
  const resent = link(1).lastBatch();
  assert.equal(resent.n, 1);
  link(1).answer(resent.id, [42]);
  assert.deepEqual(answers, [{ token: 1, ok: true, json: '42' }]);
  actor.close();
});

test('a batch answered with the wrong number of outputs is a model error for each of its queries', () => {
  const { clock, actor, link, answers, doubles } = harness();
  actor.addReplica(1, 'h', 1);
  link(0).becomeReady();
  actor.hold();
  actor.enqueue(1, clock.nowMs() + 1000, 1, doubles(1));
  actor.enqueue(2, clock.nowMs() + 1000, 1, doubles(2));
  actor.release();
  link(0).answer(link(0).lastBatch().id, [1]);
  assert.deepEqual(
    answers.map((a) => [a.token, a.ok ? 'ok' : a.reason]),
    [
      [1, DefaultReason.ModelError],
      [2, DefaultReason.ModelError],
    ],
  );
  assert.match(answers[0]!.ok ? '' : answers[0]!.detail, /returned 1 outputs for a batch of 2/);
  assert.equal(actor.stats().modelErrorCount, 1);
  actor.close();
});

test('stats: batch sizes, queue time and round trip on the injected clock', () => {
  const { clock, actor, link, doubles } = harness();
  actor.addReplica(1, 'h', 1);
  link(0).becomeReady();
  actor.enqueue(1, clock.nowMs() + 1000, 1, doubles(1));
  const first = link(0).lastBatch();
  actor.hold();
  actor.enqueue(2, clock.nowMs() + 1000, 1, doubles(2));
  actor.enqueue(3, clock.nowMs() + 1000, 1, doubles(3));
  actor.release();
  clock.advanceBy(3);
  link(0).answer(first.id, [1]);
  const second = link(0).lastBatch();
  clock.advanceBy(2);
  link(0).answer(second.id, [2, 3]);
  const stats = actor.stats();
  assert.deepEqual([stats.modelIndex, stats.name, stats.version], [3, 'm', '2']);
  const count = (h: { counts: number[] }): number => h.counts.reduce((a, b) => a + b, 0);
  assert.equal(count(stats.batchSize), 2);
  assert.equal(stats.batchSize.sum, 3);
  assert.equal(count(stats.queueUs), 3);
  assert.equal(stats.queueUs.max, 3000, 'queries 2 and 3 waited 3 ms for the replica');
  assert.deepEqual([stats.batchLatencyUs.min, stats.batchLatencyUs.max], [2000, 3000]);
  assert.equal(stats.scheduler.batchDoneCount, 2);
  assert.equal(stats.scheduler.sentQueryCount, 3);
  assert.ok(actor.expectsAnswerWithinUs(1), 'nothing in flight');
  actor.close();
});

test('close closes every replica link and reports it down', () => {
  const { actor, link, states } = harness();
  actor.addReplica(1, 'h', 1);
  actor.addReplica(2, 'h', 2);
  link(0).becomeReady();
  actor.removeReplica(2);
  assert.equal(link(1).closedReason, 'replica removed');
  actor.close();
  assert.equal(link(0).closedReason, 'replica removed');
  assert.deepEqual(states, [
    [1, true, ''],
    [2, false, 'replica removed'],
    [1, false, 'replica removed'],
  ]);
});
