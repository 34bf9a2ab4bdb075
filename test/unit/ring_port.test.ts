// A frontend's RingPort (batching/ring_port.ts) against a fake worker end in this thread: queries
// reach the right worker's query ring field by field (packed inputs too), replies written on the
// reply rings come back through the doorbells to onReply, close() takes what is left, and a token
// or placement that is not this frontend's is refused. The rings travel through a MessageChannel
// first, as they do to a frontend thread: the clone shares their memory.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { ReplyWriter } from '../../src/batching/reply_writer.js';
import { RingPort, type FrontendRings, type RingPortOptions } from '../../src/batching/ring_port.js';
import { InputTypeCode } from '../../src/input_types.js';
import {
  cancelToken,
  copyQueryPayload,
  DefaultReason,
  frontendTokenBase,
  isCancelRecord,
  queryCount,
  queryDeadlineMs,
  queryInputBytesMax,
  queryInputType,
  queryModelIndex,
  queryPriority,
  queryToken,
  ReplyStatus,
} from '../../src/ipc/records.js';
import { createBell, createRing, RingConsumer, RingProducer } from '../../src/ipc/ring_buffer.js';
import type { BatchingPort } from '../../src/query/ports.js';

const kRingBytes = 16 * 1024;
const kOptions: RingPortOptions = { ringBytes: kRingBytes, spinCount: 0, pollUs: 0, shouldPoll: () => false };

/** A frontend's rings as the pool makes them: its reply rings share one bell (one doorbell). */
function makeRings(frontendIndex: number, workers: number, ringBytes = kRingBytes): FrontendRings {
  const rings: FrontendRings = { frontendIndex, queryRings: [], replyRings: [] };
  const replyBell = createBell();
  for (let w = 0; w < workers; w++) {
    rings.queryRings.push(createRing(ringBytes));
    rings.replyRings.push(createRing(ringBytes, replyBell));
  }
  return rings;
}

/** The rings as another thread receives them: a structured clone over the same shared memory. */
async function cloned(rings: FrontendRings): Promise<FrontendRings> {
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<FrontendRings>((resolve) => port2.once('message', resolve));
  port1.postMessage(rings);
  const copy = await received;
  port1.close();
  port2.close();
  return copy;
}

/** One worker's end of one frontend's rings. */
class FakeWorker {
  readonly #queries: RingConsumer;
  readonly replies: ReplyWriter;

  constructor(rings: FrontendRings, workerIndex: number) {
    this.#queries = new RingConsumer(rings.queryRings[workerIndex]!);
    this.replies = new ReplyWriter(new RingProducer(rings.replyRings[workerIndex]!));
  }

  records(): unknown[] {
    const ring = this.#queries;
    const out: unknown[] = [];
    ring.drain((body, bodyBytes, tag) => {
      if (isCancelRecord(tag, bodyBytes)) {
        out.push({ cancel: cancelToken(ring, body) });
        return;
      }
      const payload = copyQueryPayload(ring, body, bodyBytes);
      const type = queryInputType(ring, body);
      const view = new Uint8Array(payload).buffer;
      out.push({
        token: queryToken(ring, body),
        modelIndex: queryModelIndex(ring, body),
        deadlineMs: queryDeadlineMs(ring, body),
        priority: queryPriority(ring, body),
        type,
        count: queryCount(ring, body),
        values:
          type === InputTypeCode.Doubles
            ? [...new Float64Array(view)]
            : type === InputTypeCode.Integers
              ? [...new Int32Array(view)]
              : type === InputTypeCode.Floats
                ? [...new Float32Array(view)]
                : payload.toString('utf8'),
      });
    });
    return out;
  }
}

interface Reply {
  token: number;
  status: ReplyStatus;
  reason: DefaultReason;
  text: string;
}

async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}

test('queries reach the placement’s worker ring; its replies come back to onReply', async () => {
  const rings = makeRings(3, 2);
  const replies: Reply[] = [];
  const port = new RingPort(await cloned(rings), kOptions, (token, status, reason, text) => replies.push({ token, status, reason, text }));
  port.start();
  // A query core takes a RingPort as its pool (compile-time check of the contract).
  const asPort: BatchingPort = port;
  assert.equal(asPort.inputBytesMax, queryInputBytesMax(kRingBytes));
  const workers = [new FakeWorker(rings, 0), new FakeWorker(rings, 1)];
  const t = (counter: number): number => (frontendTokenBase(3) | counter) >>> 0;
  assert.equal(port.frontendIndex, 3);
  assert.ok(port.submitNumeric({ workerIndex: 1, modelIndex: 4 }, t(1), 500.5, 2, InputTypeCode.Doubles, new Float64Array([1.5, -2])));
  assert.ok(port.submitNumeric({ workerIndex: 1, modelIndex: 4 }, t(2), 600, 0, InputTypeCode.Integers, [7, 8, 9]));
  assert.ok(port.submitBytes({ workerIndex: 0, modelIndex: 5 }, t(3), 700, 15, InputTypeCode.Strings, 'héllo'));
  port.cancel({ workerIndex: 1, modelIndex: 4 }, t(1));
  assert.deepEqual(workers[0]!.records(), [
    { token: t(3), modelIndex: 5, deadlineMs: 700, priority: 15, type: InputTypeCode.Strings, count: 6, values: 'héllo' },
  ]);
  assert.deepEqual(workers[1]!.records(), [
    { token: t(1), modelIndex: 4, deadlineMs: 500.5, priority: 2, type: InputTypeCode.Doubles, count: 2, values: [1.5, -2] },
    { token: t(2), modelIndex: 4, deadlineMs: 600, priority: 0, type: InputTypeCode.Integers, count: 3, values: [7, 8, 9] },
    { cancel: t(1) },
  ]);
  workers[1]!.replies.ok(t(2), '[1]');
  workers[1]!.replies.flush();
  workers[0]!.replies.fallback(t(3), DefaultReason.QueueFull, 'busy');
  workers[0]!.replies.flush();
  await until(() => replies.length === 2);
  replies.sort((a, b) => a.token - b.token);
  assert.deepEqual(replies, [
    { token: t(2), status: ReplyStatus.Ok, reason: DefaultReason.None, text: '[1]' },
    { token: t(3), status: ReplyStatus.Default, reason: DefaultReason.QueueFull, text: 'busy' },
  ]);
  port.close();
  for (const w of workers) w.replies.close();
});

test('close takes the replies already written, once; later ones are not delivered', async () => {
  const rings = makeRings(0, 1);
  const replies: number[] = [];
  const port = new RingPort(rings, kOptions, (token) => replies.push(token));
  // Not started: only close() drains.
  const worker = new FakeWorker(rings, 0);
  worker.replies.ok(1, '1');
  worker.replies.ok(2, '2');
  worker.replies.flush();
  port.close();
  assert.deepEqual(replies, [1, 2]);
  worker.replies.ok(3, '3');
  worker.replies.flush();
  port.close();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(replies, [1, 2], 'closed: nothing more');
  worker.replies.close();
  assert.throws(() => port.start(), /after close/);
});

test('a full query ring refuses a query (false) until the worker drains it', () => {
  const rings = makeRings(0, 1, 1024);
  const port = new RingPort(rings, { ...kOptions, ringBytes: 1024 }, () => {});
  const p = { workerIndex: 0, modelIndex: 1 };
  let accepted = 0;
  while (port.submitNumeric(p, accepted, 1, 0, InputTypeCode.Doubles, new Float64Array(8))) accepted++;
  assert.ok(accepted > 0 && accepted < 1024 / 64);
  assert.equal(new FakeWorker(rings, 0).records().length, accepted);
  assert.ok(port.submitNumeric(p, accepted, 1, 0, InputTypeCode.Doubles, new Float64Array(8)));
  port.close();
});

test('a token of another frontend, a missing worker and mismatched rings are refused', () => {
  const rings = makeRings(1, 1);
  const port = new RingPort(rings, kOptions, () => {});
  assert.equal(port.inputBytesMax, queryInputBytesMax(kRingBytes));
  const p = { workerIndex: 0, modelIndex: 1 };
  assert.throws(() => port.submitNumeric(p, 5, 1, 0, InputTypeCode.Doubles, [1]), /not frontend 1's/);
  assert.throws(() => port.cancel(p, frontendTokenBase(2)), /not frontend 1's/);
  const token = frontendTokenBase(1) | 5;
  assert.throws(
    () => port.submitBytes({ workerIndex: 1, modelIndex: 1 }, token, 1, 0, InputTypeCode.Bytes, Buffer.alloc(1)),
    /does not exist/,
  );
  assert.ok(port.submitNumeric(p, token, 1, 0, InputTypeCode.Doubles, [1]));
  port.close();
  assert.throws(() => new RingPort(rings, { ...kOptions, ringBytes: 2 * kRingBytes }, () => {}), /ringBytes/);
  assert.throws(() => new RingPort({ ...rings, replyRings: [] }, kOptions, () => {}), /reply ring per query ring/);
  assert.throws(() => new RingPort(makeRings(0, 0), kOptions, () => {}), /at least one batching thread/);
  const ownBells = { ...makeRings(0, 2), replyRings: [createRing(kRingBytes), createRing(kRingBytes)] };
  assert.throws(() => new RingPort(ownBells, kOptions, () => {}), /share one bell/);
});

test('one doorbell over every reply ring: a sleeping port is woken by a reply on any worker’s ring', async () => {
  const rings = makeRings(0, 3);
  const replies: number[] = [];
  const port = new RingPort(rings, kOptions, (token) => replies.push(token));
  port.start();
  // A pending Atomics.waitAsync does not keep the event loop alive: hold it while the test runs.
  const keepAlive = setInterval(() => {}, 1000);
  const workers = [0, 1, 2].map((w) => new FakeWorker(rings, w));
  for (const [i, w] of [2, 0, 1].entries()) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    workers[w]!.replies.ok(i + 1, `${i}`);
    workers[w]!.replies.flush();
    await until(() => replies.length === i + 1);
  }
  assert.deepEqual(replies, [1, 2, 3]);
  clearInterval(keepAlive);
  port.close();
  for (const w of workers) w.replies.close();
});

test("a reply on this frontend's ring with another frontend's token is an invariant failure", () => {
  const rings = makeRings(0, 1);
  const port = new RingPort(rings, kOptions, () => {});
  const worker = new FakeWorker(rings, 0);
  worker.replies.ok(frontendTokenBase(1) | 9, '1');
  worker.replies.flush();
  assert.throws(() => port.close(), /on frontend 0's ring/);
  worker.replies.close();
});
