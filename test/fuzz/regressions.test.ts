// The counterexamples the fuzzers found, each kept as a plain test of the fix (docs/reliability.md,
// "3. Fuzzing the parsers", lists them).
import assert from 'node:assert/strict';
import { AssertionError } from 'node:assert';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { pack, unpack } from 'msgpackr';
import { Redis } from 'ioredis';
import { decodeInputs, runPredict, type WireBatch } from '../../containers/node/model_host.js';
import { ClipperError } from '../../src/errors.js';
import { decodeMessage, errorFrame, messageKind } from '../../src/frontend/stream_frames.js';
import { InputTypeCode } from '../../src/input_types.js';
import { copyQueryPayload } from '../../src/ipc/records.js';
import { encodeFrame, FrameDecoder, type ContainerMessage } from '../../src/rpc/protocol.js';
import { ReplicaConnection } from '../../src/rpc/replica_connection.js';
import { createRing, RingConsumer } from '../../src/ipc/ring_buffer.js';
import { parseStoredApp, parseStoredModel, readChangeMessage } from '../../src/state/record_check.js';
import { applyChange } from '../../src/state/apply_change.js';
import { redisKeys } from '../../src/state/redis_keys.js';
import { RedisStateStore } from '../../src/state/redis_store.js';
import { appRecord } from '../helpers/cluster.js';
import { deleteClusterKeys, kRedisUrl, redisAnswers, uniqueCluster } from '../helpers/redis.js';
import { arrayBufferOf } from './fuzz_property.js';
import { startRunner } from './peer_properties.js';

test('a stream message whose type is a msgpack uint64 (a bigint) gets a 400 error frame, not a 500', () => {
  const frame = pack({ id: 1, type: 2n ** 64n - 1n });
  const msg = decodeMessage(arrayBufferOf(frame), true);
  assert.equal(typeof msg.type, 'bigint');
  assert.throws(
    () => messageKind(msg),
    (err: unknown) => err instanceof ClipperError && err.code === 'CLP_ERR_JSON_SCHEMA' && /a value of type bigint/.test(err.message),
  );
  let err: unknown;
  try {
    messageKind(msg);
  } catch (e) {
    err = e;
  }
  const out = unpack(errorFrame(msg.id, true, err) as Uint8Array) as { id: number; code: string };
  assert.deepEqual([out.id, out.code], [1, 'CLP_ERR_JSON_SCHEMA']);
});

test('the runner refuses a predict frame whose n is huge before looping to it (was: out of memory)', async () => {
  const batch = { type: 'strings', n: 2 ** 31, items: ['a'] } as WireBatch;
  assert.throws(() => decodeInputs(batch), /1 items for 2147483648 inputs/);
  await assert.rejects(
    runPredict((x) => x, batch),
    /items/,
  );
  assert.throws(() => decodeInputs({ type: 'doubles', n: -1 }), /invalid input count/);
  assert.throws(() => decodeInputs({ type: 'doubles', n: 1, lens: [1], data: 'abcdefgh' as never }), /data must be bytes/);
  assert.deepEqual(decodeInputs({ type: 'strings', n: 2, items: ['a', 'b'] }), ['a', 'b']);
});

test('a query record running past the ring, or of an unknown input type, is refused (was: copied short)', () => {
  const ring = new RingConsumer(createRing(4096));
  ring.u32[16 >>> 2] = InputTypeCode.Doubles;
  ring.u32[20 >>> 2] = 509; // 32 + 509 * 8 = 4104 bytes from offset 0: past the 4096-byte ring
  assert.throws(() => copyQueryPayload(ring, 0, 32 + 509 * 8), AssertionError);
  ring.u32[16 >>> 2] = 7;
  ring.u32[20 >>> 2] = 2;
  assert.throws(() => copyQueryPayload(ring, 0, 40), /unknown input type/);
  ring.u32[16 >>> 2] = InputTypeCode.Integers;
  assert.equal(copyQueryPayload(ring, 0, 40).length, 8);
});

test('state records read back: corrupt or hand-edited values are reported, never handed on', () => {
  const good = appRecord('a', 'doubles', ['m']);
  assert.deepEqual(parseStoredApp('a', JSON.stringify(good)), good);
  const corrupt = (fn: () => unknown, pattern: RegExp): void => {
    assert.throws(fn, (err: unknown) => err instanceof ClipperError && err.code === 'CLP_ERR_STATE_CORRUPT' && pattern.test(err.message));
  };
  corrupt(() => parseStoredApp('a', '{"name":"a",'), /app "a" is not valid JSON/);
  corrupt(() => parseStoredApp('a', JSON.stringify({ ...good, linked_models: 'm' })), /"linked_models" is not an array of strings/);
  corrupt(() => parseStoredApp('a', JSON.stringify({ ...good, name: 'b' })), /stored under "a" but names itself "b"/);
  corrupt(() => parseStoredModel('m:1', '[]'), /model "m:1" is not a JSON object/);
  corrupt(() => readChangeMessage('{"seq":1,"writer":"w","change":{"kind":"app_put","app":null}}'), /change app_put is not a JSON object/);
  corrupt(() => readChangeMessage('{"seq":"1","writer":"w","change":{}}'), /"seq"/);
});

test('a hello whose fields break string conversion is refused by the runner, which stays up (was: the runner exited)', async (t) => {
  const runner = await startRunner();
  t.after(() => runner.stop());
  const socket = net.connect(runner.port, '127.0.0.1');
  const decoder = new FrameDecoder();
  const got: ContainerMessage[] = [];
  socket.on('data', (d: Buffer) => decoder.push(d, (m) => got.push(m)));
  await once(socket, 'connect');
  const hostile = { toString: 1, valueOf: 2 };
  socket.end(
    encodeFrame({ t: 'hello', protocol: hostile, model: 'm', version: '1', input_type: 'doubles', replica: 0, heartbeat_ms: 1 } as never),
  );
  await once(socket, 'close');
  assert.equal(got[0]?.t, 'error');
  assert.match(String((got[0] as { message: string }).message), /protocol a value of type object not supported/);
  assert.equal(runner.child.exitCode, null);
});

test('a batch error whose message is not a string still fails that batch (was: the batch vanished)', async (t) => {
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    socket.on('data', (d: Buffer) =>
      decoder.push(d, (m) => {
        if (m.t === 'hello')
          socket.write(encodeFrame({ t: 'ready', protocol: 1, model: 'm', version: '1', input_type: 'doubles', pid: 1, runtime: 'x' }));
        if (m.t === 'predict') socket.write(encodeFrame({ t: 'error', id: m.id, message: { toString: 1 } } as never));
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const failed = new Promise<string>((resolve) => {
    const address = { model: 'm', version: '1', inputType: 'doubles', replicaId: 0, host: '127.0.0.1', port, secret: null };
    const options = {
      heartbeatMs: 60_000,
      livenessTimeoutMs: 60_000,
      handshakeTimeoutMs: 60_000,
      reconnectDelayMsMin: 60_000,
      reconnectDelayMsMax: 60_000,
    };
    const conn: ReplicaConnection = new ReplicaConnection(address, options, {
      onReady: () => conn.send({ t: 'predict', id: 5, type: 'doubles', n: 0, lens: [], data: Buffer.alloc(0) }),
      onDown: () => {},
      onResult: () => {},
      onBatchError: (_c, id, message) => {
        conn.close();
        resolve(`${id}: ${message}`);
      },
    });
  });
  assert.equal(await failed, '5: a value of type object');
});

const redisUp = await redisAnswers(6379);

test('a Redis store skips a corrupt record and resyncs past a malformed change message', {
  skip: redisUp ? false : 'no Redis at 127.0.0.1:6379',
}, async (t) => {
  const cluster = uniqueCluster();
  const keys = redisKeys(cluster);
  const raw = new Redis(kRedisUrl);
  t.after(async () => {
    raw.disconnect();
    await deleteClusterKeys(kRedisUrl, cluster);
  });
  const good = appRecord('good', 'doubles', []);
  await raw.hset(
    keys.apps,
    'good',
    JSON.stringify(good),
    'broken',
    '{"name":"broken"',
    'edited',
    JSON.stringify({ ...good, name: 'edited', latency_slo_micros: 'fast' }),
  );
  await raw.hset(keys.models, 'm:1', '{"model_name":"m","model_version":"1"}');
  const store = new RedisStateStore(kRedisUrl, { clusterName: cluster });
  t.after(() => store.close());
  const snapshot = await store.open();
  assert.deepEqual([...snapshot.apps.keys()], ['good']);
  assert.equal(snapshot.models.size, 0);
  // A hand-made message on the change channel: the store drops it (a resync) and goes on.
  let view = snapshot;
  store.subscribe((change) => {
    view = applyChange(view, change);
  });
  await raw.publish(keys.channel, '{"seq":1,"writer":"x","change":{"kind":"app_put","app":{"name":7}}}');
  await store.putApp(appRecord('later', 'doubles', []));
  assert.deepEqual([...view.apps.keys()].sort(), ['good', 'later']);
});

test('a hand-edited change counter is reported, and the snapshot still loads', {
  skip: redisUp ? false : 'no Redis at 127.0.0.1:6379',
}, async (t) => {
  const cluster = uniqueCluster();
  const keys = redisKeys(cluster);
  const raw = new Redis(kRedisUrl);
  t.after(async () => {
    raw.disconnect();
    await deleteClusterKeys(kRedisUrl, cluster);
  });
  await raw.hset(keys.apps, 'good', JSON.stringify(appRecord('good', 'doubles', [])));
  await raw.set(keys.seq, 'not a number');
  const store = new RedisStateStore(kRedisUrl, { clusterName: cluster });
  t.after(() => store.close());
  const snapshot = await store.open();
  assert.deepEqual([...snapshot.apps.keys()], ['good']);
  // Read as 0, the next change (seq 1) is delivered as itself (a NaN counter made every change a resync, forever).
  const first = new Promise<string>((resolve) => {
    store.subscribe((change) => resolve(change.kind));
    setTimeout(() => resolve('nothing within 10 s'), 10_000).unref(); // a bound, not a speed check
  });
  const change = { kind: 'app_put', app: appRecord('pub', 'doubles', []) };
  await raw.publish(keys.channel, JSON.stringify({ seq: 1, writer: 'x', change }));
  assert.equal(await first, 'app_put');
});
