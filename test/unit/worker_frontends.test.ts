// A real batching worker thread (worker.ts, started through threads.ts by the pool) serving two
// frontends: frontend 0 is the pool's own RingPort (onReply), frontend 1 a RingPort over
// pool.frontendRings(1). Queries from both reach one model with a fake replica on 127.0.0.1, and
// every reply comes back on the ring of the frontend that sent it, with its own output. With three
// frontends, the worker's one doorbell over their rings (one shared bell, cloned to the thread) takes
// a query from frontend 2 alone once it has gone to sleep.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { BatchingPool, defaultBatchingPoolDeps, type BatchingPoolOptions } from '../../src/batching/pool.js';
import { RingPort } from '../../src/batching/ring_port.js';
import { InputTypeCode } from '../../src/input_types.js';
import { DefaultReason, frontendTokenBase, ReplyStatus } from '../../src/ipc/records.js';
import { systemClock } from '../../src/lib/clock.js';
import { encodeFrame, FrameDecoder, kProtocolVersion, type ContainerMessage } from '../../src/rpc/protocol.js';

const kRingBytes = 64 * 1024;

/** A container that answers each input with its first element times 10; counts the batches it saw. */
async function startFakeReplica(): Promise<{ port: number; batchSizes: number[]; close: () => Promise<void> }> {
  const batchSizes: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const send = (m: ContainerMessage): void => void socket.write(encodeFrame(m));
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (m) => {
        if (m.t === 'hello') {
          send({
            t: 'ready',
            protocol: kProtocolVersion,
            model: m.model,
            version: m.version,
            input_type: m.input_type,
            pid: 1,
            runtime: 'fake',
          });
        } else if (m.t === 'predict') {
          batchSizes.push(m.n);
          const data = Buffer.from(m.data!);
          const outputs: number[] = [];
          let offset = 0;
          for (const len of m.lens!) {
            outputs.push(data.readDoubleLE(offset) * 10);
            offset += len * 8;
          }
          send({ t: 'result', id: m.id, outputs });
        }
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port, batchSizes, close };
}

async function until(done: () => boolean, what: string): Promise<void> {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > 20_000) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

interface Reply {
  token: number;
  status: ReplyStatus;
  reason: DefaultReason;
  text: string;
}

function poolOptions(frontends: number): BatchingPoolOptions {
  return {
    threads: 1,
    ringBytes: kRingBytes,
    spinCountWorker: 0,
    spinCountMain: 0,
    pollUsMain: 0,
    pollUsWorker: 0,
    shouldPollMain: () => false,
    connection: { heartbeatMs: 1000, livenessTimeoutMs: 5000, handshakeTimeoutMs: 5000, reconnectDelayMsMin: 20, reconnectDelayMsMax: 200 },
    frontends,
  };
}

test("a worker thread answers each frontend's queries on that frontend's reply ring", async (t) => {
  const replica = await startFakeReplica();
  t.after(() => replica.close());
  const options = poolOptions(2);
  const main: Reply[] = [];
  const states: boolean[] = [];
  const pool = new BatchingPool(
    options,
    (token, status, reason, text) => main.push({ token, status, reason, text }),
    (_placement, _replicaId, connected) => states.push(connected),
    defaultBatchingPoolDeps(),
  );
  pool.start();
  const other: Reply[] = [];
  const port1 = new RingPort(
    pool.frontendRings(1),
    { ringBytes: kRingBytes, spinCount: 0, pollUs: 0, shouldPoll: () => false },
    (token, status, reason, text) => other.push({ token, status, reason, text }),
  );
  port1.start();
  try {
    const p = pool.addModel({ name: 'm', version: '1', inputType: 'doubles', scheduler: {} });
    pool.addReplica(p, 1, '127.0.0.1', replica.port);
    await until(() => states.includes(true), 'the replica to connect');
    const deadlineMs = systemClock.nowMs() + 10_000;
    const base1 = frontendTokenBase(1);
    for (let i = 1; i <= 4; i++) {
      assert.ok(pool.mainPort.submitNumeric(p, i, deadlineMs, 0, InputTypeCode.Doubles, [i]));
      assert.ok(port1.submitNumeric(p, (base1 | i) >>> 0, deadlineMs, 0, InputTypeCode.Doubles, new Float64Array([100 + i, 0])));
    }
    // A model the worker does not host: answered at once, still on the sender's ring.
    assert.ok(port1.submitNumeric({ ...p, modelIndex: 999 }, (base1 | 9) >>> 0, deadlineMs, 0, InputTypeCode.Doubles, [1]));
    await until(() => main.length === 4 && other.length === 5, 'every reply');
    const sorted = (replies: Reply[]): Reply[] => [...replies].sort((a, b) => a.token - b.token);
    assert.deepEqual(
      sorted(main),
      [1, 2, 3, 4].map((i) => ({ token: i, status: ReplyStatus.Ok, reason: DefaultReason.None, text: String(i * 10) })),
    );
    assert.deepEqual(sorted(other), [
      ...[1, 2, 3, 4].map((i) => ({
        token: (base1 | i) >>> 0,
        status: ReplyStatus.Ok,
        reason: DefaultReason.None,
        text: String((100 + i) * 10),
      })),
      { token: (base1 | 9) >>> 0, status: ReplyStatus.Default, reason: DefaultReason.UnknownModel, text: '' },
    ]);
    assert.equal(
      replica.batchSizes.reduce((a, b) => a + b, 0),
      8,
      'both frontends’ queries reached the one replica',
    );
  } finally {
    await pool.close();
    port1.close();
  }
});

test('a sleeping worker with 3 frontends is woken by a query from frontend 2 alone', async (t) => {
  const replica = await startFakeReplica();
  t.after(() => replica.close());
  const states: boolean[] = [];
  const pool = new BatchingPool(
    poolOptions(3),
    () => {},
    (_placement, _replicaId, connected) => states.push(connected),
    defaultBatchingPoolDeps(),
  );
  pool.start();
  const replies: Reply[][] = [[], []];
  const ports = [1, 2].map(
    (k) =>
      new RingPort(
        pool.frontendRings(k),
        { ringBytes: kRingBytes, spinCount: 0, pollUs: 0, shouldPoll: () => false },
        (token, status, reason, text) => replies[k - 1]!.push({ token, status, reason, text }),
      ),
  );
  for (const port of ports) port.start();
  try {
    const p = pool.addModel({ name: 'm', version: '1', inputType: 'doubles', scheduler: {} });
    pool.addReplica(p, 1, '127.0.0.1', replica.port);
    await until(() => states.includes(true), 'the replica to connect');
    // Idle for a while: the worker has spun (0 polls) and sleeps on the bell.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const token = (frontendTokenBase(2) | 7) >>> 0;
    assert.ok(ports[1]!.submitNumeric(p, token, systemClock.nowMs() + 10_000, 0, InputTypeCode.Doubles, [4]));
    await until(() => replies[1]!.length === 1, "frontend 2's reply");
    assert.deepEqual(replies[1], [{ token, status: ReplyStatus.Ok, reason: DefaultReason.None, text: '40' }]);
    assert.deepEqual(replies[0], [], 'frontend 1 sent nothing and got nothing');
  } finally {
    await pool.close();
    for (const port of ports) port.close();
  }
});
