// The prediction cache on the query path (main thread), so a hit is answered without a trip
// through a batching worker. Wraps PredictionCache (off-heap log, byte-exact keys, coalescing of
// identical in-flight queries) with the frontend's encodings: the key of a query is the exact bytes
// the batching worker would see, written straight into the cache's scratch buffer (no allocation).
//
// A model version is keyed by its actor's index, which is never reused in a process: when a
// name:version is deleted or redeployed it gets a new index, so an old output can never be served
// for it (Clipper #774); forgetModel() also frees the old entries at once.

import { CacheResult, PredictionCache, type CacheWaiter, type PredictionCacheStats } from '../cache/prediction_cache.js';
import { numericElementBytes, writeNumericElements, type InputTypeCode, type NumericViews } from '../input_types.js';
import type { Placement } from '../batching/protocol.js';
import type { QueryInput } from './query_processor.js';

export { CacheResult };

const kOffStats: PredictionCacheStats = Object.freeze({
  hitCount: 0,
  missCount: 0,
  coalescedCount: 0,
  bypassCount: 0,
  entryCount: 0,
  bytes: 0,
  pendingCount: 0,
  evictedCount: 0,
});

export class QueryCache {
  /** null: the cache is off for every model (cacheBytesMax 0). */
  readonly #cache: PredictionCache | null;
  #bypassCount = 0;
  #scratch: Buffer | null = null;
  #views: NumericViews = { f64: new Float64Array(0), f32: new Float32Array(0), i32: new Int32Array(0) };

  /** bytesMax 0 turns the cache off for every model. */
  constructor(bytesMax: number) {
    this.#cache = bytesMax === 0 ? null : new PredictionCache({ bytesMax });
  }

  /** Set by lookup(): the output of a Hit. */
  get hitOutput(): string {
    return this.#cache!.hitOutput;
  }

  /** Set by lookup(): the pending entry of an Attached or Owner result. */
  get handle(): number {
    return this.#cache!.handle;
  }

  /** Turn caching on or off for one model version (on by default; off for non-deterministic models). */
  setEnabled(placement: Placement, enabled: boolean): void {
    this.#cache?.setModelEnabled(placement.modelIndex, enabled);
  }

  forgetModel(placement: Placement): void {
    this.#cache?.forgetModel(placement.modelIndex);
  }

  /** Look a query up (see PredictionCache.lookup). */
  lookup(placement: Placement, type: InputTypeCode, input: QueryInput): CacheResult {
    const cache = this.#cache;
    if (cache === null) {
      this.#bypassCount++;
      return CacheResult.Bypass;
    }
    if (Buffer.isBuffer(input)) return cache.lookup(placement.modelIndex, type, input);
    if (typeof input === 'string') {
      // utf8 takes at least one byte per UTF-16 unit: a string longer than the limit never fits.
      if (!cache.admits(input.length)) return cache.bypass();
      const scratch = cache.keyScratch(input.length * 3);
      return cache.lookupScratch(placement.modelIndex, type, scratch.write(input, 0, 'utf8'));
    }
    const keyBytes = input.length * numericElementBytes(type);
    if (!cache.admits(keyBytes)) return cache.bypass();
    const scratch = cache.keyScratch(keyBytes);
    if (scratch !== this.#scratch) {
      this.#scratch = scratch;
      this.#views = {
        f64: new Float64Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 3),
        f32: new Float32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2),
        i32: new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2),
      };
    }
    // The ring's own encoding (PackedNumbers in one set()): a packed input keys as the same number[].
    writeNumericElements(this.#views, 0, type, input);
    return cache.lookupScratch(placement.modelIndex, type, keyBytes);
  }

  attach(handle: number, waiter: CacheWaiter): void {
    this.#cache!.attach(handle, waiter);
  }

  settle(handle: number, outputJson: string | undefined): void {
    this.#cache!.settle(handle, outputJson);
  }

  stats(): PredictionCacheStats {
    if (this.#cache === null) return { ...kOffStats, bypassCount: this.#bypassCount };
    return this.#cache.stats();
  }
}
