// An open-addressed hash index from a 32-bit hash to a record offset, in two typed arrays (no JS
// object per entry): linear probing, and backward-shift deletion (no tombstones, so probe runs never
// grow with churn). The caller resolves collisions by comparing the records the offsets point to:
//
//   for (let i = index.home(hash); index.offsetAt(i) >= 0; i = index.next(i))
//     if (index.hashAt(i) === hash && recordAt(index.offsetAt(i)) matches) → slot i
//
// The caller keeps the load factor down (the prediction cache: at most half full).

import assert from 'node:assert/strict';

export class SlotIndex {
  readonly #hash: Uint32Array;
  readonly #offset: Int32Array;
  readonly #mask: number;
  #count = 0;

  /** `slots`: a power of two. */
  constructor(slots: number) {
    assert(slots >= 2 && (slots & (slots - 1)) === 0, 'slot count must be a power of two');
    this.#hash = new Uint32Array(slots);
    this.#offset = new Int32Array(slots).fill(-1);
    this.#mask = slots - 1;
  }

  get count(): number {
    return this.#count;
  }

  /** The first slot of a hash's probe run. */
  home(hash: number): number {
    return hash & this.#mask;
  }

  next(slot: number): number {
    return (slot + 1) & this.#mask;
  }

  /** The record offset in a slot, or -1 when it is empty (the end of a probe run). */
  offsetAt(slot: number): number {
    return this.#offset[slot]!;
  }

  hashAt(slot: number): number {
    return this.#hash[slot]!;
  }

  /** Point a slot at a record that moved. */
  setOffset(slot: number, offset: number): void {
    this.#offset[slot] = offset;
  }

  /** The slot of the entry (hash, offset), which must be present. */
  slotOf(hash: number, offset: number): number {
    for (let i = hash & this.#mask; ; i = (i + 1) & this.#mask) {
      const o = this.#offset[i]!;
      if (o === offset) return i;
      if (o < 0) assert.fail('an indexed record is missing from the index');
    }
  }

  insert(hash: number, offset: number): void {
    let i = hash & this.#mask;
    while (this.#offset[i]! >= 0) i = (i + 1) & this.#mask;
    this.#hash[i] = hash;
    this.#offset[i] = offset;
    this.#count++;
  }

  /** Remove the entry (hash, offset), which must be present. */
  remove(hash: number, offset: number): void {
    const mask = this.#mask;
    let hole = this.slotOf(hash, offset);
    this.#count--;
    // Backward shift: move later entries of the probe run into the hole when their home allows.
    for (let i = (hole + 1) & mask; ; i = (i + 1) & mask) {
      const o = this.#offset[i]!;
      if (o < 0) break;
      const home = this.#hash[i]! & mask;
      if (((hole - home) & mask) < ((i - home) & mask)) {
        this.#hash[hole] = this.#hash[i]!;
        this.#offset[hole] = o;
        hole = i;
      }
    }
    this.#offset[hole] = -1;
  }
}
