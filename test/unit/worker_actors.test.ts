// A batching worker's actor table (batching/worker_actors.ts) against a real query ring, real model
// actors and fake replica links: records reach the actor they name, a record for an unknown model
// is answered UnknownModel, one drain forms one batch, control messages add and remove actors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelActor, type ReplySink } from '../../src/batching/model_actor.js';
import type { ModelActorSpec } from '../../src/batching/protocol.js';
import type { ReplicaLinkEvents } from '../../src/batching/replica_link.js';
import { WorkerActors } from '../../src/batching/worker_actors.js';
import { InputTypeCode } from '../../src/input_types.js';
import { DefaultReason, encodeCancel, encodeNumericQuery, frontendTokenBase } from '../../src/ipc/records.js';
import { createRing, RingConsumer, RingProducer } from '../../src/ipc/ring_buffer.js';
import type { PredictMessage } from '../../src/rpc/protocol.js';
import { SimClock } from '../../sim/sim_clock.js';

/** `frontends`: query rings, one per frontend (producer is frontend 0's). */
function harness(frontends = 1) {
  const rings = Array.from({ length: frontends }, () => createRing(64 * 1024));
  const producers = rings.map((ring) => new RingProducer(ring));
  const producer = producers[0]!;
  const clock = new SimClock(1000);
  const answers: Array<[number, string | DefaultReason]> = [];
  const sent: PredictMessage[] = [];
  const linkEvents: ReplicaLinkEvents[] = [];
  const replies: ReplySink = {
    ok: (token, json) => answers.push([token, json]),
    fallback: (token, reason) => answers.push([token, reason]),
  };
  const newActor = (spec: ModelActorSpec): ModelActor =>
    new ModelActor(spec, {
      replies,
      clock,
      io: { pull: () => {}, rearm: () => {} },
      onReplicaState: () => {},
      connect: (_address, events) => {
        linkEvents.push(events);
        return {
          send: (m) => {
            sent.push(m);
            return true;
          },
          reset: () => {},
          close: () => {},
        };
      },
    });
  const actors = new WorkerActors(
    rings.map((ring) => new RingConsumer(ring)),
    replies,
    newActor,
  );
  const spec = (modelIndex: number): ModelActorSpec => ({
    modelIndex,
    name: `m${modelIndex}`,
    version: '1',
    inputType: 'doubles',
    scheduler: { batchSize: 8, latencyModel: { marginSigmaCount: 0 } },
  });
  return { producer, producers, clock, answers, sent, linkEvents, actors, spec };
}

test('one drain brings queries to their actor as one batch; unknown models are answered at once', () => {
  const { producer, clock, answers, sent, linkEvents, actors, spec } = harness();
  actors.control({ kind: 'add_model', spec: spec(1) });
  actors.control({ kind: 'add_replica', modelIndex: 1, replicaId: 1, host: 'h', port: 1 });
  linkEvents[0]!.onReady();
  const deadlineMs = clock.nowMs() + 1000;
  for (const token of [10, 11, 12]) encodeNumericQuery(producer, token, 1, deadlineMs, 0, InputTypeCode.Doubles, [token]);
  encodeNumericQuery(producer, 13, 2, deadlineMs, 0, InputTypeCode.Doubles, [13]);
  actors.drain();
  assert.equal(sent.length, 1, 'the drain formed one batch');
  assert.equal(sent[0]!.n, 3);
  assert.deepEqual(answers, [[13, DefaultReason.UnknownModel]]);
  linkEvents[0]!.onResult(sent[0]!.id, [1, 2, 3]);
  assert.deepEqual(answers.slice(1), [
    [10, '1'],
    [11, '2'],
    [12, '3'],
  ]);
  actors.closeAll();
});

test("a record's priority reaches the actor's scheduler: the more urgent query is batched first", () => {
  const { producer, clock, answers, sent, linkEvents, actors, spec } = harness();
  actors.control({ kind: 'add_model', spec: { ...spec(1), scheduler: { batchSize: 2, latencyModel: { marginSigmaCount: 0 } } } });
  actors.control({ kind: 'add_replica', modelIndex: 1, replicaId: 1, host: 'h', port: 1 });
  linkEvents[0]!.onReady();
  const deadlineMs = clock.nowMs() + 1000;
  encodeNumericQuery(producer, 10, 1, deadlineMs - 500, 0, InputTypeCode.Doubles, [10]);
  encodeNumericQuery(producer, 11, 1, deadlineMs - 400, 0, InputTypeCode.Doubles, [11]);
  encodeNumericQuery(producer, 12, 1, deadlineMs, 9, InputTypeCode.Doubles, [12]);
  actors.drain();
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.n, 2);
  linkEvents[0]!.onResult(sent[0]!.id, ['a', 'b']);
  assert.deepEqual(answers, [
    [12, '"a"'],
    [10, '"b"'],
  ]);
  actors.closeAll();
});

test('a cancel record drops the query it names from its actor', () => {
  const { producer, clock, sent, linkEvents, actors, spec } = harness();
  actors.control({ kind: 'add_model', spec: { ...spec(4), scheduler: { batchSize: 8, inFlightPerReplica: 1 } } });
  actors.control({ kind: 'add_replica', modelIndex: 4, replicaId: 1, host: 'h', port: 1 });
  linkEvents[0]!.onReady();
  const deadlineMs = clock.nowMs() + 1000;
  encodeNumericQuery(producer, 1, 4, deadlineMs, 0, InputTypeCode.Doubles, [1]);
  actors.drain();
  encodeNumericQuery(producer, 2, 4, deadlineMs, 0, InputTypeCode.Doubles, [2]);
  encodeNumericQuery(producer, 3, 4, deadlineMs, 0, InputTypeCode.Doubles, [3]);
  encodeCancel(producer, 2, 4);
  actors.drain();
  assert.deepEqual(
    actors.stats().map((s) => s.scheduler.queuedCount),
    [1],
  );
  linkEvents[0]!.onResult(sent[0]!.id, [1]);
  assert.equal(sent.length, 2);
  assert.equal(sent[1]!.n, 1);
  actors.closeAll();
});

test('models come and go by control message', () => {
  const { producer, clock, answers, actors, spec } = harness();
  actors.control({ kind: 'add_model', spec: spec(1) });
  actors.control({ kind: 'add_model', spec: spec(2) });
  assert.equal(actors.size, 2);
  actors.control({ kind: 'remove_model', modelIndex: 1 });
  assert.deepEqual(
    actors.stats().map((s) => s.modelIndex),
    [2],
  );
  actors.control({ kind: 'add_replica', modelIndex: 1, replicaId: 1, host: 'h', port: 1 });
  encodeNumericQuery(producer, 5, 1, clock.nowMs() + 1000, 0, InputTypeCode.Doubles, [1]);
  actors.drain();
  assert.deepEqual(answers, [[5, DefaultReason.UnknownModel]]);
  assert.throws(() => actors.control({ kind: 'add_model', spec: spec(0) }), /positive integer/);
  actors.closeAll();
  assert.equal(actors.size, 0);
});

test("one drain takes every frontend's query ring: their queries go out as one batch", () => {
  const { producers, clock, answers, sent, linkEvents, actors, spec } = harness(3);
  actors.control({ kind: 'add_model', spec: spec(1) });
  actors.control({ kind: 'add_replica', modelIndex: 1, replicaId: 1, host: 'h', port: 1 });
  linkEvents[0]!.onReady();
  const deadlineMs = clock.nowMs() + 1000;
  const frontends = [0, 2, 1];
  const tokens = frontends.map((frontend) => (frontendTokenBase(frontend) | 7) >>> 0);
  for (let i = 0; i < frontends.length; i++) {
    assert.ok(encodeNumericQuery(producers[frontends[i]!]!, tokens[i]!, 1, deadlineMs, 0, InputTypeCode.Doubles, [i]));
  }
  encodeCancel(producers[2]!, 99, 1);
  actors.drain();
  assert.equal(sent.length, 1, 'the drain formed one batch');
  assert.equal(sent[0]!.n, 3);
  linkEvents[0]!.onResult(sent[0]!.id, [10, 11, 12]);
  assert.deepEqual(
    answers.map(([token]) => token).sort((a, b) => a - b),
    [...tokens].sort((a, b) => a - b),
    "each frontend's token answered",
  );
  actors.closeAll();
});
