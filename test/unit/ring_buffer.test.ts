import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createRing, RingConsumer, RingProducer } from '../../src/ipc/ring_buffer.js';
import { seededRandom, testSeed } from '../helpers/prng.js';

function pushBytes(p: RingProducer, tag: number, bytes: Uint8Array): boolean {
  const body = p.reserve(bytes.length, tag);
  if (body < 0) return false;
  p.bytes.set(bytes, body);
  p.commit();
  return true;
}

test('records come out in order with their tags and bytes', () => {
  const ring = createRing(1024);
  const p = new RingProducer(ring);
  const c = new RingConsumer(ring);
  assert.ok(c.isEmpty());
  assert.ok(pushBytes(p, 7, new Uint8Array([1, 2, 3])));
  assert.ok(pushBytes(p, 9, new Uint8Array([])));
  const seen: Array<[number, number[]]> = [];
  const n = c.drain((body, len, tag) => seen.push([tag, [...c.bytes.subarray(body, body + len)]]));
  assert.equal(n, 2);
  assert.deepEqual(seen, [
    [7, [1, 2, 3]],
    [9, []],
  ]);
  assert.ok(c.isEmpty());
});

test('a full ring refuses a record instead of overwriting, and accepts it after a drain', () => {
  const ring = createRing(1024);
  const p = new RingProducer(ring);
  const c = new RingConsumer(ring);
  let pushed = 0;
  while (pushBytes(p, 1, new Uint8Array(100))) pushed++;
  assert.ok(pushed >= 8 && pushed <= 10, `pushed ${pushed}`);
  assert.equal(
    c.drain(() => {}),
    pushed,
  );
  assert.ok(pushBytes(p, 1, new Uint8Array(100)));
});

test('a record larger than half the ring is refused', () => {
  const ring = createRing(1024);
  const p = new RingProducer(ring);
  assert.equal(p.reserve(600, 1), -1);
});

test('commit can shrink a record to what was written', () => {
  const ring = createRing(1024);
  const p = new RingProducer(ring);
  const c = new RingConsumer(ring);
  const body = p.reserve(300, 3);
  p.bytes.set([5, 6], body);
  p.commit(2);
  const lens: number[] = [];
  c.drain((_b, len) => lens.push(len));
  assert.deepEqual(lens, [2]);
  assert.ok(p.usedBytes() === 0);
});

test('fuzz: the ring behaves like a FIFO of byte strings across many wraps (seeded)', (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed}`);
  const rand = seededRandom(seed);
  const ring = createRing(4096);
  const p = new RingProducer(ring);
  const c = new RingConsumer(ring);
  const model: Array<{ tag: number; bytes: number[] }> = [];
  let produced = 0;
  for (let step = 0; step < 20_000; step++) {
    if (rand() < 0.55) {
      const len = Math.floor(rand() * 300);
      const bytes = Array.from({ length: len }, () => Math.floor(rand() * 256));
      const tag = Math.floor(rand() * 1000);
      if (pushBytes(p, tag, Uint8Array.from(bytes))) {
        model.push({ tag, bytes });
        produced++;
      } else {
        // A record of at most a quarter of the ring is refused only when the ring holds data.
        assert.ok(p.usedBytes() > 0, `seed ${seed}: refused into an empty ring`);
      }
    } else {
      const max = 1 + Math.floor(rand() * 5);
      c.drain((body, len, tag) => {
        const expected = model.shift();
        assert.ok(expected !== undefined, `seed ${seed}: record out of nowhere`);
        assert.equal(tag, expected.tag, `seed ${seed}`);
        assert.deepEqual([...c.bytes.subarray(body, body + len)], expected.bytes, `seed ${seed}`);
      }, max);
    }
  }
  c.drain((_b, _l, tag) => assert.equal(tag, model.shift()!.tag));
  assert.equal(model.length, 0);
  assert.ok(produced > 1000);
});

test('producer and consumer on different threads: every record arrives once, in order', async () => {
  const ring = createRing(8192);
  const count = 50_000;
  const producerCode = `
    const { workerData } = require('node:worker_threads');
    import(workerData.modulePath).then(({ RingProducer }) => {
      const p = new RingProducer(workerData.ring);
      let i = 0;
      while (i < workerData.count) {
        const body = p.reserve(8, 1);
        if (body < 0) continue;
        p.u32[body >>> 2] = i; p.u32[(body >>> 2) + 1] = i ^ 0x5a5a5a5a;
        p.commit(); i++;
      }
    });`;
  const modulePath = new URL('../../src/ipc/ring_buffer.js', import.meta.url).href;
  const worker = new Worker(producerCode, { eval: true, workerData: { ring, count, modulePath } });
  const c = new RingConsumer(ring);
  let next = 0;
  const deadline = Date.now() + 30_000;
  while (next < count && Date.now() < deadline) {
    c.drain((body) => {
      assert.equal(c.u32[body >>> 2], next);
      assert.equal(c.u32[(body >>> 2) + 1], (next ^ 0x5a5a5a5a) >>> 0);
      next++;
    });
    await new Promise((r) => setImmediate(r));
  }
  await worker.terminate();
  assert.equal(next, count);
});
