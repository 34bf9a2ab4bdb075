import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplyWriter } from '../../src/batching/reply_writer.js';
import { DefaultReason, replyReason, ReplyStatus, replyStatus, replyText, replyToken } from '../../src/ipc/records.js';
import { createRing, RingConsumer, RingProducer } from '../../src/ipc/ring_buffer.js';

function drain(consumer: RingConsumer): Array<{ token: number; status: number; reason: number; text: string }> {
  const out: Array<{ token: number; status: number; reason: number; text: string }> = [];
  consumer.drain((body, bodyBytes, tag) =>
    out.push({
      token: replyToken(consumer, body),
      status: replyStatus(tag, bodyBytes),
      reason: replyReason(consumer, body),
      text: replyText(consumer, body, bodyBytes),
    }),
  );
  return out;
}

test('replies come out in order with status, reason and text', () => {
  const ring = createRing(64 * 1024);
  const writer = new ReplyWriter(new RingProducer(ring));
  writer.ok(1, '6.6');
  writer.fallback(2, DefaultReason.ModelError, 'boom');
  writer.flush();
  assert.deepEqual(drain(new RingConsumer(ring)), [
    { token: 1, status: ReplyStatus.Ok, reason: 0, text: '6.6' },
    { token: 2, status: ReplyStatus.Default, reason: DefaultReason.ModelError, text: 'boom' },
  ]);
  writer.close();
});

test('an output that can never fit the ring becomes a default reply instead of jamming the backlog', () => {
  const ring = createRing(1 << 20);
  const producer = new RingProducer(ring);
  const consumer = new RingConsumer(ring);
  const writer = new ReplyWriter(producer);
  // Every size around the limit, including those just inside a naive "8 + 3L > capacity/2" check.
  const limitChars = Math.floor((ring.capacityBytes / 2 - 16) / 3);
  for (let chars = limitChars - 3; chars <= limitChars + 3; chars++) {
    writer.ok(chars, 'x'.repeat(chars));
    writer.ok(7, '1');
    writer.flush();
    const replies = drain(consumer);
    assert.equal(writer.backlogCount, 0, `${chars} characters: nothing stuck in the backlog`);
    assert.deepEqual(
      replies.map((r) => r.token),
      [chars, 7],
      `${chars} characters: both replies delivered`,
    );
    assert.ok(replies[0]!.status === ReplyStatus.Ok || /exceeds the reply ring/.test(replies[0]!.text));
  }
  writer.close();
});

test('a full ring keeps replies in a backlog and delivers them, in order, once there is room', () => {
  const ring = createRing(4096);
  const consumer = new RingConsumer(ring);
  const writer = new ReplyWriter(new RingProducer(ring));
  for (let i = 0; i < 200; i++) writer.ok(i, `${i}`);
  writer.flush();
  assert.ok(writer.backlogCount > 0);
  const tokens: number[] = [];
  while (tokens.length < 200) {
    tokens.push(...drain(consumer).map((r) => r.token));
    writer.flush();
  }
  assert.deepEqual(
    tokens,
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.equal(writer.backlogCount, 0);
  writer.close();
});

test('a large ASCII output that fits the ring is delivered, not refused by the 3-bytes-per-character bound', () => {
  const ring = createRing(64 * 1024);
  const consumer = new RingConsumer(ring);
  const writer = new ReplyWriter(new RingProducer(ring));
  // 3 x 12 000 bytes exceeds half the ring (32 KiB), but 12 000 ASCII characters are 12 000 bytes.
  const text = `"${'a'.repeat(11_998)}"`;
  writer.ok(5, text);
  writer.flush();
  assert.deepEqual(drain(consumer), [{ token: 5, status: ReplyStatus.Ok, reason: DefaultReason.None, text }]);
  assert.equal(writer.backlogCount, 0);
  writer.close();
});

test('an output whose exact UTF-8 length exceeds the record limit becomes a default reply', () => {
  const ring = createRing(64 * 1024);
  const consumer = new RingConsumer(ring);
  const writer = new ReplyWriter(new RingProducer(ring));
  // 12 000 characters of 3 UTF-8 bytes each: 36 000 bytes, more than half the ring.
  writer.ok(6, '€'.repeat(12_000));
  writer.flush();
  const replies = drain(consumer);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.token, 6);
  assert.equal(replies[0]!.status, ReplyStatus.Default);
  assert.equal(replies[0]!.reason, DefaultReason.ModelError);
  assert.match(replies[0]!.text, /exceeds the reply ring/);
  writer.close();
});
