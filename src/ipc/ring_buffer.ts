// A single-producer single-consumer ring of variable-length records in a SharedArrayBuffer.
//
//   SharedArrayBuffer
//   ┌──────────────────────────── control: 512 bytes (Int32 slots) ─────────────────────────────┐
//   │ [0] head (bytes consumed, free-running u32; consumer writes)                               │
//   │ [32] tail (bytes produced, free-running u32; producer writes)   (own 128-byte line)        │
//   │ [64] waiting (1 while the consumer is about to sleep)   [65] bell (bumped to wake it)      │
//   │      (unless the ring was made with a shared bell: see below)                              │
//   ├──────────────────────────── data: capacityBytes (power of two) ────────────────────────────┤
//   │ record = [u32 bodyBytes][u32 tag][body …][pad to 8]   at 8-aligned offsets                  │
//   │ a record never wraps: when it does not fit before the end, the producer writes a          │
//   │ kWrapMarker length and the record starts again at offset 0                                 │
//   └────────────────────────────────────────────────────────────────────────────────────────────┘
//
// head == tail: empty. Used bytes = (tail - head) >>> 0 ≤ capacityBytes. The producer publishes a
// record by storing tail with Atomics (release); the consumer frees it by storing head. Wake-ups use
// the waiting/bell pair (see doorbell.ts). Several rings with one consumer thread (a batching
// worker's query rings, one per frontend; a frontend's reply rings, one per worker) share one pair
// in a small SharedArrayBuffer of its own (createBell), so that one doorbell watches them all and
// any of their producers wakes it. Records are 8-aligned so bodies can be read through
// Float64Array / Int32Array views without copying. Checks on the per-record path call assert.fail
// only on failure: assert() costs a few ns per call even when it holds.

import assert from 'node:assert/strict';
import { align8, kWrapMarker, wrapPadBytes } from '../lib/align.js';

const kControlBytes = 512;
const kHeadIdx = 0;
const kTailIdx = 32;
/** Byte offset of a ring's own waiting/bell pair in its control block (Int32 slots 64 and 65). */
const kOwnBellOffset = 256;
/** A shared bell's buffer: the pair, alone on its own 128-byte line. */
const kBellBytes = 128;
/** Slots of the waiting/bell pair, in a ring's `bell` view. */
export const kWaitingIdx = 0;
export const kBellIdx = 1;
const kRecordHeaderBytes = 8;

export interface RingBuffers {
  readonly sab: SharedArrayBuffer;
  readonly capacityBytes: number;
  /**
   * The waiting/bell pair shared with the other rings of the same consumer (createBell), or null:
   * the ring's own, in its control block. Rings of one doorbell share one (the same object: rings
   * posted to a thread together keep it so).
   */
  readonly bell: SharedArrayBuffer | null;
}

/** A waiting/bell pair for several rings that one consumer watches with one doorbell. */
export function createBell(): SharedArrayBuffer {
  return new SharedArrayBuffer(kBellBytes);
}

export function createRing(capacityBytes: number, bell: SharedArrayBuffer | null = null): RingBuffers {
  assert(Number.isInteger(capacityBytes) && capacityBytes >= 1024, 'ring capacity must be >= 1024 bytes');
  assert((capacityBytes & (capacityBytes - 1)) === 0, 'ring capacity must be a power of two');
  assert(bell === null || bell.byteLength === kBellBytes, 'a shared bell comes from createBell()');
  return { sab: new SharedArrayBuffer(kControlBytes + capacityBytes), capacityBytes, bell };
}

/** Shared views and arithmetic used by both ends. */
class RingView {
  readonly control: Int32Array;
  /** The waiting/bell pair ([kWaitingIdx], [kBellIdx]): the ring's own, or its consumer's shared one. */
  readonly bell: Int32Array;
  /** The shared bell's buffer (null: the ring's own pair), to tell which rings share one. */
  readonly sharedBell: SharedArrayBuffer | null;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly f64: Float64Array;
  readonly f32: Float32Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly buffer: Buffer;
  readonly capacityBytes: number;
  readonly mask: number;

  constructor(ring: RingBuffers) {
    this.capacityBytes = ring.capacityBytes;
    this.mask = ring.capacityBytes - 1;
    this.control = new Int32Array(ring.sab, 0, kControlBytes / 4);
    this.sharedBell = ring.bell;
    this.bell = this.sharedBell === null ? new Int32Array(ring.sab, kOwnBellOffset, 2) : new Int32Array(this.sharedBell, 0, 2);
    this.bytes = new Uint8Array(ring.sab, kControlBytes, ring.capacityBytes);
    this.view = new DataView(ring.sab, kControlBytes, ring.capacityBytes);
    this.f64 = new Float64Array(ring.sab, kControlBytes, ring.capacityBytes / 8);
    this.f32 = new Float32Array(ring.sab, kControlBytes, ring.capacityBytes / 4);
    this.i32 = new Int32Array(ring.sab, kControlBytes, ring.capacityBytes / 4);
    this.u32 = new Uint32Array(ring.sab, kControlBytes, ring.capacityBytes / 4);
    this.buffer = Buffer.from(ring.sab, kControlBytes, ring.capacityBytes);
  }

  usedBytes(): number {
    return (Atomics.load(this.control, kTailIdx) - Atomics.load(this.control, kHeadIdx)) >>> 0;
  }
}

export class RingProducer extends RingView {
  #tail: number;
  #wakeScheduled = false;
  #pendingOffset = -1;
  #pendingBytes = 0;

  constructor(ring: RingBuffers) {
    super(ring);
    this.#tail = Atomics.load(this.control, kTailIdx) >>> 0;
  }

  /** Whether a record with a body of `bodyBytes` can ever be reserved (at most half the ring). */
  recordFits(bodyBytes: number): boolean {
    return align8(kRecordHeaderBytes + bodyBytes) <= this.capacityBytes / 2;
  }

  /**
   * Reserve room for a record whose body is `bodyBytes` long. Returns the byte offset of the body
   * inside `bytes` (8-aligned), or -1 when the ring is full. Write the body, then call commit().
   */
  reserve(bodyBytes: number, tag: number): number {
    if (this.#pendingOffset !== -1) assert.fail('reserve() called twice without commit()');
    if (!this.recordFits(bodyBytes)) return -1;
    const recordBytes = align8(kRecordHeaderBytes + bodyBytes);
    const head = Atomics.load(this.control, kHeadIdx) >>> 0;
    let tail = this.#tail;
    let offset = tail & this.mask;
    const padBytes = wrapPadBytes(offset, recordBytes, this.capacityBytes);
    const usedBytes = (tail - head) >>> 0;
    if (usedBytes + padBytes + recordBytes > this.capacityBytes) return -1;
    if (padBytes > 0) {
      this.u32[offset >>> 2] = kWrapMarker;
      tail = (tail + padBytes) >>> 0;
      offset = 0;
    }
    this.u32[offset >>> 2] = bodyBytes;
    this.u32[(offset >>> 2) + 1] = tag;
    this.#tail = tail;
    this.#pendingOffset = offset;
    this.#pendingBytes = recordBytes;
    return offset + kRecordHeaderBytes;
  }

  /**
   * Publish the reserved record to the consumer. `bodyBytes`, when given, shrinks the record to
   * what was actually written (at most what was reserved).
   */
  commit(bodyBytes?: number): void {
    if (this.#pendingOffset === -1) assert.fail('commit() without reserve()');
    if (bodyBytes !== undefined) {
      const recordBytes = align8(kRecordHeaderBytes + bodyBytes);
      if (recordBytes > this.#pendingBytes) assert.fail('commit() with more bytes than reserved');
      this.u32[this.#pendingOffset >>> 2] = bodyBytes;
      this.#pendingBytes = recordBytes;
    }
    this.#tail = (this.#tail + this.#pendingBytes) >>> 0;
    this.#pendingOffset = -1;
    Atomics.store(this.control, kTailIdx, this.#tail | 0);
  }

  /** Drop the reserved record (for example when encoding failed half-way). */
  abort(): void {
    assert(this.#pendingOffset !== -1, 'abort() without reserve()');
    this.#pendingOffset = -1;
    // A wrap marker already written is harmless: tail was not published past it.
    this.#tail = Atomics.load(this.control, kTailIdx) >>> 0;
  }

  /**
   * Wake the consumer if it announced it is about to sleep. Cheap when it is awake. The notify
   * itself (a futex wake plus a task posted to the consumer's event loop, ~5 µs) is deferred to
   * setImmediate, which runs after this thread's I/O poll phase: every record published while
   * handling one batch of socket events then costs a single notify.
   */
  wake(): void {
    if (this.#wakeScheduled || Atomics.load(this.bell, kWaitingIdx) === 0) return;
    this.#wakeScheduled = true;
    setImmediate(this.#notify);
  }

  /** Wake the consumer now (not deferred), e.g. before a thread stops. */
  wakeNow(): void {
    this.#notify();
  }

  readonly #notify = (): void => {
    this.#wakeScheduled = false;
    const bell = this.bell;
    if (Atomics.load(bell, kWaitingIdx) === 0) return;
    Atomics.store(bell, kWaitingIdx, 0);
    Atomics.add(bell, kBellIdx, 1);
    Atomics.notify(bell, kBellIdx);
  };
}

/** Called once per record: body offset in `ring.bytes`, body length, tag. */
export type RecordVisitor = (bodyOffset: number, bodyBytes: number, tag: number) => void;

export class RingConsumer extends RingView {
  #head: number;

  constructor(ring: RingBuffers) {
    super(ring);
    this.#head = Atomics.load(this.control, kHeadIdx) >>> 0;
  }

  isEmpty(): boolean {
    return Atomics.load(this.control, kTailIdx) >>> 0 === this.#head;
  }

  /**
   * Visit every published record, then free them all. The visitor must copy what it keeps: the
   * bytes are reused once drain() returns. Returns the number of records visited.
   */
  drain(visit: RecordVisitor, recordCountMax = Infinity): number {
    const tail = Atomics.load(this.control, kTailIdx) >>> 0;
    let head = this.#head;
    let count = 0;
    while (head !== tail && count < recordCountMax) {
      const offset = head & this.mask;
      const bodyBytes = this.u32[offset >>> 2]!;
      if (bodyBytes === kWrapMarker) {
        head = (head + this.capacityBytes - offset) >>> 0;
        continue;
      }
      const tag = this.u32[(offset >>> 2) + 1]!;
      visit(offset + kRecordHeaderBytes, bodyBytes, tag);
      head = (head + align8(kRecordHeaderBytes + bodyBytes)) >>> 0;
      count++;
    }
    this.#head = head;
    Atomics.store(this.control, kHeadIdx, head | 0);
    return count;
  }
}
