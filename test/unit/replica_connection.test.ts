// ReplicaConnection against a fake container: a net server on 127.0.0.1 speaking the container
// protocol (rpc/protocol.ts), with simulated time (SimClock) for heartbeats, handshake and liveness
// timeouts and reconnect delays, so no test waits on the wall clock.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { encodeFrame, FrameDecoder, kProtocolVersion, type ContainerMessage, type PredictMessage } from '../../src/rpc/protocol.js';
import { ReplicaConnection, type ReplicaConnectionEvents, type ReplicaConnectionOptions } from '../../src/rpc/replica_connection.js';
import { replicaAuthMac } from '../../src/rpc/replica_auth.js';
import { SimClock } from '../../sim/sim_clock.js';

const kOptions: ReplicaConnectionOptions = {
  heartbeatMs: 100,
  livenessTimeoutMs: 350,
  handshakeTimeoutMs: 1000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 400,
};
/** The cluster secret the fake container holds (replicaAuth 'required' in these tests unless said). */
const kSecret = Buffer.alloc(32, 7);

/** A queue whose next() waits for the next value pushed. */
class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(item: T) => void> = [];

  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(item);
    else this.#items.push(item);
  }

  next(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  get size(): number {
    return this.#items.length;
  }
}

/** The container's end of one connection. */
class ContainerEnd {
  readonly messages = new Inbox<ContainerMessage | 'closed'>();

  constructor(readonly socket: net.Socket) {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => decoder.push(chunk, (m) => this.messages.push(m)));
    socket.on('close', () => this.messages.push('closed'));
    socket.on('error', () => {});
  }

  send(message: ContainerMessage): void {
    this.socket.write(encodeFrame(message));
  }

  /** Read the hello and answer ready, with the auth `secret` gives (none: no auth). */
  async handshake(secret: Uint8Array | null = kSecret): Promise<Extract<ContainerMessage, { t: 'hello' }>> {
    const hello = await this.messages.next();
    assert.ok(hello !== 'closed' && hello.t === 'hello', `expected hello, got ${JSON.stringify(hello)}`);
    this.send({
      t: 'ready',
      protocol: kProtocolVersion,
      model: hello.model,
      version: hello.version,
      input_type: hello.input_type,
      pid: 1,
      runtime: 'fake',
      ...(secret === null ? {} : { auth: replicaAuthMac(secret, hello.nonce!, hello.model, hello.version, hello.replica) }),
    });
    return hello;
  }
}

async function startContainer(t: TestContext): Promise<{ port: number; connections: Inbox<ContainerEnd>; accepted: () => number }> {
  const connections = new Inbox<ContainerEnd>();
  const sockets = new Set<net.Socket>();
  let acceptedCount = 0;
  const server = net.createServer((socket) => {
    acceptedCount++;
    sockets.add(socket);
    connections.push(new ContainerEnd(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, connections, accepted: () => acceptedCount };
}

type Event =
  | { kind: 'ready' }
  | { kind: 'down'; reason: string; lost: number[] }
  | { kind: 'result'; batchId: number; outputs: unknown[] }
  | { kind: 'batch_error'; batchId: number; message: string };

function recorder(): { events: ReplicaConnectionEvents; inbox: Inbox<Event> } {
  const inbox = new Inbox<Event>();
  return {
    inbox,
    events: {
      onReady: () => inbox.push({ kind: 'ready' }),
      onDown: (_c, reason, lost) => inbox.push({ kind: 'down', reason, lost: [...lost].sort((a, b) => a - b) }),
      onResult: (_c, batchId, outputs) => inbox.push({ kind: 'result', batchId, outputs }),
      onBatchError: (_c, batchId, message) => inbox.push({ kind: 'batch_error', batchId, message }),
    },
  };
}

async function connected(
  t: TestContext,
  secret: Uint8Array | null = kSecret,
): Promise<{
  conn: ReplicaConnection;
  clock: SimClock;
  end: ContainerEnd;
  inbox: Inbox<Event>;
  container: Awaited<ReturnType<typeof startContainer>>;
}> {
  const container = await startContainer(t);
  const clock = new SimClock(1000);
  const { events, inbox } = recorder();
  const conn = new ReplicaConnection(
    { model: 'm', version: '1', inputType: 'doubles', replicaId: 3, host: '127.0.0.1', port: container.port, secret },
    kOptions,
    events,
    clock,
  );
  t.after(() => conn.close());
  const end = await container.connections.next();
  return { conn, clock, end, inbox, container };
}

/** Until cond() holds (socket events are asynchronous); the test runner's timeout catches a hang. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 1));
}

const predict = (id: number): PredictMessage => ({ t: 'predict', id, type: 'doubles', n: 1, lens: [1], data: new Uint8Array(8) });

test('handshake: hello names the replica; ready only after the container answers ready', { timeout: 10_000 }, async (t) => {
  const { conn, end, inbox } = await connected(t);
  const hello = (await end.messages.next()) as Extract<ContainerMessage, { t: 'hello' }>;
  const { nonce, ...rest } = hello;
  assert.deepEqual(rest, {
    t: 'hello',
    protocol: kProtocolVersion,
    model: 'm',
    version: '1',
    input_type: 'doubles',
    replica: 3,
    heartbeat_ms: 100,
  });
  assert.ok(nonce instanceof Uint8Array && nonce.length === 32, 'a 32-byte nonce');
  assert.ok(!Buffer.from(nonce).includes(kSecret), 'the secret itself is never sent');
  assert.equal(conn.ready, false);
  assert.equal(conn.send(predict(1)), false, 'no batch before ready');
  const auth = replicaAuthMac(kSecret, nonce, 'm', '1', 3);
  end.send({ t: 'ready', protocol: kProtocolVersion, model: 'm', version: '1', input_type: 'doubles', pid: 1, runtime: 'fake', auth });
  assert.deepEqual(await inbox.next(), { kind: 'ready' });
  assert.equal(conn.ready, true);
});

test('a container speaking another protocol version is dropped, never ready', { timeout: 10_000 }, async (t) => {
  const { conn, end, inbox } = await connected(t);
  await end.messages.next();
  end.send({ t: 'ready', protocol: kProtocolVersion + 1, model: 'm', version: '1', input_type: 'doubles', pid: 1, runtime: 'fake' });
  assert.equal(await end.messages.next(), 'closed');
  await until(() => /protocol/.test(conn.lastError));
  assert.equal(conn.ready, false);
  assert.equal(inbox.size, 0);
});

test('answers are correlated by batch id, in any order; unknown ids are ignored', { timeout: 10_000 }, async (t) => {
  const { conn, end, inbox } = await connected(t);
  await end.handshake();
  await inbox.next();
  for (const id of [7, 8, 9]) assert.equal(conn.send(predict(id)), true);
  assert.equal(conn.inFlightCount, 3);
  const sent = [await end.messages.next(), await end.messages.next(), await end.messages.next()];
  assert.deepEqual(
    sent.map((m) => (m as { id: number }).id),
    [7, 8, 9],
  );
  end.send({ t: 'result', id: 8, outputs: ['eight'] });
  end.send({ t: 'result', id: 99, outputs: ['nobody asked'] });
  end.send({ t: 'error', id: 9, message: 'bad input' });
  end.send({ t: 'result', id: 7, outputs: ['seven'] });
  assert.deepEqual(await inbox.next(), { kind: 'result', batchId: 8, outputs: ['eight'] });
  assert.deepEqual(await inbox.next(), { kind: 'batch_error', batchId: 9, message: 'bad input' });
  assert.deepEqual(await inbox.next(), { kind: 'result', batchId: 7, outputs: ['seven'] });
  assert.equal(conn.inFlightCount, 0);
  assert.throws(() => {
    conn.send(predict(7));
    conn.send(predict(7));
  }, /at most once/);
});

test('a dropped connection reports its batches lost, then redials with doubling backoff', { timeout: 10_000 }, async (t) => {
  const { conn, clock, end, inbox, container } = await connected(t);
  await end.handshake();
  await inbox.next();
  conn.send(predict(1));
  conn.send(predict(2));
  await end.messages.next();
  await end.messages.next();
  end.socket.destroy();
  const down = await inbox.next();
  assert.equal(down.kind, 'down');
  assert.deepEqual((down as { lost: number[] }).lost, [1, 2]);
  assert.equal(conn.ready, false);
  // Nothing is dialled until the backoff delay has passed on the clock.
  assert.equal(clock.pendingTimerCount, 1);
  assert.equal(clock.nextTimerMs() - clock.nowMs(), kOptions.reconnectDelayMsMin);
  clock.advanceBy(kOptions.reconnectDelayMsMin - 1);
  assert.equal(container.accepted(), 1);
  clock.advanceBy(1);
  const second = await container.connections.next();
  assert.equal(container.accepted(), 2);
  // This one never answers hello: the handshake timeout drops it, and the next delay doubles.
  assert.equal(((await second.messages.next()) as { t: string }).t, 'hello');
  clock.advanceBy(kOptions.handshakeTimeoutMs + kOptions.heartbeatMs);
  assert.equal(await second.messages.next(), 'closed');
  await until(() => clock.pendingTimerCount === 1 && clock.nextTimerMs() > clock.nowMs() + kOptions.reconnectDelayMsMin);
  assert.equal(clock.nextTimerMs() - clock.nowMs(), 2 * kOptions.reconnectDelayMsMin);
  assert.match(conn.lastError, /no ready within 1000 ms/);
  assert.equal(inbox.size, 0, 'a connection that never became ready reports no down');
  clock.advanceBy(2 * kOptions.reconnectDelayMsMin);
  const third = await container.connections.next();
  await third.handshake();
  assert.deepEqual(await inbox.next(), { kind: 'ready' });
  // A successful handshake resets the backoff.
  third.socket.destroy();
  assert.equal((await inbox.next()).kind, 'down');
  assert.equal(clock.nextTimerMs() - clock.nowMs(), kOptions.reconnectDelayMsMin);
});

test('heartbeats go out every heartbeatMs; a silent replica is marked down by the liveness timeout', { timeout: 10_000 }, async (t) => {
  const { conn, clock, end, inbox } = await connected(t);
  await end.handshake();
  await inbox.next();
  conn.send(predict(5));
  assert.equal(((await end.messages.next()) as { t: string }).t, 'predict');
  for (let tick = 0; tick < 3; tick++) {
    clock.advanceBy(kOptions.heartbeatMs);
    assert.deepEqual(await end.messages.next(), { t: 'hb' }, `heartbeat ${tick}`);
  }
  assert.equal(conn.ready, true, 'within the liveness timeout');
  clock.advanceBy(kOptions.heartbeatMs);
  const down = await inbox.next();
  assert.equal(down.kind, 'down');
  assert.match((down as { reason: string }).reason, /no frame for 400 ms \(liveness timeout 350 ms\)/);
  assert.deepEqual((down as { lost: number[] }).lost, [5]);
  assert.equal(await end.messages.next(), 'closed');
});

test('close says bye, reports in-flight batches lost, and stops reconnecting', { timeout: 10_000 }, async (t) => {
  const { conn, clock, end, inbox, container } = await connected(t);
  await end.handshake();
  await inbox.next();
  conn.send(predict(4));
  await end.messages.next();
  conn.close('replica removed');
  assert.deepEqual(await inbox.next(), { kind: 'down', reason: 'replica removed', lost: [4] });
  assert.deepEqual(await end.messages.next(), { t: 'bye', reason: 'replica removed' });
  assert.equal(await end.messages.next(), 'closed');
  assert.equal(clock.pendingTimerCount, 0, 'no heartbeat and no reconnect left');
  clock.advanceBy(10 * kOptions.reconnectDelayMsMax);
  assert.equal(container.accepted(), 1);
  assert.equal(conn.send(predict(6)), false);
});

test('close during a reconnect delay cancels the redial', { timeout: 10_000 }, async (t) => {
  const { conn, clock, end, inbox, container } = await connected(t);
  await end.handshake();
  await inbox.next();
  end.socket.destroy();
  assert.equal((await inbox.next()).kind, 'down');
  assert.equal(clock.pendingTimerCount, 1);
  conn.close();
  assert.equal(clock.pendingTimerCount, 0);
  clock.advanceBy(10 * kOptions.reconnectDelayMsMax);
  assert.equal(container.accepted(), 1);
  assert.equal(inbox.size, 0, 'closing a connection that is already down reports nothing more');
});

/** The refusal a replica without the secret gets: an error frame, then the close. */
async function expectRefused(end: ContainerEnd): Promise<string> {
  const error = await end.messages.next();
  assert.ok(error !== 'closed' && error.t === 'error', `expected an error frame, got ${JSON.stringify(error)}`);
  assert.equal(error.id, undefined, 'a fatal error');
  assert.match(error.message, /^authentication failed/);
  assert.equal(await end.messages.next(), 'closed');
  return error.message;
}

for (const [what, secret, why] of [
  ['no auth', null, /sent no auth/],
  ['an auth made with another secret', Buffer.alloc(32, 8), /wrong auth/],
] as const) {
  test(`a replica that answers ready with ${what} is refused, reported down, and dialled again later`, { timeout: 10_000 }, async (t) => {
    const { conn, clock, end, inbox, container } = await connected(t);
    const first = await end.handshake(secret);
    await expectRefused(end);
    const down = await inbox.next();
    assert.equal(down.kind, 'down', 'reported as not connected');
    assert.match((down as { reason: string }).reason, why);
    assert.match(conn.lastError, /^authentication failed/);
    assert.equal(conn.ready, false);
    assert.equal(conn.send(predict(1)), false, 'nothing is ever sent to it');
    // The normal backoff: a real replica may come back on that address.
    assert.equal(clock.nextTimerMs() - clock.nowMs(), kOptions.reconnectDelayMsMin);
    clock.advanceBy(kOptions.reconnectDelayMsMin);
    const again = await container.connections.next();
    const second = await again.handshake(kSecret);
    assert.notDeepEqual(Buffer.from(second.nonce!), Buffer.from(first.nonce!), 'a fresh nonce per dial');
    assert.deepEqual(await inbox.next(), { kind: 'ready' });
  });
}

test('an auth for another replica id or an old nonce is refused', { timeout: 10_000 }, async (t) => {
  const { end, inbox } = await connected(t);
  const hello = (await end.messages.next()) as Extract<ContainerMessage, { t: 'hello' }>;
  const auth = replicaAuthMac(kSecret, hello.nonce!, 'm', '1', 4);
  end.send({ t: 'ready', protocol: kProtocolVersion, model: 'm', version: '1', input_type: 'doubles', pid: 1, runtime: 'x', auth });
  await expectRefused(end);
  assert.match(((await inbox.next()) as { reason: string }).reason, /wrong auth/);
});

test('a refused replica is heard no more: its results and a second ready are ignored', { timeout: 10_000 }, async (t) => {
  const { conn, end, inbox } = await connected(t);
  const hello = await end.handshake(null);
  const auth = replicaAuthMac(kSecret, hello.nonce!, 'm', '1', 3);
  end.send({ t: 'ready', protocol: kProtocolVersion, model: 'm', version: '1', input_type: 'doubles', pid: 1, runtime: 'x', auth });
  end.send({ t: 'result', id: 1, outputs: [42] });
  await expectRefused(end);
  assert.equal((await inbox.next()).kind, 'down');
  assert.equal(conn.ready, false);
  assert.equal(inbox.size, 0, 'no ready, no result');
});

test('replicaAuth off (no secret): a ready without auth is accepted', { timeout: 10_000 }, async (t) => {
  const { conn, end, inbox } = await connected(t, null);
  await end.handshake(null);
  assert.deepEqual(await inbox.next(), { kind: 'ready' });
  assert.equal(conn.ready, true);
});
