import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { sampleIndex } from '../../src/selection/policies/sample_index.js';
import { SnapshotReader, SnapshotWriter, createSnapshotBuffer } from '../../src/selection/weights_snapshot.js';
import { Prng } from '../../src/lib/prng.js';

test('nothing published → read returns false and leaves the buffer alone', () => {
  const sab = createSnapshotBuffer(4);
  const reader = new SnapshotReader(sab);
  const into = Float64Array.of(9, 9, 9, 9);
  assert.equal(reader.read(into), false);
  assert.deepEqual(Array.from(into), [9, 9, 9, 9]);
  assert.equal(reader.version, 0);
});

test('publish then read: values, count, mode, version', () => {
  const sab = createSnapshotBuffer(4);
  const writer = new SnapshotWriter(sab);
  const reader = new SnapshotReader(sab);
  const into = new Float64Array(4);
  writer.publish(Float64Array.of(0.2, 0.3, 0.5));
  assert.equal(reader.read(into), true);
  assert.deepEqual(Array.from(into.subarray(0, reader.count)), [0.2, 0.3, 0.5]);
  assert.equal(reader.mode, 'one');
  assert.equal(reader.version, 1);
  writer.publish(Float64Array.of(0.6, 0.4), 'all');
  assert.equal(reader.read(into), true);
  assert.equal(reader.count, 2);
  assert.deepEqual(Array.from(into.subarray(0, 2)), [0.6, 0.4]);
  assert.equal(reader.mode, 'all');
  assert.equal(reader.version, 2);
  assert.equal(writer.version, 2);
  assert.throws(() => writer.publish(new Float64Array(5)));
  assert.throws(() => reader.read(new Float64Array(1)), RangeError);
});

test('a publish stuck mid-way → bounded retries, then the last good copy', () => {
  const sab = createSnapshotBuffer(3);
  const writer = new SnapshotWriter(sab);
  const reader = new SnapshotReader(sab, 8);
  writer.publish(Float64Array.of(1, 2, 3));
  const into = new Float64Array(3);
  assert.equal(reader.read(into), true);
  // Simulate a writer descheduled mid-publish: seq odd, values half-written.
  const ctl = new Int32Array(sab, 0, 4);
  Atomics.add(ctl, 0, 1);
  new Float64Array(sab, 16, 3).set([7, 7]);
  into.fill(0);
  assert.equal(reader.read(into), true);
  assert.deepEqual(Array.from(into), [1, 2, 3]);
  assert.equal(reader.staleReadCount, 1);
  const fresh = new SnapshotReader(sab, 8); // never saw a good copy
  assert.equal(fresh.read(into), false);
  Atomics.add(ctl, 0, 1); // the publish completes
  assert.equal(reader.read(into), true);
  assert.deepEqual(Array.from(into), [7, 7, 3]);
});

test('sampleIndex: proportional, skips non-positive, -1 when empty', () => {
  const probs = Float64Array.of(0.25, 0, 0.75);
  assert.equal(sampleIndex(probs, 0), 0);
  assert.equal(sampleIndex(probs, 0.2499), 0);
  assert.equal(sampleIndex(probs, 0.25), 2);
  assert.equal(sampleIndex(probs, 0.999999), 2);
  assert.equal(sampleIndex(Float64Array.of(2, 6), 0.3), 1); // unnormalised weights
  assert.equal(sampleIndex(Float64Array.of(1, 1, 1), 0.9, 2), 1); // count limits the range
  assert.equal(sampleIndex(Float64Array.of(0, NaN, -1), 0.5), -1);
  const prng = new Prng(10);
  const counts = [0, 0, 0];
  for (let i = 0; i < 10_000; i++) counts[sampleIndex(probs, prng.next())]!++;
  assert.equal(counts[1], 0);
  assert.ok(Math.abs(counts[0]! / 10_000 - 0.25) < 0.03, String(counts));
});

test('seqlock: a reader never sees a torn snapshot under a concurrent writer thread', async () => {
  const capacity = 8;
  const sab = createSnapshotBuffer(capacity);
  const control = new SharedArrayBuffer(16);
  const ctl = new Int32Array(control);
  const worker = new Worker(new URL('../fixtures/selection_snapshot_writer.js', import.meta.url), {
    workerData: { sab, control, durationMs: 1000 },
  });
  const exited = new Promise<number>((resolve, reject) => {
    worker.once('exit', resolve);
    worker.once('error', reject);
  });
  try {
    const startDeadline = performance.now() + 10_000;
    while (Atomics.load(ctl, 0) === 0 && performance.now() < startDeadline) await new Promise((r) => setTimeout(r, 1));
    assert.equal(Atomics.load(ctl, 0), 1, 'writer thread did not start');

    const reader = new SnapshotReader(sab);
    const into = new Float64Array(capacity);
    const readDeadline = performance.now() + 5_000; // the writer stops after ~1 s
    let reads = 0;
    let lastGen = 0;
    const gens = new Set<number>();
    while (Atomics.load(ctl, 1) === 0 && performance.now() < readDeadline) {
      if (!reader.read(into)) continue; // nothing published yet
      reads++;
      const g = into[0]!;
      const count = reader.count;
      // Internally consistent: every value the same generation, count and mode derived from it.
      assert.ok(Number.isInteger(g) && g >= 1, `generation ${g}`);
      assert.equal(count, 1 + (g % capacity), `count ${count} for generation ${g}`);
      for (let i = 1; i < count; i++) if (into[i] !== g) assert.fail(`torn read: value[${i}] = ${into[i]} in generation ${g}`);
      assert.equal(reader.mode, g % 2 === 0 ? 'all' : 'one');
      assert.ok(g >= lastGen, `generation went back from ${lastGen} to ${g}`);
      lastGen = g;
      gens.add(g);
    }
    assert.ok(reads > 0);
    assert.ok(gens.size > 1, `only ${gens.size} generation(s) observed`);
    assert.ok(lastGen <= Atomics.load(ctl, 2) || Atomics.load(ctl, 1) === 0);
  } finally {
    Atomics.store(ctl, 3, 1);
    await exited;
  }
});
