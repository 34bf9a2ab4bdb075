// Prediction cache, held off the JavaScript heap: a log of records in one ArrayBuffer and an
// open-addressed index in typed arrays. A cached entry is bytes, never a JS object, so a full cache
// (hundreds of thousands of entries) costs the garbage collector nothing. The lru-cache version
// before it kept ~5 objects per entry, which every young-generation collection had to copy and
// promote: ~3 ms pauses every ~70 ms at 50k misses/s (docs/benchmarks.md).
//
// Key = model id (u32) + input type (u32) + the exact input bytes, compared byte for byte (Clipper
// keyed on a 64-bit hash with no equality check and no input type, spec §4.4/§12.2.4).
//
//   arena (circular log, 8-aligned records; a record that would cross the end leaves a wrap marker)
//   ┌──────── record ─────────────────────────────────────────────────────────────────────┐
//   │ u32 recordBytes │ u32 flags │ u32 hash │ u32 model │ u32 type │ u32 keyBytes │       │
//   │ u32 outputBytes │ u32 0     │ key bytes … │ output (utf8) … │ pad to 8               │
//   └──────────────────────────────────────────────────────────────────────────────────────┘
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
import { hashKey } from './key_hash.js';
import { SlotIndex } from './slot_index.js';

export type CacheWaiter = (output: string | undefined) => void;

/** What lookup() found. Hit: read `hitOutput`. Attached / Owner: `handle` is the pending entry. */
export const CacheResult = { Bypass: 0, Hit: 1, Attached: 2, Owner: 3 } as const;
export type CacheResult = (typeof CacheResult)[keyof typeof CacheResult];

export interface PredictionCacheOptions {
  /** Bytes of the record log (keys, outputs and 32-byte headers); default 32 MiB. */
  bytesMax: number;
  /**
   * Inputs larger than this bypass the cache (their key would cost as much as their output). The
   * cache also lowers it to what a record may hold (a quarter of the log, with its header).
   */
  inputBytesMax: number;
}

export interface PredictionCacheStats {
  hitCount: number;
  /** Lookups that found no output (coalesced ones included). */
  missCount: number;
  coalescedCount: number;
  bypassCount: number;
  /** Complete entries held. */
  entryCount: number;
  /** Bytes of the log in use (complete, pending and not yet reclaimed records). */
  bytes: number;
  pendingCount: number;
  evictedCount: number;
}

export const kDefaultPredictionCacheOptions: Readonly<PredictionCacheOptions> = Object.freeze({
  bytesMax: 32 * 1024 * 1024,
  inputBytesMax: 64 * 1024,
});

/** The smallest log the cache accepts. */
export const kCacheBytesMin = 4096;

const kHeaderBytes = 32;
const kWrapMarker = 0xffffffff;
const kFlagIndexed = 1;
const kFlagPending = 2;
const kFlagVisited = 4;
/** Records that make room by moving to the head, at most, per record appended. */
const kReinsertPerAppendMax = 8;
/** Index entries per byte of log, at most: one per 64 bytes (a 3-double key and short output is ~80). */
const kLogBytesPerEntryMin = 64;

const align8 = (n: number): number => (n + 7) & ~7;

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
  #keyScratch: Buffer;
  #keyWords: Uint32Array;
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
    if (!Number.isInteger(o.bytesMax) || o.bytesMax < kCacheBytesMin || o.bytesMax > 2 ** 31) {
      throw new RangeError(`cache.bytesMax must be an integer in [${kCacheBytesMin}, 2^31] (got ${o.bytesMax})`);
    }
    if (!Number.isInteger(o.inputBytesMax) || o.inputBytesMax < 0) {
      throw new RangeError(`cache.inputBytesMax must be an integer >= 0 (got ${o.inputBytesMax})`);
    }
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
    this.#keyScratch = Buffer.alloc(256);
    this.#keyWords = new Uint32Array(this.#keyScratch.buffer, 0, 64);
  }

  /**
   * A buffer to write a key of up to `bytes` bytes into, then pass `keyScratch(n).subarray(0, len)`
   * to lookup() without a copy. Valid until the next call.
   */
  keyScratch(bytes: number): Buffer {
    if (this.#keyScratch.length < bytes) {
      const size = align8(Math.max(bytes, this.#keyScratch.length * 2));
      this.#keyScratch = Buffer.alloc(size);
      this.#keyWords = new Uint32Array(this.#keyScratch.buffer, 0, size / 4);
    }
    return this.#keyScratch;
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
    this.#loadKey(key);
    return this.#lookupLoaded(model, type, key.byteLength);
  }

  /** lookup() of the key already written at the start of keyScratch() (no copy). */
  lookupScratch(model: number, type: number, keyBytes: number): CacheResult {
    if (keyBytes > this.#inputBytesMax || this.#disabledModels.has(model)) return this.bypass();
    this.#padKey(keyBytes);
    return this.#lookupLoaded(model, type, keyBytes);
  }

  /** Count a query that skips the cache (its key is too large, or its model has caching off). */
  bypass(): CacheResult {
    this.#bypassCount++;
    return CacheResult.Bypass;
  }

  /** lookup() of a key already in the scratch buffer with its last word zero-padded. */
  #lookupLoaded(model: number, type: number, keyBytes: number): CacheResult {
    const hash = hashKey(this.#keyWords, keyBytes, model, type);
    const slot = this.#find(hash, model, type, keyBytes);
    if (slot >= 0) {
      const w = this.#index.offsetAt(slot) >>> 2;
      const flags = this.#u32[w + 1]!;
      if ((flags & kFlagPending) !== 0) {
        this.#missCount++;
        this.#coalescedCount++;
        this.handle = this.#positionOf(w << 2);
        return CacheResult.Attached;
      }
      this.#hitCount++;
      this.#u32[w + 1] = flags | kFlagVisited;
      const outputStart = (w << 2) + kHeaderBytes + keyBytes;
      this.hitOutput = this.#bytes.toString('utf8', outputStart, outputStart + this.#u32[w + 6]!);
      return CacheResult.Hit;
    }
    this.#missCount++;
    const offset = this.#append(align8(kHeaderBytes + keyBytes));
    this.#writeHeader(offset, kFlagIndexed | kFlagPending, hash, model, type, keyBytes, 0);
    this.#copyKeyOut(offset, keyBytes);
    this.#index.insert(hash, offset);
    this.#pendingCount++;
    this.handle = this.#headPos - align8(kHeaderBytes + keyBytes);
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
      const offset = handle % this.#capacity;
      const w = offset >>> 2;
      if ((this.#u32[w + 1]! & (kFlagIndexed | kFlagPending)) === (kFlagIndexed | kFlagPending)) {
        const hash = this.#u32[w + 2]!;
        const model = this.#u32[w + 3]!;
        const type = this.#u32[w + 4]!;
        const keyBytes = this.#u32[w + 5]!;
        this.#unindex(offset);
        if (output !== undefined && !this.#disabledModels.has(model)) {
          // Copy the key out first: appending may reclaim the pending record itself.
          this.keyScratch(align8(keyBytes));
          const words = this.#keyWords;
          const keyWord = (offset + kHeaderBytes) >>> 2;
          for (let i = 0, n = (keyBytes + 3) >>> 2; i < n; i++) words[i] = this.#u32[keyWord + i]!;
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
    this.#loadKey(key);
    const hash = hashKey(this.#keyWords, key.byteLength, model, type);
    const slot = this.#find(hash, model, type, key.byteLength);
    if (slot >= 0) this.#unindex(this.#index.offsetAt(slot));
    this.#store(hash, model, type, key.byteLength, output);
  }

  /** The output cached for a key, or undefined (no lookup counted). */
  get(model: number, type: number, key: Uint8Array): string | undefined {
    this.#loadKey(key);
    const slot = this.#find(hashKey(this.#keyWords, key.byteLength, model, type), model, type, key.byteLength);
    if (slot < 0) return undefined;
    const w = this.#index.offsetAt(slot) >>> 2;
    if ((this.#u32[w + 1]! & kFlagPending) !== 0) return undefined;
    const outputStart = (w << 2) + kHeaderBytes + key.byteLength;
    return this.#bytes.toString('utf8', outputStart, outputStart + this.#u32[w + 6]!);
  }

  /** The model id is gone for good (its index is never reused): drop its entries and its settings. */
  forgetModel(model: number): void {
    this.invalidateModel(model);
    this.#disabledModels.delete(model);
  }

  /** Drop every entry of a model id; its pending entries still settle their waiters, uncached. */
  invalidateModel(model: number): void {
    for (let pos = this.#tailPos; pos < this.#headPos;) {
      const offset = pos % this.#capacity;
      const w = offset >>> 2;
      if (this.#u32[w] === kWrapMarker) {
        pos += this.#capacity - offset;
        continue;
      }
      if ((this.#u32[w + 1]! & kFlagIndexed) !== 0 && this.#u32[w + 3] === model) this.#unindex(offset);
      pos += this.#u32[w]!;
    }
  }

  stats(): PredictionCacheStats {
    return {
      hitCount: this.#hitCount, missCount: this.#missCount, coalescedCount: this.#coalescedCount,
      bypassCount: this.#bypassCount, entryCount: this.#entryCount, bytes: this.#headPos - this.#tailPos,
      pendingCount: this.#pendingCount, evictedCount: this.#evictedCount,
    };
  }

  // ---- records ----

  /** Append a complete record for the key in the scratch buffer. Outputs over a quarter of the log are not cached. */
  #store(hash: number, model: number, type: number, keyBytes: number, output: string): void {
    let outputBytesMax = output.length * 3;
    if (kHeaderBytes + keyBytes + outputBytesMax > this.#capacity / 4) outputBytesMax = Buffer.byteLength(output, 'utf8');
    const reserved = align8(kHeaderBytes + keyBytes + outputBytesMax);
    if (reserved > this.#capacity / 4) return;
    const offset = this.#append(reserved);
    this.#copyKeyOut(offset, keyBytes);
    const outputBytes = output.length === 0 ? 0 : this.#bytes.write(output, offset + kHeaderBytes + keyBytes, 'utf8');
    const recordBytes = align8(kHeaderBytes + keyBytes + outputBytes);
    this.#headPos -= reserved - recordBytes; // the newest record gives back what it did not use
    this.#writeHeader(offset, kFlagIndexed, hash, model, type, keyBytes, outputBytes);
    this.#index.insert(hash, offset);
    this.#entryCount++;
  }

  /** Copy the scratch key (its last word zero-padded) into the record at `offset`. */
  #copyKeyOut(offset: number, keyBytes: number): void {
    const u32 = this.#u32;
    const words = this.#keyWords;
    const keyWord = (offset + kHeaderBytes) >>> 2;
    for (let i = 0, n = (keyBytes + 3) >>> 2; i < n; i++) u32[keyWord + i] = words[i]!;
  }

  #writeHeader(offset: number, flags: number, hash: number, model: number, type: number, keyBytes: number, outputBytes: number): void {
    const u32 = this.#u32;
    const w = offset >>> 2;
    u32[w] = align8(kHeaderBytes + keyBytes + outputBytes);
    u32[w + 1] = flags;
    u32[w + 2] = hash;
    u32[w + 3] = model;
    u32[w + 4] = type;
    u32[w + 5] = keyBytes;
    u32[w + 6] = outputBytes;
    u32[w + 7] = 0;
  }

  /**
   * Make room for `recordBytes` at the head (evicting from the tail), advance the head past it and
   * return its offset. The caller writes the record; an index entry must be added after this call.
   */
  #append(recordBytes: number): number {
    const capacity = this.#capacity;
    if (recordBytes > capacity / 2) assert.fail('cache record larger than half the log');
    let reinsertions = 0;
    for (;;) {
      const offset = this.#headPos % capacity;
      const padBytes = offset + recordBytes > capacity ? capacity - offset : 0;
      const room = capacity - (this.#headPos - this.#tailPos) >= padBytes + recordBytes;
      if (room && this.#index.count < this.#indexedMax) {
        if (padBytes > 0) {
          this.#u32[offset >>> 2] = kWrapMarker;
          this.#headPos += padBytes;
        }
        const start = this.#headPos % capacity;
        this.#headPos += recordBytes;
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
    if (u32[w] === kWrapMarker) {
      this.#tailPos += capacity - offset;
      return false;
    }
    const recordBytes = u32[w]!;
    const flags = u32[w + 1]!;
    let moved = false;
    if ((flags & kFlagIndexed) !== 0) {
      const headOffset = this.#headPos % capacity;
      const fitsAhead = headOffset + recordBytes <= capacity
        && capacity - (this.#headPos - this.#tailPos) >= recordBytes;
      if (mayReinsert && (flags & (kFlagVisited | kFlagPending)) === kFlagVisited && fitsAhead) {
        this.#bytes.copyWithin(headOffset, offset, offset + recordBytes);
        u32[(headOffset >>> 2) + 1] = flags & ~kFlagVisited;
        this.#index.setOffset(this.#index.slotOf(u32[w + 2]!, offset), headOffset);
        this.#headPos += recordBytes;
        moved = true;
      } else {
        if ((flags & kFlagPending) === 0) this.#evictedCount++;
        this.#unindex(offset);
      }
    }
    this.#tailPos += recordBytes;
    return moved;
  }

  /** The absolute position of a record in the live part of the log. */
  #positionOf(offset: number): number {
    const tailOffset = this.#tailPos % this.#capacity;
    return this.#tailPos + (offset >= tailOffset ? offset - tailOffset : this.#capacity - tailOffset + offset);
  }

  // ---- keys ----

  /** Make the key readable as words from the scratch buffer (copying it there unless it is already). */
  #loadKey(key: Uint8Array): void {
    const scratch = this.keyScratch(align8(key.byteLength));
    if (key.buffer !== scratch.buffer || key.byteOffset !== 0) scratch.set(key, 0);
    this.#padKey(key.byteLength);
  }

  /** Zero the tail of the scratch key's last word, so whole-word hashing and comparing see only the key. */
  #padKey(keyBytes: number): void {
    for (let i = keyBytes; (i & 3) !== 0; i++) this.#keyScratch[i] = 0;
  }

  /** Whether the record at `offset` holds exactly this model, type and scratch key. */
  #matches(offset: number, model: number, type: number, keyBytes: number): boolean {
    const u32 = this.#u32;
    const w = offset >>> 2;
    if (u32[w + 3] !== model || u32[w + 4] !== type || u32[w + 5] !== keyBytes) return false;
    const words = this.#keyWords;
    const keyWord = w + kHeaderBytes / 4;
    const whole = keyBytes >>> 2;
    for (let i = 0; i < whole; i++) if (u32[keyWord + i] !== words[i]) return false;
    const base = offset + kHeaderBytes;
    for (let i = whole << 2; i < keyBytes; i++) if (this.#bytes[base + i] !== this.#keyScratch[i]) return false;
    return true;
  }

  // ---- index ----

  /** The index slot of the record holding this model, type and scratch key, or -1. */
  #find(hash: number, model: number, type: number, keyBytes: number): number {
    const index = this.#index;
    for (let i = index.home(hash); ; i = index.next(i)) {
      const offset = index.offsetAt(i);
      if (offset < 0) return -1;
      if (index.hashAt(i) === hash && this.#matches(offset, model, type, keyBytes)) return i;
    }
  }

  /** Remove the record at `offset` from the index and clear its flags. */
  #unindex(offset: number): void {
    const w = offset >>> 2;
    const flags = this.#u32[w + 1]!;
    if ((flags & kFlagIndexed) === 0) assert.fail('unindexing a record that is not indexed');
    if ((flags & kFlagPending) !== 0) this.#pendingCount--;
    else this.#entryCount--;
    this.#u32[w + 1] = 0;
    this.#index.remove(this.#u32[w + 2]!, offset);
  }
}
