// Doorbell: the consumer of a ring sleeps without a syscall per record and is woken by the producer;
// a consumer that asks not to be woken is not; low-load polling picks up records that were never
// notified, only while records arrive often, inside its window, and when the owner allows it. One
// doorbell watches several rings that share a bell (a worker's query rings, one per frontend): any
// of their producers wakes it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Doorbell, type DoorbellOptions } from '../../src/ipc/doorbell.js';
import { createBell, createRing, RingConsumer, RingProducer } from '../../src/ipc/ring_buffer.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A ring with a doorbell that counts what it drained; waits time out after a minute, so only a notify or polling delivers. */
function harness(options: Partial<DoorbellOptions>) {
  const ring = createRing(64 * 1024);
  const producer = new RingProducer(ring);
  const consumer = new RingConsumer(ring);
  let received = 0;
  const doorbell = new Doorbell(consumer, { spinCount: 0, waitTimeoutMs: 60_000, ...options }, () => {
    received += consumer.drain(() => {});
  });
  const publish = (notify: boolean): void => {
    assert.ok(producer.reserve(8, 1) >= 0);
    producer.commit();
    if (notify) producer.wake();
  };
  // A pending Atomics.waitAsync does not keep the event loop alive: hold it while the test runs.
  const keepAlive = setInterval(() => {}, 1000);
  const close = (): void => {
    doorbell.close();
    clearInterval(keepAlive);
  };
  return { doorbell, publish, received: () => received, close };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleepMs(1);
  }
}

/** Publish `count` notified records, each after the previous one was drained (a steady stream). */
async function stream(h: ReturnType<typeof harness>, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const before = h.received();
    h.publish(true);
    await until(() => h.received() > before, `record ${i}`);
  }
}

test('a sleeping consumer is woken by the producer and drains every record', async (t) => {
  const h = harness({});
  t.after(h.close);
  h.doorbell.start();
  await until(() => h.doorbell.sleeping, 'the consumer to sleep');
  for (let i = 0; i < 5; i++) h.publish(true);
  await until(() => h.received() === 5, 'five records');
});

test('a consumer that does not want to be woken is not; rearm() takes what was published meanwhile', async (t) => {
  let wants = false;
  const h = harness({ wantsWake: () => wants });
  t.after(h.close);
  h.doorbell.start();
  await until(() => h.doorbell.sleeping, 'the consumer to sleep');
  h.publish(true);
  await sleepMs(50);
  assert.equal(h.received(), 0, 'not woken while it said it could not act');
  wants = true;
  h.doorbell.rearm();
  await until(() => h.received() === 1, 'the record, after rearm');
});

test('low-load polling: after a steady stream, a record that was never notified is still picked up', async (t) => {
  const h = harness({ pollUs: 500_000 });
  t.after(h.close);
  h.doorbell.start();
  await stream(h, 30);
  assert.equal(h.doorbell.sleeping, false, 'polling, not asleep');
  h.publish(false);
  await until(() => h.received() === 31, 'the unnotified record');
});

test('no polling without a window, or when the owner says no', async (t) => {
  for (const options of [{ pollUs: 0 }, { pollUs: 500_000, shouldPoll: () => false }]) {
    const h = harness(options);
    t.after(h.close);
    h.doorbell.start();
    await stream(h, 30);
    await until(() => h.doorbell.sleeping, `the consumer to sleep (${JSON.stringify(options)})`);
    h.publish(false);
    await sleepMs(50);
    assert.equal(h.received(), 30, `an unnotified record waits for the next notify (${JSON.stringify(options)})`);
    h.publish(true);
    await until(() => h.received() === 32, 'both records once notified');
  }
});

test('polling stops when records stop: the consumer sleeps once its window has passed', async (t) => {
  const h = harness({ pollUs: 20_000 });
  t.after(h.close);
  h.doorbell.start();
  await stream(h, 30);
  await until(() => h.doorbell.sleeping, 'the consumer to sleep after its window');
  for (let i = 0; i < 3; i++) await turn();
  assert.equal(h.doorbell.sleeping, true);
});

test('polling needs records to come often: a slow stream never starts it', async (t) => {
  const h = harness({ pollUs: 2_000 }); // polls only while records come < 4 ms apart (smoothed)
  t.after(h.close);
  h.doorbell.start();
  for (let i = 0; i < 10; i++) {
    await stream(h, 1);
    await sleepMs(20);
    assert.equal(h.doorbell.sleeping, true, `asleep between records ${i} and ${i + 1}, 20 ms apart`);
  }
});

/** A worker's query rings from `frontends` frontends, sharing one bell, under one doorbell. */
function sharedHarness(frontends: number, options: Partial<DoorbellOptions> = {}) {
  const bell = createBell();
  const rings = Array.from({ length: frontends }, () => createRing(64 * 1024, bell));
  const producers = rings.map((ring) => new RingProducer(ring));
  const consumers = rings.map((ring) => new RingConsumer(ring));
  const received = consumers.map(() => 0);
  let readyCount = 0;
  const doorbell = new Doorbell(consumers, { spinCount: 0, waitTimeoutMs: 60_000, ...options }, () => {
    readyCount++;
    for (const [k, consumer] of consumers.entries()) received[k]! += consumer.drain(() => {});
  });
  const publish = (k: number, notify = true): void => {
    assert.ok(producers[k]!.reserve(8, 1) >= 0);
    producers[k]!.commit();
    if (notify) producers[k]!.wake();
  };
  const keepAlive = setInterval(() => {}, 1000);
  const close = (): void => {
    doorbell.close();
    clearInterval(keepAlive);
  };
  return { doorbell, publish, received, readyCount: () => readyCount, close };
}

test('one doorbell over 3 frontends’ rings: asleep, it is woken by the producer of frontend 2', async (t) => {
  const h = sharedHarness(3);
  t.after(h.close);
  h.doorbell.start();
  await until(() => h.doorbell.sleeping, 'the worker to sleep');
  h.publish(2);
  await until(() => h.received[2] === 1, "frontend 2's record");
  assert.deepEqual(h.received, [0, 0, 1]);
  await until(() => h.doorbell.sleeping, 'the worker to sleep again');
  // Every frontend publishes while it sleeps: one wake takes them all (one drain, one batch).
  const before = h.readyCount();
  h.publish(0);
  h.publish(1);
  h.publish(2);
  await until(() => h.received.every((n, k) => n === (k === 2 ? 2 : 1)), 'a record from each frontend');
  assert.ok(h.readyCount() - before <= 3, 'drained together, not once per ring per record');
});

test('a record published without a notify on one ring is found by the re-check a notify on another triggers', async (t) => {
  const h = sharedHarness(3);
  t.after(h.close);
  h.doorbell.start();
  await until(() => h.doorbell.sleeping, 'the worker to sleep');
  h.publish(0, false);
  await sleepMs(30);
  assert.deepEqual(h.received, [0, 0, 0], 'no notify, no wake (the wait lasts a minute)');
  h.publish(1);
  await until(() => h.received[0] === 1 && h.received[1] === 1, 'both records');
});

test('rings that do not share a bell cannot share a doorbell', () => {
  const consumers = [createRing(1024), createRing(1024)].map((ring) => new RingConsumer(ring));
  assert.throws(() => new Doorbell(consumers, { spinCount: 0, waitTimeoutMs: 1 }, () => {}), /share one bell/);
  const bell = createBell();
  const mixed = [createRing(1024, bell), createRing(1024, createBell())].map((ring) => new RingConsumer(ring));
  assert.throws(() => new Doorbell(mixed, { spinCount: 0, waitTimeoutMs: 1 }, () => {}), /share one bell/);
  assert.throws(() => new Doorbell([], { spinCount: 0, waitTimeoutMs: 1 }, () => {}), /at least one ring/);
});
