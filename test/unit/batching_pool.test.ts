// BatchingPool's main end alone: a fake thread starter hands every worker's init to a fake worker
// end in this thread (no real threads), which reads query records with the worker-side decoders
// and writes replies with the worker's ReplyWriter. Stats timeouts run on a simulated clock.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, type TransferListItem } from 'node:worker_threads';
import { BatchingPool, kFrontendRingBytesMin, ringBytesPerFrontend, type BatchingPoolOptions } from '../../src/batching/pool.js';
import type { ModelActorStats, Placement, ThreadResources, WorkerControl, WorkerEvent, WorkerInit } from '../../src/batching/protocol.js';
import { ReplyWriter } from '../../src/batching/reply_writer.js';
import { RingPort } from '../../src/batching/ring_port.js';
import type { ThreadStarter, ThreadTask } from '../../src/batching/threads.js';
import { InputTypeCode } from '../../src/input_types.js';
import {
  cancelModelIndex,
  cancelToken,
  copyQueryPayload,
  DefaultReason,
  frontendTokenBase,
  isCancelRecord,
  queryInputBytesMax,
  queryCount,
  queryDeadlineMs,
  queryInputType,
  queryModelIndex,
  queryPriority,
  queryToken,
  ReplyStatus,
} from '../../src/ipc/records.js';
import { RingConsumer, RingProducer } from '../../src/ipc/ring_buffer.js';
import { SimClock } from '../../sim/sim_clock.js';

type Decoded =
  | { kind: 'cancel'; token: number; modelIndex: number }
  | {
      kind: 'query';
      token: number;
      modelIndex: number;
      deadlineMs: number;
      priority: number;
      inputType: number;
      count: number;
      payload: Buffer;
    };

/** One batching thread's worker end, played in this thread. */
class FakeWorkerEnd {
  readonly init: WorkerInit;
  readonly transferList: readonly TransferListItem[];
  readonly controls: WorkerControl[] = [];
  readonly replies: ReplyWriter;
  /** What this worker answers to a stats request; null: it never answers. */
  statsModels: ModelActorStats[] | null = [];
  /** The thread's resources its stats answer lists (absent when undefined). */
  statsResources: ThreadResources | undefined = undefined;
  readonly #queries: RingConsumer;
  readonly done: Promise<void>;
  #finish!: () => void;

  constructor(init: WorkerInit, transferList: readonly TransferListItem[]) {
    this.init = init;
    this.transferList = transferList;
    this.#queries = new RingConsumer(init.queryRings[0]!);
    this.replies = new ReplyWriter(new RingProducer(init.replyRings[0]!));
    this.done = new Promise((resolve) => {
      this.#finish = resolve;
    });
    init.port.on('message', (msg: WorkerControl) => this.#onControl(msg));
  }

  post(event: WorkerEvent): void {
    this.init.port.postMessage(event);
  }

  /** Every record published so far, decoded field by field. */
  records(): Decoded[] {
    const ring = this.#queries;
    const out: Decoded[] = [];
    ring.drain((body, bodyBytes, tag) => {
      if (isCancelRecord(tag, bodyBytes)) {
        out.push({ kind: 'cancel', token: cancelToken(ring, body), modelIndex: cancelModelIndex(ring, body) });
      } else {
        out.push({
          kind: 'query',
          token: queryToken(ring, body),
          modelIndex: queryModelIndex(ring, body),
          deadlineMs: queryDeadlineMs(ring, body),
          priority: queryPriority(ring, body),
          inputType: queryInputType(ring, body),
          count: queryCount(ring, body),
          payload: copyQueryPayload(ring, body, bodyBytes),
        });
      }
    });
    return out;
  }

  #onControl(msg: WorkerControl): void {
    this.controls.push(msg);
    if (msg.kind === 'stats' && this.statsModels !== null) {
      const resources = this.statsResources === undefined ? {} : { resources: this.statsResources };
      this.post({ kind: 'stats', requestId: msg.requestId, models: this.statsModels, ...resources });
    } else if (msg.kind === 'stop') {
      this.replies.close();
      this.post({ kind: 'stopped' });
      this.init.port.close();
      this.#finish();
    }
  }
}

class FakeThreads implements ThreadStarter<WorkerInit> {
  readonly workers: FakeWorkerEnd[] = [];
  destroyedCount = 0;

  start(init: WorkerInit, transferList: readonly TransferListItem[]): ThreadTask {
    const worker = new FakeWorkerEnd(init, transferList);
    this.workers.push(worker);
    return {
      done: worker.done,
      destroy: async () => {
        this.destroyedCount++;
      },
    };
  }

  worker(i: number): FakeWorkerEnd {
    const w = this.workers[i];
    assert.ok(w !== undefined, `worker ${i} was started`);
    return w;
  }
}

interface Reply {
  token: number;
  status: ReplyStatus;
  reason: DefaultReason;
  text: string;
}

function makePool(
  threadCount: number,
  ringBytes = 64 * 1024,
  frontends: Partial<Pick<BatchingPoolOptions, 'frontends' | 'mainFrontend'>> = {},
) {
  const threads = new FakeThreads();
  const clock = new SimClock(1000);
  const replies: Reply[] = [];
  const states: Array<{ placement: Placement; replicaId: number; connected: boolean; reason: string }> = [];
  const options: BatchingPoolOptions = {
    threads: threadCount,
    ringBytes,
    spinCountWorker: 0,
    spinCountMain: 0,
    pollUsMain: 0,
    pollUsWorker: 0,
    shouldPollMain: () => false,
    connection: {
      heartbeatMs: 1000,
      livenessTimeoutMs: 5000,
      handshakeTimeoutMs: 5000,
      reconnectDelayMsMin: 100,
      reconnectDelayMsMax: 5000,
    },
    ...frontends,
  };
  const pool = new BatchingPool(
    options,
    (token, status, reason, text) => replies.push({ token, status, reason, text }),
    (placement, replicaId, connected, reason) => states.push({ placement, replicaId, connected, reason }),
    { threads, clock },
  );
  return { pool, threads, clock, replies, states };
}

/** Let MessagePort deliveries and ring wake-ups run until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}

const kSpec = { name: 'm', version: '1', inputType: 'doubles' as const, scheduler: {} };

test('start gives each thread its rings and control port; only thread 0 gets the selection port', async () => {
  const { pool, threads } = makePool(3);
  const selection = new MessageChannel();
  pool.start(selection.port2);
  assert.equal(threads.workers.length, 3);
  assert.deepEqual(
    threads.workers.map((w) => w.init.workerIndex),
    [0, 1, 2],
  );
  assert.ok(threads.worker(0).init.selectionPort !== undefined);
  assert.equal(threads.worker(0).transferList.length, 2);
  assert.equal(threads.worker(1).init.selectionPort, undefined);
  assert.equal(threads.worker(1).transferList.length, 1);
  assert.notEqual(threads.worker(0).init.queryRings[0]!.sab, threads.worker(1).init.queryRings[0]!.sab);
  selection.port1.close();
  await pool.close();
});

test('models go to the least loaded thread, and control messages reach its worker', async () => {
  const { pool, threads } = makePool(2);
  pool.start();
  const a = pool.addModel({ ...kSpec, name: 'a' });
  const b = pool.addModel({ ...kSpec, name: 'b' });
  const c = pool.addModel({ ...kSpec, name: 'c' });
  assert.deepEqual([a.workerIndex, b.workerIndex, c.workerIndex], [0, 1, 0]);
  assert.equal(new Set([a.modelIndex, b.modelIndex, c.modelIndex]).size, 3);
  pool.removeModel(a);
  const d = pool.addModel({ ...kSpec, name: 'd' });
  assert.equal(d.workerIndex, 0, 'thread 0 holds one model again, as many as thread 1: the first wins');
  pool.addReplica(b, 7, '127.0.0.1', 4000);
  pool.removeReplica(b, 7);
  const w1 = threads.worker(1);
  await until(() => w1.controls.length === 3);
  assert.deepEqual(w1.controls, [
    { kind: 'add_model', spec: { ...kSpec, name: 'b', modelIndex: b.modelIndex } },
    // No replicaSecret in these options: replicaAuth off, the worker checks nothing.
    { kind: 'add_replica', modelIndex: b.modelIndex, replicaId: 7, host: '127.0.0.1', port: 4000, secret: null },
    { kind: 'remove_replica', modelIndex: b.modelIndex, replicaId: 7 },
  ]);
  const w0 = threads.worker(0);
  await until(() => w0.controls.length === 4);
  assert.deepEqual(
    w0.controls.map((m) => m.kind),
    ['add_model', 'add_model', 'remove_model', 'add_model'],
  );
  await pool.close();
});

test('submitted queries and cancels read back field by field with the worker-side decoders', async () => {
  const { pool, threads } = makePool(1);
  pool.start();
  const p = pool.addModel(kSpec);
  assert.ok(pool.mainPort.submitNumeric(p, 11, 5000.5, 3, InputTypeCode.Doubles, [1.5, -2.25]));
  assert.ok(pool.mainPort.submitNumeric(p, 12, 6000, 0, InputTypeCode.Integers, [3, 4, 5]));
  assert.ok(pool.mainPort.submitBytes(p, 13, 7000, 15, InputTypeCode.Strings, 'héllo'));
  assert.ok(pool.mainPort.submitBytes(p, 14, 8000, 7, InputTypeCode.Bytes, Buffer.from([0, 255, 7])));
  pool.mainPort.cancel(p, 11);
  const records = threads.worker(0).records();
  assert.equal(records.length, 5);
  const [q1, q2, q3, q4, cancel] = records;
  assert.deepEqual(
    { ...q1, payload: undefined },
    {
      kind: 'query',
      token: 11,
      modelIndex: p.modelIndex,
      deadlineMs: 5000.5,
      priority: 3,
      inputType: InputTypeCode.Doubles,
      count: 2,
      payload: undefined,
    },
  );
  assert.ok(q1?.kind === 'query' && q2?.kind === 'query' && q3?.kind === 'query' && q4?.kind === 'query');
  assert.deepEqual([q1.payload.readDoubleLE(0), q1.payload.readDoubleLE(8)], [1.5, -2.25]);
  assert.deepEqual([q2.token, q2.priority, q2.inputType, q2.count, q2.payload.length], [12, 0, InputTypeCode.Integers, 3, 12]);
  assert.deepEqual([q2.payload.readInt32LE(0), q2.payload.readInt32LE(4), q2.payload.readInt32LE(8)], [3, 4, 5]);
  assert.deepEqual([q3.token, q3.deadlineMs, q3.priority, q3.count, q3.payload.toString('utf8')], [13, 7000, 15, 6, 'héllo']);
  assert.deepEqual([q4.token, q4.priority, q4.inputType, [...q4.payload]], [14, 7, InputTypeCode.Bytes, [0, 255, 7]]);
  assert.deepEqual(cancel, { kind: 'cancel', token: 11, modelIndex: p.modelIndex });
  await pool.close();
});

test('a large ASCII string that fits is submitted although 3 bytes per character would not fit', async () => {
  const { pool, threads } = makePool(1, 4096);
  pool.start();
  const p = pool.addModel({ ...kSpec, inputType: 'strings' });
  const text = 'x'.repeat(pool.mainPort.inputBytesMax);
  assert.ok(pool.mainPort.submitBytes(p, 1, 1, 0, InputTypeCode.Strings, text));
  const [q] = threads.worker(0).records();
  assert.ok(q?.kind === 'query');
  assert.equal(q.payload.toString('utf8'), text);
  await pool.close();
});

test('a full query ring refuses queries (false) until the worker drains it', async () => {
  const { pool, threads } = makePool(1, 4096);
  pool.start();
  const p = pool.addModel(kSpec);
  let accepted = 0;
  while (pool.mainPort.submitNumeric(p, accepted + 1, 1, 0, InputTypeCode.Doubles, [1, 2, 3, 4])) accepted++;
  assert.ok(accepted > 0 && accepted < 4096 / 32);
  // The same record size as the numeric query refused above (4 doubles): it cannot fit either.
  assert.equal(pool.mainPort.submitBytes(p, 999, 1, 0, InputTypeCode.Bytes, Buffer.alloc(32)), false);
  assert.equal(threads.worker(0).records().length, accepted);
  assert.ok(pool.mainPort.submitNumeric(p, 1000, 1, 0, InputTypeCode.Doubles, [1]));
  await pool.close();
});

test('replies written by the worker end reach onReply with token, status, reason and text', async () => {
  const { pool, threads, replies } = makePool(2);
  pool.start();
  threads.worker(0).replies.ok(21, '[1,2]');
  threads.worker(1).replies.fallback(22, DefaultReason.QueueFull, 'busy');
  threads.worker(1).replies.fallback(23, DefaultReason.NoReplica);
  await until(() => replies.length === 3);
  replies.sort((x, y) => x.token - y.token);
  assert.deepEqual(replies, [
    { token: 21, status: ReplyStatus.Ok, reason: DefaultReason.None, text: '[1,2]' },
    { token: 22, status: ReplyStatus.Default, reason: DefaultReason.QueueFull, text: 'busy' },
    { token: 23, status: ReplyStatus.Default, reason: DefaultReason.NoReplica, text: '' },
  ]);
  await pool.close();
});

test('replica state events carry the placement of their thread', async () => {
  const { pool, threads, states } = makePool(2);
  pool.start();
  pool.addModel(kSpec);
  const p = pool.addModel(kSpec);
  threads.worker(1).post({ kind: 'replica_state', modelIndex: p.modelIndex, replicaId: 3, connected: false, reason: 'gone' });
  await until(() => states.length === 1);
  assert.deepEqual(states, [{ placement: p, replicaId: 3, connected: false, reason: 'gone' }]);
  await pool.close();
});

function fakeStats(modelIndex: number, name: string): ModelActorStats {
  return { modelIndex, name, version: '1' } as ModelActorStats;
}

test('stats are gathered from every thread', async () => {
  const { pool, threads } = makePool(2);
  pool.start();
  threads.worker(0).statsModels = [fakeStats(1, 'a'), fakeStats(3, 'c')];
  threads.worker(1).statsModels = [fakeStats(2, 'b')];
  const models = await pool.stats();
  assert.deepEqual(models.map((m) => m.name).sort(), ['a', 'b', 'c']);
  await pool.close();
});

test('each thread’s active resources are kept from its latest stats answer', async () => {
  const { pool, threads } = makePool(2);
  pool.start();
  assert.deepEqual(pool.threadResources(), []);
  const one = { active: ['MessagePort'], heapUsedBytes: 2 };
  threads.worker(0).statsResources = { active: ['Timeout', 'TCPSocketWrap'], heapUsedBytes: 1 };
  threads.worker(1).statsResources = one;
  await pool.stats();
  assert.deepEqual(pool.threadResources(), [{ active: ['Timeout', 'TCPSocketWrap'], heapUsedBytes: 1 }, one]);
  threads.worker(0).statsResources = { active: ['TCPSocketWrap'], heapUsedBytes: 1 };
  await pool.stats();
  assert.deepEqual(
    pool.threadResources(),
    [{ active: ['TCPSocketWrap'], heapUsedBytes: 1 }, one],
    'a released timer is gone from the next answer',
  );
  await pool.close();
});

test('stats resolve at the timeout with what arrived when a thread does not answer', async () => {
  const { pool, threads, clock, states } = makePool(2);
  pool.start();
  const w0 = threads.worker(0);
  w0.statsModels = [fakeStats(1, 'a')];
  threads.worker(1).statsModels = null;
  const result: { models: ModelActorStats[] | null } = { models: null };
  const pending = pool.stats().then((models) => {
    result.models = models;
  });
  // Thread 0 answers, then sends a marker on the same port: once the marker is in, so is the answer.
  await until(() => w0.controls.some((m) => m.kind === 'stats'));
  w0.post({ kind: 'replica_state', modelIndex: 1, replicaId: 0, connected: true, reason: 'marker' });
  await until(() => states.length === 1);
  assert.ok(result.models === null, 'still waiting for thread 1');
  assert.equal(clock.pendingTimerCount, 1);
  clock.advanceBy(1999);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(result.models === null, 'not before the timeout');
  clock.advanceBy(1);
  await pending;
  assert.deepEqual(
    (result.models as ModelActorStats[] | null)?.map((m) => m.name),
    ['a'],
  );
  assert.equal(clock.pendingTimerCount, 0);
  await pool.close();
});

test('a stats answer clears its timer; close resolves stats still waiting', async () => {
  const { pool, threads, clock } = makePool(1);
  pool.start();
  await pool.stats();
  assert.equal(clock.pendingTimerCount, 0, 'the answered request cancelled its timeout');
  threads.worker(0).statsModels = null;
  const pending = pool.stats();
  await pool.close();
  assert.deepEqual(await pending, []);
});

test('close stops every worker, waits for them, and destroys their threads', async () => {
  const { pool, threads } = makePool(3);
  pool.start();
  await pool.close();
  for (const w of threads.workers) assert.equal(w.controls.at(-1)?.kind, 'stop');
  assert.equal(threads.destroyedCount, 3);
  assert.deepEqual(await pool.stats(), [], 'a closed pool has no threads to ask');
});

test('a placement on a thread that does not exist is refused', async () => {
  const { pool } = makePool(1);
  pool.start();
  assert.throws(
    () => pool.mainPort.submitNumeric({ workerIndex: 1, modelIndex: 1 }, 1, 1, 0, InputTypeCode.Doubles, [1]),
    /does not exist/,
  );
  assert.throws(() => pool.mainPort.cancel({ workerIndex: -1, modelIndex: 1 }, 1), /does not exist/);
  await pool.close();
});

/** Frontend k's end of a fake worker: its reply writer on the worker's reply ring k. */
function frontendReplies(worker: FakeWorkerEnd, frontend: number): ReplyWriter {
  return new ReplyWriter(new RingProducer(worker.init.replyRings[frontend]!));
}

test("with several frontends each worker gets every frontend's rings, and frontendRings(k) are ring k of each", async () => {
  const { pool, threads } = makePool(2, 64 * 1024, { frontends: 3 });
  assert.equal(pool.frontendRings(1).frontendIndex, 1, 'made with the pool, before start()');
  pool.start();
  for (const w of threads.workers) {
    assert.equal(w.init.queryRings.length, 3);
    assert.equal(w.init.replyRings.length, 3);
  }
  const sabs = new Set(threads.workers.flatMap((w) => [...w.init.queryRings, ...w.init.replyRings].map((r) => r.sab)));
  assert.equal(sabs.size, 2 * 3 * 2, 'one query and one reply ring per (frontend, worker)');
  for (const k of [1, 2]) {
    const rings = pool.frontendRings(k);
    assert.equal(rings.frontendIndex, k);
    assert.deepEqual(
      rings.queryRings.map((r) => r.sab),
      threads.workers.map((w) => w.init.queryRings[k]!.sab),
    );
    assert.deepEqual(
      rings.replyRings.map((r) => r.sab),
      threads.workers.map((w) => w.init.replyRings[k]!.sab),
    );
  }
  assert.throws(() => pool.frontendRings(0), /main thread's own ring port/);
  assert.throws(() => pool.frontendRings(3), /no rings/);
  await pool.close();
});

test("another frontend's RingPort reaches the worker's ring k; its replies go to it, the main frontend's to onReply", async () => {
  const { pool, threads, replies } = makePool(1, 64 * 1024, { frontends: 2 });
  pool.start();
  const p = pool.addModel(kSpec);
  const other: number[] = [];
  const port = new RingPort(pool.frontendRings(1), { ringBytes: 64 * 1024, spinCount: 0, pollUs: 0, shouldPoll: () => false }, (token) =>
    other.push(token),
  );
  port.start();
  const t1 = (frontendTokenBase(1) | 5) >>> 0;
  assert.ok(port.submitNumeric(p, t1, 1, 0, InputTypeCode.Doubles, [1]));
  assert.ok(pool.mainPort.submitNumeric(p, 5, 1, 0, InputTypeCode.Doubles, [2]));
  const w = threads.worker(0);
  assert.deepEqual(
    w.records().map((r) => r.token),
    [5],
    "the main frontend's ring",
  );
  const ring1 = new RingConsumer(w.init.queryRings[1]!);
  const tokens1: number[] = [];
  ring1.drain((body) => tokens1.push(queryToken(ring1, body)));
  assert.deepEqual(tokens1, [t1], "frontend 1's ring");
  const writer1 = frontendReplies(w, 1);
  writer1.ok(t1, '1');
  writer1.flush();
  w.replies.ok(5, '2');
  w.replies.flush();
  await until(() => other.length === 1 && replies.length === 1);
  assert.deepEqual(other, [t1]);
  assert.deepEqual(
    replies.map((r) => r.token),
    [5],
  );
  port.close();
  writer1.close();
  await pool.close();
});

test('without a main frontend the pool has no main port, and close leaves the frontends’ reply rings to them', async () => {
  const { pool, threads, replies } = makePool(1, 64 * 1024, { frontends: 2, mainFrontend: false });
  pool.start();
  const p = pool.addModel(kSpec);
  assert.throws(() => pool.mainPort.submitNumeric(p, 1, 1, 0, InputTypeCode.Doubles, [1]), /no main-thread frontend/);
  assert.equal(pool.frontendRings(0).frontendIndex, 0);
  const w = threads.worker(0);
  const writer0 = frontendReplies(w, 0);
  writer0.ok(3, '3');
  writer0.flush();
  writer0.close();
  const rings0 = pool.frontendRings(0);
  await pool.close();
  assert.deepEqual(replies, [], 'the pool took no reply');
  const taken: number[] = [];
  const port = new RingPort(rings0, { ringBytes: 64 * 1024, spinCount: 0, pollUs: 0, shouldPoll: () => false }, (token) =>
    taken.push(token),
  );
  port.close();
  assert.deepEqual(taken, [3], "frontend 0's RingPort still finds it");
});

test('a pool refuses a frontend count out of range', () => {
  assert.throws(() => makePool(1, 64 * 1024, { frontends: 0 }), /frontends must be/);
  assert.throws(() => makePool(1, 64 * 1024, { frontends: 33 }), /frontends must be/);
});

test('rings are split over the frontends: ringBytes / frontends as a power of two, at least 1 MiB', () => {
  const mib = 1024 * 1024;
  assert.equal(kFrontendRingBytesMin, mib);
  assert.equal(ringBytesPerFrontend(4 * mib, 1), 4 * mib, 'one frontend: ringBytes, as before');
  assert.equal(ringBytesPerFrontend(4 * mib, 2), 2 * mib);
  assert.equal(ringBytesPerFrontend(4 * mib, 3), mib, '1.33 MiB rounds down to a power of two');
  assert.equal(ringBytesPerFrontend(4 * mib, 8), mib, 'the floor');
  assert.equal(ringBytesPerFrontend(64 * mib, 16), 4 * mib);
  assert.equal(ringBytesPerFrontend(64 * 1024, 4), 64 * 1024, 'a ringBytes under the floor stays whole');
  assert.throws(() => ringBytesPerFrontend(mib, 0), /positive integer/);
});

test("every ring of the pool has the per-frontend size, and the main port's inputBytesMax follows it", async () => {
  const mib = 1024 * 1024;
  for (const [frontends, each] of [
    [1, 4 * mib],
    [2, 2 * mib],
    [4, mib],
  ] as const) {
    const { pool, threads } = makePool(2, 4 * mib, { frontends });
    pool.start();
    assert.equal(pool.ringBytesEach, each);
    for (const w of threads.workers) {
      for (const ring of [...w.init.queryRings, ...w.init.replyRings]) assert.equal(ring.capacityBytes, each, `${frontends} frontends`);
    }
    assert.equal(pool.mainPort.inputBytesMax, queryInputBytesMax(each));
    await pool.close();
  }
});

test("a worker's query rings share one bell, a frontend's reply rings another: one doorbell each side", async () => {
  const { pool, threads } = makePool(2, 64 * 1024, { frontends: 3, mainFrontend: false });
  pool.start();
  const bells = new Set<SharedArrayBuffer>();
  for (const w of threads.workers) {
    const bell = w.init.queryRings[0]!.bell;
    assert.ok(bell !== null);
    assert.ok(
      w.init.queryRings.every((r) => r.bell === bell),
      `worker ${w.init.workerIndex}'s query rings share one bell`,
    );
    bells.add(bell);
  }
  for (const k of [0, 1, 2]) {
    const rings = pool.frontendRings(k);
    const bell = rings.replyRings[0]!.bell;
    assert.ok(bell !== null && rings.replyRings.every((r) => r.bell === bell), `frontend ${k}'s reply rings share one bell`);
    bells.add(bell);
  }
  assert.equal(bells.size, 2 + 3, 'one bell per worker and one per frontend, none shared between them');
  await pool.close();
});
