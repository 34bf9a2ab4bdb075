// Publishing a policy's snapshot (selection probabilities or combine weights, one Float64 per linked
// model) from the selection worker to query-path readers in other threads, lock-free on the read side.
//
//   SharedArrayBuffer (16 + 8·capacity bytes)
//   ┌─ Int32 header ────────────────────────────────────────────────────────────┐
//   │ [0] seq    even: stable; odd: a publish is in progress. Bumped twice per   │
//   │            publish, so seq/2 = number of completed publishes (0 = none)    │
//   │ [1] count  values in this snapshot (≤ capacity)                            │
//   │ [2] mode   0 = probabilities, sample one model; 1 = weights, query all     │
//   │ [3] —                                                                     │
//   ├─ Float64 values[capacity] ────────────────────────────────────────────────┤
//   └───────────────────────────────────────────────────────────────────────────┘
//
// A seqlock. There is exactly one writer per buffer (the selection worker): it bumps seq to odd,
// writes count, mode and the values with plain stores, then bumps seq to even. A reader loads seq
// (retrying while odd), copies the values with plain loads, and loads seq again; if it changed, the
// copy may be torn (a Float64 may even be half-written), so it retries. The Atomics operations are
// sequentially consistent and order the plain accesses between them. After `retriesMax` failed tries
// (the writer was descheduled mid-publish) the reader returns its last good copy instead of waiting:
// the query path never blocks on the worker.

import assert from 'node:assert/strict';
import type { SelectionMode } from './policies/policy.js';

const kHeaderBytes = 16;
const kSeqIdx = 0;
const kCountIdx = 1;
const kModeIdx = 2;
export const kReadRetriesMaxDefault = 64;

export function createSnapshotBuffer(capacity: number): SharedArrayBuffer {
  assert(Number.isInteger(capacity) && capacity >= 1, 'snapshot capacity must be an integer >= 1');
  return new SharedArrayBuffer(kHeaderBytes + 8 * capacity);
}

function capacityOf(sab: SharedArrayBuffer): number {
  const capacity = (sab.byteLength - kHeaderBytes) / 8;
  assert(Number.isInteger(capacity) && capacity >= 1, 'not a snapshot buffer (use createSnapshotBuffer)');
  return capacity;
}

export class SnapshotWriter {
  readonly capacity: number;
  readonly #ctl: Int32Array;
  readonly #values: Float64Array;

  constructor(sab: SharedArrayBuffer) {
    this.capacity = capacityOf(sab);
    this.#ctl = new Int32Array(sab, 0, kHeaderBytes / 4);
    this.#values = new Float64Array(sab, kHeaderBytes, this.capacity);
    assert((Atomics.load(this.#ctl, kSeqIdx) & 1) === 0, 'snapshot buffer was left mid-publish (two writers?)');
  }

  publish(values: Float64Array, mode: SelectionMode = 'one'): void {
    assert(values.length <= this.capacity, `snapshot has ${values.length} values, capacity ${this.capacity}`);
    const ctl = this.#ctl;
    Atomics.add(ctl, kSeqIdx, 1); // → odd
    ctl[kCountIdx] = values.length;
    ctl[kModeIdx] = mode === 'all' ? 1 : 0;
    this.#values.set(values);
    Atomics.add(ctl, kSeqIdx, 1); // → even
  }

  /** Number of completed publishes. */
  get version(): number {
    return Atomics.load(this.#ctl, kSeqIdx) >>> 1;
  }
}

export class SnapshotReader {
  readonly capacity: number;
  readonly retriesMax: number;
  readonly #ctl: Int32Array;
  readonly #values: Float64Array;
  readonly #lastGood: Float64Array;
  #lastSeq = 0;
  #hasGood = false;
  #count = 0;
  #mode: SelectionMode = 'one';
  /** Reads that ran out of retries and served the last good copy. */
  staleReadCount = 0;

  constructor(sab: SharedArrayBuffer, retriesMax = kReadRetriesMaxDefault) {
    assert(Number.isInteger(retriesMax) && retriesMax >= 1, 'retriesMax must be an integer >= 1');
    this.capacity = capacityOf(sab);
    this.retriesMax = retriesMax;
    this.#ctl = new Int32Array(sab, 0, kHeaderBytes / 4);
    this.#values = new Float64Array(sab, kHeaderBytes, this.capacity);
    this.#lastGood = new Float64Array(this.capacity);
  }

  /**
   * Copies the newest consistent snapshot into `into[0 … count)` and returns true; if the writer is
   * mid-publish for `retriesMax` tries, copies the last good snapshot instead (also true). Returns
   * false, leaving `into` untouched, only when no snapshot was ever read (nothing published yet).
   * `count` and `mode` describe what was copied.
   */
  read(into: Float64Array): boolean {
    const ctl = this.#ctl;
    for (let attempt = 0; attempt < this.retriesMax; attempt++) {
      const seq = Atomics.load(ctl, kSeqIdx);
      if ((seq & 1) !== 0) continue;
      if (seq === this.#lastSeq) return this.#serveLastGood(into);
      const count = ctl[kCountIdx]!;
      const modeCode = ctl[kModeIdx]!;
      const n = Math.min(count, into.length, this.capacity);
      const values = this.#values;
      for (let i = 0; i < n; i++) into[i] = values[i]!;
      if (Atomics.load(ctl, kSeqIdx) !== seq) continue;
      // A consistent copy: its count was written by publish(), which holds it within the capacity.
      if (count < 0 || count > this.capacity) assert.fail('snapshot count out of bounds');
      if (count > into.length) throw new RangeError(`read buffer holds ${into.length} values, snapshot has ${count}`);
      this.#lastGood.set(into.subarray(0, count));
      this.#lastSeq = seq;
      this.#hasGood = true;
      this.#count = count;
      this.#mode = modeCode === 1 ? 'all' : 'one';
      return true;
    }
    this.staleReadCount++;
    return this.#serveLastGood(into);
  }

  #serveLastGood(into: Float64Array): boolean {
    if (!this.#hasGood) return false;
    const count = this.#count;
    if (count > into.length) throw new RangeError(`read buffer holds ${into.length} values, snapshot has ${count}`);
    const last = this.#lastGood;
    for (let i = 0; i < count; i++) into[i] = last[i]!;
    return true;
  }

  get count(): number {
    return this.#count;
  }

  get mode(): SelectionMode {
    return this.#mode;
  }

  /** Publish number of the snapshot last returned (0 = none). */
  get version(): number {
    return this.#lastSeq >>> 1;
  }
}
