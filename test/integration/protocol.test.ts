// The container protocol at the byte level: frames split anywhere, garbage on a connection, and
// handshake mismatches, against the real Node runner process.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { kNodeRunnerPath } from '../../src/paths.js';
import { encodeFrame, FrameDecoder, ProtocolError, type ContainerMessage } from '../../src/rpc/protocol.js';
import { checkReplicaAuth } from '../../src/rpc/replica_auth.js';
import { kExampleModels } from '../helpers/cluster.js';
import { seededRandom, testSeed } from '../helpers/prng.js';

test('frames split at every byte boundary, or coalesced, decode to the same messages', () => {
  const messages: ContainerMessage[] = [
    { t: 'hb' },
    { t: 'predict', id: 3, type: 'doubles', n: 2, lens: [1, 2], data: new Uint8Array(24).fill(7) },
    { t: 'result', id: 3, outputs: [1, 'two', [3]] },
    { t: 'error', id: 4, message: 'boom' },
  ];
  const stream = Buffer.concat(messages.map(encodeFrame));
  const seed = testSeed();
  const rand = seededRandom(seed);
  for (let round = 0; round < 200; round++) {
    const decoder = new FrameDecoder();
    const out: ContainerMessage[] = [];
    let offset = 0;
    while (offset < stream.length) {
      const size = round === 0 ? 1 : 1 + Math.floor(rand() * 40);
      decoder.push(stream.subarray(offset, offset + size), (m) => out.push(m));
      offset += size;
    }
    assert.equal(out.length, messages.length, `seed ${seed} round ${round}`);
    assert.deepEqual(
      out.map((m) => m.t),
      messages.map((m) => m.t),
    );
    const predict = out[1] as Extract<ContainerMessage, { t: 'predict' }>;
    assert.deepEqual([...predict.data!], new Array(24).fill(7));
  }
});

test('a large frame arriving in many chunks, followed by a small one, decodes once and whole', () => {
  const data = new Uint8Array(1 << 20).map((_, i) => i % 251);
  const stream = Buffer.concat([encodeFrame({ t: 'result', id: 1, outputs: [data] }), encodeFrame({ t: 'hb' })]);
  const decoder = new FrameDecoder();
  const out: ContainerMessage[] = [];
  for (let offset = 0; offset < stream.length; offset += 1000) decoder.push(stream.subarray(offset, offset + 1000), (m) => out.push(m));
  assert.deepEqual(
    out.map((m) => m.t),
    ['result', 'hb'],
  );
  const got = (out[0] as Extract<ContainerMessage, { t: 'result' }>).outputs[0] as Uint8Array;
  assert.equal(got.length, data.length);
  assert.ok(Buffer.from(got).equals(Buffer.from(data)));
});

test('oversized and undecodable frames are protocol errors', () => {
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(0xffffffff);
  assert.throws(() => new FrameDecoder().push(huge, () => {}), ProtocolError);
  const notMap = Buffer.from([0, 0, 0, 1, 0x05]); // msgpack 5
  assert.throws(() => new FrameDecoder().push(notMap, () => {}), /message map/);
});

async function startRunner(t: TestContext, env: Record<string, string> = {}): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      kNodeRunnerPath,
      '--model',
      path.join(kExampleModels, 'sum_model.mjs'),
      '--name',
      'sum',
      '--version',
      '1',
      '--input-type',
      'doubles',
      '--isolate',
      'inline',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } },
  );
  t.after(() => {
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`runner exited ${code}`)));
  });
  return { port, child };
}

function connect(port: number): Promise<{ socket: net.Socket; next: () => Promise<ContainerMessage | 'closed'> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const decoder = new FrameDecoder();
    const queue: Array<ContainerMessage | 'closed'> = [];
    let waiter: ((m: ContainerMessage | 'closed') => void) | null = null;
    const deliver = (m: ContainerMessage | 'closed'): void => {
      if (waiter !== null) {
        const w = waiter;
        waiter = null;
        w(m);
      } else queue.push(m);
    };
    socket.on('data', (chunk: Buffer) => decoder.push(chunk, deliver));
    socket.on('close', () => deliver('closed'));
    socket.on('error', () => {});
    socket.once('connect', () =>
      resolve({
        socket,
        next: () =>
          queue.length > 0
            ? Promise.resolve(queue.shift()!)
            : new Promise((r) => {
                waiter = r;
              }),
      }),
    );
    socket.once('error', reject);
  });
}

const hello = { t: 'hello', protocol: 1, model: 'sum', version: '1', input_type: 'doubles', replica: 0, heartbeat_ms: 1000 } as const;

test('garbage on one connection closes that connection only', async (t) => {
  const { port } = await startRunner(t);
  const good = await connect(port);
  good.socket.write(encodeFrame(hello));
  assert.equal(((await good.next()) as ContainerMessage).t, 'ready');
  const bad = await connect(port);
  bad.socket.write(Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1])); // 0xc1 is never valid msgpack
  let m = await bad.next();
  if (m !== 'closed') {
    assert.equal(m.t, 'error');
    m = await bad.next();
  }
  assert.equal(m, 'closed');
  // The healthy connection still predicts, with its frame split into single bytes.
  const frame = encodeFrame({
    t: 'predict',
    id: 9,
    type: 'doubles',
    n: 1,
    lens: [2],
    data: new Uint8Array(new Float64Array([2, 3]).buffer),
  });
  for (const byte of frame) good.socket.write(Buffer.from([byte]));
  let reply = await good.next();
  while (reply !== 'closed' && reply.t === 'hb') reply = await good.next();
  assert.deepEqual(reply, { t: 'result', id: 9, outputs: [5] });
  good.socket.destroy();
});

test('a hello for another model, input type or protocol is refused with a fatal error', async (t) => {
  const { port } = await startRunner(t);
  for (const wrong of [{ model: 'other' }, { input_type: 'strings' }, { protocol: 2 }]) {
    const c = await connect(port);
    c.socket.write(encodeFrame({ ...hello, ...wrong }));
    const m = await c.next();
    assert.ok(m !== 'closed' && m.t === 'error' && m.id === undefined, JSON.stringify(m));
    assert.equal(await c.next(), 'closed');
  }
});

test('a runner given CLIPPER_REPLICA_SECRET answers each hello with the HMAC of its nonce, and never the secret', async (t) => {
  const secret = randomBytes(32);
  const { port } = await startRunner(t, { CLIPPER_REPLICA_SECRET: secret.toString('hex') });
  const nonces = [randomBytes(32), randomBytes(32)];
  const auths: Buffer[] = [];
  for (const nonce of nonces) {
    const c = await connect(port);
    c.socket.write(encodeFrame({ ...hello, replica: 2, nonce }));
    const ready = (await c.next()) as Extract<ContainerMessage, { t: 'ready' }>;
    assert.equal(ready.t, 'ready');
    assert.equal(checkReplicaAuth(secret, nonce, 'sum', '1', 2, ready.auth), null);
    assert.match(String(checkReplicaAuth(secret, nonce, 'sum', '1', 3, ready.auth)), /wrong auth/, 'bound to the replica id');
    assert.ok(!Buffer.from(encodeFrame(ready)).includes(secret), 'the secret is not on the wire');
    auths.push(Buffer.from(ready.auth!));
    c.socket.destroy();
  }
  assert.ok(!auths[0]!.equals(auths[1]!), 'each nonce gets its own MAC');
});

test('a runner started as replica 2 signs only for replica 2: a hello relayed from another replica gets no auth', async (t) => {
  const secret = randomBytes(32);
  const { port } = await startRunner(t, { CLIPPER_REPLICA_SECRET: secret.toString('hex'), CLIPPER_REPLICA_ID: '2' });
  for (const [replica, signed] of [
    [2, true],
    [0, false],
  ] as const) {
    const c = await connect(port);
    const nonce = randomBytes(32);
    c.socket.write(encodeFrame({ ...hello, replica, nonce }));
    const ready = (await c.next()) as Extract<ContainerMessage, { t: 'ready' }>;
    assert.equal(ready.t, 'ready');
    if (signed) assert.equal(checkReplicaAuth(secret, nonce, 'sum', '1', replica, ready.auth), null);
    else assert.equal(ready.auth, undefined, `no MAC for replica ${replica}`);
    c.socket.destroy();
  }
});

test('a runner without a secret answers ready without auth (a worker with replicaAuth required refuses it)', async (t) => {
  const { port } = await startRunner(t);
  const c = await connect(port);
  c.socket.write(encodeFrame({ ...hello, nonce: randomBytes(32) }));
  const ready = (await c.next()) as Extract<ContainerMessage, { t: 'ready' }>;
  assert.equal(ready.t, 'ready');
  assert.equal(ready.auth, undefined);
  c.socket.destroy();
});
