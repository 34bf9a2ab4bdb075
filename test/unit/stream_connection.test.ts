// One WebSocket stream connection (StreamConnection) against the real query core, a fake batching
// pool, a simulated clock and a fake socket: answers matched to their message by id in any order,
// batches assembled in input order, the in-flight limit, slot reuse, and close (cancel) including
// the case where cancelling a cache owner answers a waiter of the same connection at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack, unpack } from 'msgpackr';
import type { WebSocket } from 'uWebSockets.js';
import { DefaultReason, ReplyStatus } from '../../src/ipc/records.js';
import { type ConnData, StreamConnection } from '../../src/frontend/stream_connection.js';
import { kStreamDefaults, type StreamLimits } from '../../src/frontend/stream_limits.js';
import { kExplainSlo } from '../../src/query/explanations.js';
import { QueryPipeline } from '../../src/query/pipeline.js';
import { QueryProcessor } from '../../src/query/query_processor.js';
import { SimClock } from '../../sim/sim_clock.js';
import { FakeBatchingPort, kPlacementA, testRoute } from '../helpers/fake_batching.js';

/** The part of a uWS socket a connection uses: records what it sends. */
class FakeSocket {
  readonly sent: Array<{ frame: string | Uint8Array; binary: boolean }> = [];
  bufferedBytes = 0;
  closedWith: number | null = null;
  conn: StreamConnection | null = null;

  cork(fn: () => void): void {
    fn();
  }

  send(frame: string | Uint8Array, binary: boolean): number {
    this.sent.push({ frame, binary });
    return 1;
  }

  getBufferedAmount(): number {
    return this.bufferedBytes;
  }

  end(code: number): void {
    this.closedWith = code;
    this.conn?.onClose(); // uWS calls the close handler synchronously
  }

  /** The text frames sent so far, parsed. */
  texts(): Array<Record<string, unknown>> {
    return this.sent.map((s) => JSON.parse(s.frame as string) as Record<string, unknown>);
  }
}

function harness(options: { cacheBytesMax?: number; limits?: Partial<StreamLimits> } = {}) {
  const clock = new SimClock(0);
  const pool = new FakeBatchingPort();
  const processor = new QueryProcessor({ pool, clock, cacheBytesMax: options.cacheBytesMax ?? 0 });
  const route = testRoute({ stats: processor.appStats('app') });
  const pipeline = new QueryPipeline({ processor, routes: new Map([['app', route]]), hub: null, sloMicrosMax: 1e7 });
  const conn = new StreamConnection('app', pipeline, { ...kStreamDefaults, ...options.limits });
  const ws = new FakeSocket();
  ws.conn = conn;
  conn.ws = ws as unknown as WebSocket<ConnData>;
  // Record the slot each input gets (the sink index the pipeline hands to the core).
  const slots: number[] = [];
  const indexFor = conn.indexFor.bind(conn);
  conn.indexFor = (pos: number): number => {
    const slot = indexFor(pos);
    slots.push(slot);
    return slot;
  };
  return { clock, pool, processor, conn, ws, slots };
}

function send(conn: StreamConnection, message: unknown): void {
  const bytes = Buffer.from(JSON.stringify(message));
  conn.onMessage(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer, false);
}

/** Let the connection's microtask flush run. */
function flushed(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

test('answers go out as they finish, in any order, each with its message id', async () => {
  const { pool, processor, conn, ws } = harness();
  send(conn, { id: 'first', input: [1] });
  send(conn, { id: 2, input: [2] });
  assert.equal(conn.inFlight, 2);
  const [a, b] = pool.written;
  processor.onReply(b!.token, ReplyStatus.Ok, DefaultReason.None, '"two"');
  await flushed();
  assert.deepEqual(
    ws.sent.map((s) => s.frame),
    ['{"id":2,"query_id":1,"output":"two","default":false}'],
  );
  processor.onReply(a!.token, ReplyStatus.Ok, DefaultReason.None, '"one"');
  await flushed();
  assert.equal(ws.sent[1]!.frame, '{"id":"first","query_id":0,"output":"one","default":false}');
  assert.equal(conn.inFlight, 0);
});

test('a binary message is answered in a binary frame with its id', async () => {
  const { pool, processor, conn, ws } = harness();
  const bytes = pack({ id: 9, input: [1] });
  conn.onMessage(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer, true);
  processor.onReply(pool.last().token, ReplyStatus.Ok, DefaultReason.None, '[3]');
  await flushed();
  assert.equal(ws.sent.length, 1);
  assert.equal(ws.sent[0]!.binary, true);
  assert.deepEqual(unpack(ws.sent[0]!.frame as Uint8Array), { id: 9, query_id: 0, output: [3], default: false });
});

test('a batch is sent once, when its last input is answered, in input order', async () => {
  const { clock, pool, processor, conn, ws } = harness();
  send(conn, { id: 7, input_batch: [[1], [2], [3]] });
  assert.equal(conn.inFlight, 3);
  const [q0, q1, q2] = pool.written;
  processor.onReply(q2!.token, ReplyStatus.Ok, DefaultReason.None, '"c"');
  processor.onReply(q0!.token, ReplyStatus.Ok, DefaultReason.None, '"a"');
  await flushed();
  assert.equal(ws.sent.length, 0, 'nothing is sent before the whole batch is in');
  assert.ok(q1 !== undefined);
  clock.advanceBy(100); // the middle one is answered at its deadline
  await flushed();
  assert.equal(
    ws.sent[0]!.frame,
    '{"id":7,"batch_predictions":[{"query_id":0,"output":"a","default":false},' +
      `{"query_id":1,"output":"dflt","default":true,"default_explanation":${JSON.stringify(kExplainSlo)}},` +
      '{"query_id":2,"output":"c","default":false}]}',
  );
  assert.equal(ws.sent.length, 1);
  assert.equal(conn.inFlight, 0);
});

test('over the in-flight limit a message gets an error frame and nothing is submitted', async () => {
  const { pool, conn, ws } = harness({ limits: { inFlightMax: 2 } });
  send(conn, { id: 'big', input_batch: [[1], [2], [3]] });
  send(conn, { id: 'ok', input_batch: [[1], [2]] });
  send(conn, { id: 'one-more', input: [3] });
  await flushed();
  assert.equal(pool.written.length, 2, 'only the batch that fits was submitted');
  assert.equal(conn.inFlight, 2);
  const frames = ws.texts();
  assert.deepEqual(
    frames.map((f) => [f.id, f.code]),
    [
      ['big', 'CLP_ERR_OVERLOADED'],
      ['one-more', 'CLP_ERR_OVERLOADED'],
    ],
  );
  assert.match(String(frames[0]!.cause), /limit of 2/);
});

test('a slot is reused once answered, and its answer carries the new id', async () => {
  const { pool, processor, conn, ws, slots } = harness();
  send(conn, { id: 'a', input: [1] });
  send(conn, { id: 'b', input: [2] });
  processor.onReply(pool.written[0]!.token, ReplyStatus.Ok, DefaultReason.None, '1');
  send(conn, { id: 'c', input_batch: [[3], [4]] });
  assert.deepEqual(slots, [0, 1, 0, 2], 'the answered slot 0 is taken again before a new one');
  processor.onReply(pool.written[2]!.token, ReplyStatus.Ok, DefaultReason.None, '3');
  processor.onReply(pool.written[3]!.token, ReplyStatus.Ok, DefaultReason.None, '4');
  processor.onReply(pool.written[1]!.token, ReplyStatus.Ok, DefaultReason.None, '2');
  await flushed();
  assert.deepEqual(
    ws.texts().map((f) => [f.id, f.output ?? (f.batch_predictions as Array<{ output: unknown }>).map((p) => p.output)]),
    [
      ['a', 1],
      ['c', [3, 4]],
      ['b', 2],
    ],
  );
  assert.equal(conn.inFlight, 0);
});

test('close cancels the open queries; their late replies send nothing', async () => {
  const { pool, processor, conn, ws } = harness();
  send(conn, { id: 1, input_batch: [[1], [2]] });
  send(conn, { id: 2, input: [3] });
  ws.end(1000);
  assert.equal(conn.inFlight, 0);
  assert.equal(processor.pendingCount, 0);
  assert.deepEqual(
    pool.cancelled.map((c) => c.token),
    pool.written.map((q) => q.token),
  );
  assert.equal(processor.counters.cancelled, 3);
  processor.onReply(pool.written[0]!.token, ReplyStatus.Ok, DefaultReason.None, '1');
  await flushed();
  assert.equal(ws.sent.length, 0);
});

test('close: cancelling a cache owner answers its waiter on the same connection once (full ring)', async () => {
  const { pool, processor, conn, ws } = harness({ cacheBytesMax: 1 << 20 });
  processor.cache.setEnabled(kPlacementA, true);
  send(conn, {
    id: 1,
    input_batch: [
      [1, 2],
      [1, 2],
    ],
  }); // an owner and a waiter on it
  assert.equal(pool.written.length, 1);
  assert.equal(conn.inFlight, 2);
  pool.full = true;
  conn.onClose(); // threw 'in-flight count never goes below zero' when the waiter's slot was released twice
  assert.equal(conn.inFlight, 0);
  assert.equal(processor.pendingCount, 0);
  assert.equal(processor.counters.cancelled, 1, 'the owner is cancelled');
  assert.equal(processor.counters.defaults, 1, 'the waiter, re-dispatched to a full ring, was shed');
  assert.equal(processor.counters.queries, processor.counters.answered + processor.counters.cancelled);
  await flushed();
  assert.equal(ws.sent.length, 0, 'a closed connection sends nothing');
});

test('close: cancelling a cache owner re-dispatches its waiter, which is cancelled too', () => {
  const { pool, processor, conn } = harness({ cacheBytesMax: 1 << 20 });
  send(conn, {
    id: 1,
    input_batch: [
      [1, 2],
      [1, 2],
    ],
  });
  conn.onClose();
  assert.equal(conn.inFlight, 0);
  assert.equal(processor.pendingCount, 0);
  assert.equal(processor.counters.cancelled, 2);
  assert.equal(pool.written.length, 2, 'the waiter went to the ring when its owner was cancelled');
  assert.deepEqual(
    pool.cancelled.map((c) => c.token),
    pool.written.map((q) => q.token),
  );
});
