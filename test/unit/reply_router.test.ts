// A batching worker's reply routing (batching/reply_router.ts): each reply lands on the reply ring
// of the frontend its token names; flush and close reach every frontend's writer; a token of a
// frontend without a ring is an invariant failure, not a reply lost or sent to the wrong frontend.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplyRouter } from '../../src/batching/reply_router.js';
import { ReplyWriter } from '../../src/batching/reply_writer.js';
import { DefaultReason, frontendTokenBase, replyReason, ReplyStatus, replyStatus, replyText, replyToken } from '../../src/ipc/records.js';
import { createRing, RingConsumer, RingProducer, type RingBuffers } from '../../src/ipc/ring_buffer.js';

function drain(ring: RingBuffers): Array<[number, number, number, string]> {
  const consumer = new RingConsumer(ring);
  const out: Array<[number, number, number, string]> = [];
  consumer.drain((body, bodyBytes, tag) =>
    out.push([replyToken(consumer, body), replyStatus(tag, bodyBytes), replyReason(consumer, body), replyText(consumer, body, bodyBytes)]),
  );
  return out;
}

function harness(frontends: number, ringBytes = 64 * 1024) {
  const rings = Array.from({ length: frontends }, () => createRing(ringBytes));
  const writers = rings.map((ring) => new ReplyWriter(new RingProducer(ring)));
  return { rings, writers, router: new ReplyRouter(writers) };
}

test("each reply goes to the ring of its token's frontend, in order", () => {
  const { rings, router } = harness(3);
  const t = (frontend: number, counter: number): number => (frontendTokenBase(frontend) | counter) >>> 0;
  router.ok(t(2, 1), '"a"');
  router.ok(t(0, 1), '"b"');
  router.fallback(t(2, 2), DefaultReason.QueueFull, 'busy');
  router.fallback(t(0, 2), DefaultReason.NoReplica);
  router.flush();
  assert.deepEqual(drain(rings[0]!), [
    [t(0, 1), ReplyStatus.Ok, DefaultReason.None, '"b"'],
    [t(0, 2), ReplyStatus.Default, DefaultReason.NoReplica, ''],
  ]);
  assert.deepEqual(drain(rings[1]!), [], 'frontend 1 sent nothing');
  assert.deepEqual(drain(rings[2]!), [
    [t(2, 1), ReplyStatus.Ok, DefaultReason.None, '"a"'],
    [t(2, 2), ReplyStatus.Default, DefaultReason.QueueFull, 'busy'],
  ]);
  router.close();
});

test('a full ring backs up only its own frontend; flush delivers the backlog once there is room', () => {
  const { rings, writers, router } = harness(2, 1024);
  const backlog = (): number => writers[0]!.backlogCount + writers[1]!.backlogCount;
  const t1 = frontendTokenBase(1);
  const text = 'x'.repeat(200);
  let count = 0;
  while (backlog() === 0) router.ok((t1 | ++count) >>> 0, text);
  router.ok(7, '0');
  router.flush();
  assert.deepEqual(drain(rings[0]!), [[7, ReplyStatus.Ok, DefaultReason.None, '0']], 'frontend 0 is not held up');
  assert.equal(writers[1]!.backlogCount, 1);
  const first = drain(rings[1]!);
  router.flush();
  const second = drain(rings[1]!);
  assert.equal(backlog(), 0);
  assert.deepEqual(
    [...first, ...second].map(([token]) => token),
    Array.from({ length: count }, (_, i) => (t1 | (i + 1)) >>> 0),
  );
  router.close();
});

test('a token of a frontend with no reply ring is refused', () => {
  const { router } = harness(2);
  assert.throws(() => router.ok(frontendTokenBase(2) | 1, '1'), /frontend 2 has no reply ring/);
  assert.throws(() => router.fallback(frontendTokenBase(31), DefaultReason.ModelError), /frontend 31 has no reply ring/);
  assert.throws(() => new ReplyRouter([]), /at least one frontend/);
  router.close();
});
