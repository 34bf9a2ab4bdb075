// Prediction cache, held off the JavaScript heap: a log of records in one ArrayBuffer and an
// open-addressed index in typed arrays. A cached entry is bytes, never a JS object, so a full cache
// (hundreds of thousands of entries) costs the garbage collector nothing. The lru-cache version
// before it kept ~5 objects per entry, which every young-generation collection had to copy and
// promote: ~3 ms pauses every ~70 ms at 50k misses/s (docs/benchmarks.md).
//
// Key = model id (u32) + input type (u32) + the exact input bytes, compared byte for byte (Clipper
// keyed on a 64-bit hash with no equality check and no input type, spec §4.4/§12.2.4).
//
//   log: one ArrayBuffer, a circular log of 8-aligned records that never wrap (lib/align.ts); a
//        record (cache_record.ts) is a 32-byte header, the key bytes and the output as utf8
//   index: slots of (hash u32, record offset i32; -1 empty), linear probing (slot_index.ts)
//
// Eviction is FIFO over the log with one reinsertion (CLOCK / "FIFO-reinsertion"): a hit marks its
// record visited; when the log needs room, a visited record at the tail is copied to the head once
// instead of dropped. This keeps recently used entries like LRU does, with no per-hit list update.
//
// Concurrent identical queries coalesce: a miss appends a pending record (key, no output) and returns
// its log position as the handle; an identical lookup meanwhile is 'attached'. settle(handle, output)
// replaces the pending record by a complete one (or just drops it on failure) and calls the attached
// waiters. A pending record that is invalidated or evicted still settles its waiters, but its output
// is not cached (a redeploy of the same name:version must not serve old outputs, Clipper #774).

import assert from 'node:assert/strict';
import { kWrapMarker, wrapPadBytes } from '../lib/align.js';
import { copyKeyIn, copyKeyOut, recordMatches, writeRecordHeader } from './cache_record.js';
import { kHeaderBytes, RecordFlag, RecordWord, recordBytesFor } from './cache_record.js';
import { CacheResult, kCacheBytesMin, kDefaultPredictionCacheOptions } from './cache_types.js';
import type { CacheWaiter, PredictionCacheOptions, PredictionCacheStats } from './cache_types.js';
import { hashKey } from './key_hash.js';
import { KeyScratch } from './key_scratch.js';
import { SlotIndex } from './slot_index.js';
import { OptionChecks } from '../lib/options.js';

const kChecks = new OptionChecks('cache');

export * from './cache_types.js';

/** Records that make room by moving to the head, at most, per record appended. */
const kReinsertPerAppendMax = 8;
/** Index entries per byte of log, at most: one per 64 bytes (a 3-double key and short output is ~80). */
const kLogBytesPerEntryMin = 64;

export class PredictionCache {
  readonly #inputBytesMax: number;
  readonly #capacity: number;
  readonly #u32: Uint32Array;
  readonly #bytes: Buffer;
  /** Absolute positions (bytes ever appended), exact as doubles; offset = position % capacity. */
  #headPos = 0;
  #tailPos = 0;
  readonly #index: SlotIndex;
  readonly #indexedMax: number;
  #entryCount = 0;
  #pendingCount = 0;
  readonly #waiters = new Map<number, CacheWaiter[]>();
  readonly #disabledModels = new Set<number>();
  readonly #key = new KeyScratch();
  #hitCount = 0;
  #missCount = 0;
  #coalescedCount = 0;
  #bypassCount = 0;
  #evictedCount = 0;
  /** Set by lookup(): the output of a Hit. */
  hitOutput = '';
  /** Set by lookup(): the pending entry of an Attached or Owner result. */
  handle = -1;

  constructor(options: Partial<PredictionCacheOptions> = {}) {
    const o = { ...kDefaultPredictionCacheOptions, ...options };
    kChecks.int('bytesMax', o.bytesMax, kCacheBytesMin, 2 ** 31);
    kChecks.int('inputBytesMax', o.inputBytesMax, 0);
    this.#capacity = o.bytesMax & ~7;
    // A key must fit a complete record (#store takes at most a quarter of the log), or its pending
    // record would evict a large part of the log for an entry that can never be stored.
    this.#inputBytesMax = Math.min(o.inputBytesMax, this.#capacity / 4 - kHeaderBytes - 8);
    const arena = new ArrayBuffer(this.#capacity);
    this.#u32 = new Uint32Array(arena);
    this.#bytes = Buffer.from(arena);
    this.#indexedMax = Math.max(16, Math.floor(this.#capacity / kLogBytesPerEntryMin));
    let slots = 16;
    while (slots < this.#indexedMax * 2) slots *= 2; // load factor at most 1/2
    this.#index = new SlotIndex(slots);
  }

  /**
   * A buffer to write a key of up to `bytes` bytes into, then pass `keyScratch(n).subarray(0, len)`
   * to lookup() without a copy. Valid until the next call.
   */
  keyScratch(bytes: number): Buffer {
    return this.#key.reserve(bytes);
  }

  /** Whether an input of this many bytes can be cached at all. */
  admits(keyBytes: number): boolean {
    return keyBytes <= this.#inputBytesMax;
  }

  /** Turns caching off (dropping the model's entries) or back on for one model id. */
  setModelEnabled(model: number, enabled: boolean): void {
    if (enabled) this.#disabledModels.delete(model);
    else {
      this.#disabledModels.add(model);
      this.invalidateModel(model);
    }
  }

  /**
   * Look a query up. Hit: `hitOutput` holds the output. Owner: this query computes it; call
   * settle(handle, output | undefined) when it is answered. Attached: an identical query is in
   * flight; attach(handle, waiter) to be settled with it. Bypass: caching is off for the model or
   * the input is too large.
   */
  lookup(model: number, type: number, key: Uint8Array): CacheResult {
    if (key.byteLength > this.#inputBytesMax || this.#disabledModels.has(model)) return this.bypass();
    this.#key.load(key);
    return this.#lookupLoaded(model, type, key.byteLength);
  }

  /** lookup() of the key already written at the start of keyScratch() (no copy). */
  lookupScratch(model: number, type: number, keyBytes: number): CacheResult {
    if (keyBytes > this.#inputBytesMax || this.#disabledModels.has(model)) return this.bypass();
    this.#key.pad(keyBytes);
    return this.#lookupLoaded(model, type, keyBytes);
  }

  /** Count a query that skips the cache (its key is too large, or its model has caching off). */
  bypass(): CacheResult {
    this.#bypassCount++;
    return CacheResult.Bypass;
  }

  /** lookup() of a key already in the scratch buffer with its last word zero-padded. */
  #lookupLoaded(model: number, type: number, keyBytes: number): CacheResult {
    const hash = hashKey(this.#key.words, keyBytes, model, type);
    const slot = this.#find(hash, model, type, keyBytes);
    if (slot >= 0) {
      const w = this.#index.offsetAt(slot) >>> 2;
      const flags = this.#u32[w + RecordWord.Flags]!;
      if ((flags & RecordFlag.Pending) !== 0) {
        this.#missCount++;
        this.#coalescedCount++;
        this.handle = this.#positionOf(w << 2);
        return CacheResult.Attached;
      }
      this.#hitCount++;
      this.#u32[w + RecordWord.Flags] = flags | RecordFlag.Visited;
      const outputStart = (w << 2) + kHeaderBytes + keyBytes;
      this.hitOutput = this.#bytes.toString('utf8', outputStart, outputStart + this.#u32[w + RecordWord.OutputBytes]!);
      return CacheResult.Hit;
    }
    this.#missCount++;
    const recordBytes = recordBytesFor(keyBytes, 0);
    const offset = this.#append(recordBytes);
    writeRecordHeader(this.#u32, offset, RecordFlag.Indexed | RecordFlag.Pending, hash, model, type, keyBytes, 0);
    copyKeyIn(this.#u32, offset, this.#key, keyBytes);
    this.#index.insert(hash, offset);
    this.#pendingCount++;
    this.handle = this.#headPos - recordBytes;
    return CacheResult.Owner;
  }

  /** Be called back when the pending entry `handle` (from an Attached lookup) settles. */
  attach(handle: number, waiter: CacheWaiter): void {
    const list = this.#waiters.get(handle);
    if (list === undefined) this.#waiters.set(handle, [waiter]);
    else list.push(waiter);
  }

  /**
   * Complete a pending entry: cache the output (unless the entry was invalidated or evicted
   * meanwhile, or `output` is undefined: the query failed) and call its waiters. Settling twice is
   * a no-op.
   */
  settle(handle: number, output: string | undefined): void {
    if (handle >= this.#tailPos && handle < this.#headPos) {
      if ((handle & 7) !== 0) assert.fail('a cache handle is the 8-aligned position of a record');
      const offset = handle % this.#capacity;
      const w = offset >>> 2;
      if ((this.#u32[w + RecordWord.Flags]! & (RecordFlag.Indexed | RecordFlag.Pending)) === (RecordFlag.Indexed | RecordFlag.Pending)) {
        const hash = this.#u32[w + RecordWord.Hash]!;
        const model = this.#u32[w + RecordWord.Model]!;
        const type = this.#u32[w + RecordWord.Type]!;
        const keyBytes = this.#u32[w + RecordWord.KeyBytes]!;
        this.#unindex(offset);
        if (output !== undefined && !this.#disabledModels.has(model)) {
          // Copy the key out first: appending may reclaim the pending record itself.
          copyKeyOut(this.#u32, offset, this.#key, keyBytes);
          this.#store(hash, model, type, keyBytes, output);
        }
      }
    }
    const waiters = this.#waiters.get(handle);
    if (waiters === undefined) return;
    this.#waiters.delete(handle);
    for (const waiter of waiters) waiter(output);
  }

  /** Cache an output directly (no pending entry involved); replaces an entry with the same key. */
  put(model: number, type: number, key: Uint8Array, output: string): void {
    if (key.byteLength > this.#inputBytesMax || this.#disabledModels.has(model)) return;
    this.#key.load(key);
    const hash = hashKey(this.#key.words, key.byteLength, model, type);
    const slot = this.#find(hash, model, type, key.byteLength);
    if (slot >= 0) this.#unindex(this.#index.offsetAt(slot));
    this.#store(hash, model, type, key.byteLength, output);
  }

  /** The output cached for a key, or undefined (no lookup counted). */
  get(model: number, type: number, key: Uint8Array): string | undefined {
    this.#key.load(key);
    const slot = this.#find(hashKey(this.#key.words, key.byteLength, model, type), model, type, key.byteLength);
    if (slot < 0) return undefined;
    const w = this.#index.offsetAt(slot) >>> 2;
    if ((this.#u32[w + RecordWord.Flags]! & RecordFlag.Pending) !== 0) return undefined;
    const outputStart = (w << 2) + kHeaderBytes + key.byteLength;
    return this.#bytes.toString('utf8', outputStart, outputStart + this.#u32[w + RecordWord.OutputBytes]!);
  }

  /** The model id is gone for good (its index is never reused): drop its entries and its settings. */
  forgetModel(model: number): void {
    this.invalidateModel(model);
    this.#disabledModels.delete(model);
  }

  /** Drop every entry of a model id; its pending entries still settle their waiters, uncached. */
  invalidateModel(model: number): void {
    for (let pos = this.#tailPos; pos < this.#headPos; ) {
      const offset = pos % this.#capacity;
      const w = offset >>> 2;
      if (this.#u32[w + RecordWord.Bytes] === kWrapMarker) {
        pos += this.#capacity - offset;
        continue;
      }
      if ((this.#u32[w + RecordWord.Flags]! & RecordFlag.Indexed) !== 0 && this.#u32[w + RecordWord.Model] === model) this.#unindex(offset);
      pos += this.#recordBytesAt(offset);
    }
  }

  stats(): PredictionCacheStats {
    return {
      hitCount: this.#hitCount,
      missCount: this.#missCount,
      coalescedCount: this.#coalescedCount,
      bypassCount: this.#bypassCount,
      entryCount: this.#entryCount,
      bytes: this.#headPos - this.#tailPos,
      pendingCount: this.#pendingCount,
      evictedCount: this.#evictedCount,
    };
  }

  // ---- records ----

  /** Append a complete record for the key in the scratch buffer. Outputs over a quarter of the log are not cached. */
  #store(hash: number, model: number, type: number, keyBytes: number, output: string): void {
    let outputBytesMax = output.length * 3;
    if (kHeaderBytes + keyBytes + outputBytesMax > this.#capacity / 4) outputBytesMax = Buffer.byteLength(output, 'utf8');
    const reserved = recordBytesFor(keyBytes, outputBytesMax);
    if (reserved > this.#capacity / 4) return;
    const offset = this.#append(reserved);
    copyKeyIn(this.#u32, offset, this.#key, keyBytes);
    const outputBytes = output.length === 0 ? 0 : this.#bytes.write(output, offset + kHeaderBytes + keyBytes, 'utf8');
    const recordBytes = recordBytesFor(keyBytes, outputBytes);
    // The reservation holds the utf8 of any output (3 bytes per UTF-16 unit, or counted exactly).
    if (recordBytes > reserved) assert.fail('cache output overran its reservation');
    this.#headPos -= reserved - recordBytes; // the newest record gives back what it did not use
    writeRecordHeader(this.#u32, offset, RecordFlag.Indexed, hash, model, type, keyBytes, outputBytes);
    this.#index.insert(hash, offset);
    this.#entryCount++;
  }

  /**
   * Make room for `recordBytes` at the head (evicting from the tail), advance the head past it and
   * return its offset. The caller writes the record; an index entry must be added after this call.
   */
  #append(recordBytes: number): number {
    const capacity = this.#capacity;
    if (recordBytes < kHeaderBytes || (recordBytes & 7) !== 0 || recordBytes > capacity / 2) {
      assert.fail('a cache record is 8-aligned, has a header and takes at most half the log');
    }
    let reinsertions = 0;
    for (;;) {
      const offset = this.#headPos % capacity;
      const padBytes = wrapPadBytes(offset, recordBytes, capacity);
      const room = capacity - (this.#headPos - this.#tailPos) >= padBytes + recordBytes;
      if (room && this.#index.count < this.#indexedMax) {
        if (padBytes > 0) {
          this.#u32[(offset >>> 2) + RecordWord.Bytes] = kWrapMarker;
          this.#headPos += padBytes;
        }
        const start = this.#headPos % capacity;
        this.#headPos += recordBytes;
        if (this.#headPos - this.#tailPos > capacity) assert.fail('cache log overfull');
        return start;
      }
      // Reinsert only to make room in bytes: moving a record does not lower the entry count.
      const mayReinsert = room === false && this.#index.count < this.#indexedMax && reinsertions < kReinsertPerAppendMax;
      if (this.#reclaimTail(mayReinsert)) reinsertions++;
    }
  }

  /** Free the record at the tail: a visited complete record may move to the head once. Returns true if it moved. */
  #reclaimTail(mayReinsert: boolean): boolean {
    const capacity = this.#capacity;
    const offset = this.#tailPos % capacity;
    const w = offset >>> 2;
    const u32 = this.#u32;
    if (u32[w + RecordWord.Bytes] === kWrapMarker) {
      this.#tailPos += capacity - offset;
      return false;
    }
    const recordBytes = u32[w + RecordWord.Bytes]!;
    const flags = u32[w + RecordWord.Flags]!;
    let moved = false;
    if ((flags & RecordFlag.Indexed) !== 0) {
      const headOffset = this.#headPos % capacity;
      const fitsAhead = headOffset + recordBytes <= capacity && capacity - (this.#headPos - this.#tailPos) >= recordBytes;
      if (mayReinsert && (flags & (RecordFlag.Visited | RecordFlag.Pending)) === RecordFlag.Visited && fitsAhead) {
        this.#bytes.copyWithin(headOffset, offset, offset + recordBytes);
        u32[(headOffset >>> 2) + RecordWord.Flags] = flags & ~RecordFlag.Visited;
        this.#index.setOffset(this.#index.slotOf(u32[w + RecordWord.Hash]!, offset), headOffset);
        this.#headPos += recordBytes;
        moved = true;
      } else {
        if ((flags & RecordFlag.Pending) === 0) this.#evictedCount++;
        this.#unindex(offset);
      }
    }
    this.#tailPos += recordBytes;
    return moved;
  }

  /** The size of the record at `offset` of the live log, checked: a bad size would derail every walk of the log. */
  #recordBytesAt(offset: number): number {
    const recordBytes = this.#u32[(offset >>> 2) + RecordWord.Bytes]!;
    if (recordBytes < kHeaderBytes || (recordBytes & 7) !== 0 || offset + recordBytes > this.#capacity) {
      assert.fail('corrupt cache record size');
    }
    return recordBytes;
  }

  /** The absolute position of a record in the live part of the log. */
  #positionOf(offset: number): number {
    const tailOffset = this.#tailPos % this.#capacity;
    return this.#tailPos + (offset >= tailOffset ? offset - tailOffset : this.#capacity - tailOffset + offset);
  }

  // ---- index ----

  /** The index slot of the record holding this model, type and scratch key, or -1. */
  #find(hash: number, model: number, type: number, keyBytes: number): number {
    const index = this.#index;
    for (let i = index.home(hash); ; i = index.next(i)) {
      const offset = index.offsetAt(i);
      if (offset < 0) return -1;
      if (index.hashAt(i) === hash && recordMatches(this.#u32, this.#bytes, offset, model, type, this.#key, keyBytes)) return i;
    }
  }

  /** Remove the record at `offset` from the index and clear its flags. */
  #unindex(offset: number): void {
    const w = offset >>> 2;
    const flags = this.#u32[w + RecordWord.Flags]!;
    if ((flags & RecordFlag.Indexed) === 0) assert.fail('unindexing a record that is not indexed');
    if ((flags & RecordFlag.Pending) !== 0) this.#pendingCount--;
    else this.#entryCount--;
    if (this.#pendingCount < 0 || this.#entryCount < 0) assert.fail('cache entry counts went negative');
    this.#u32[w + RecordWord.Flags] = 0;
    this.#index.remove(this.#u32[w + RecordWord.Hash]!, offset);
  }
}
