// The prediction cache on the query path (main thread), so a hit is answered without a trip
// through a batching worker. Wraps PredictionCache (byte-exact keys, LRU bounded in bytes,
// coalescing of identical in-flight queries) with the frontend's encodings.
//
// A model version is keyed by its actor's index (`m<index>`), which is never reused in a process:
// when a name:version is deleted or redeployed it gets a new index, so an old output can never be
// served for it (Clipper #774); forgetModel() also frees the old entries at once.

import { PredictionCache, type CacheLookup, type CacheWaiter, type PredictionCacheStats } from '../cache/prediction_cache.js';
import { InputTypeCode } from '../input_types.js';
import type { Placement } from './dispatcher.js';

export class QueryCache {
  readonly #cache: PredictionCache;
  readonly #off: boolean;
  #scratch = new ArrayBuffer(1024);

  /** bytesMax 0 turns the cache off for every model. */
  constructor(bytesMax: number) {
    this.#off = bytesMax === 0;
    this.#cache = new PredictionCache({ bytesMax: Math.max(1, bytesMax) });
  }

  /** Turn caching on or off for one model version (on by default; off for non-deterministic models). */
  setEnabled(placement: Placement, enabled: boolean): void {
    this.#cache.setModelEnabled(modelId(placement), enabled, '0');
  }

  forgetModel(placement: Placement): void {
    this.#cache.invalidateModel(modelId(placement), '0');
  }

  /** The key of one query's input for a model version; '' when the query must bypass the cache. */
  keyOf(placement: Placement, type: InputTypeCode, input: number[] | string | Buffer): string {
    if (this.#off) return '';
    return this.#cache.key(modelId(placement), '0', String(type), this.#bytesOf(type, input));
  }

  lookup(key: string, waiter: CacheWaiter): CacheLookup {
    return this.#cache.lookup(key, waiter);
  }

  settle(handle: Extract<CacheLookup, { kind: 'owner' }>['handle'], outputJson: string | undefined): void {
    this.#cache.settle(handle, outputJson === undefined ? undefined : Buffer.from(outputJson, 'utf8'));
  }

  stats(): PredictionCacheStats {
    return this.#cache.stats();
  }

  /** The exact bytes the batching worker would see (little-endian elements, utf8, raw bytes). */
  #bytesOf(type: InputTypeCode, input: number[] | string | Buffer): Uint8Array {
    if (typeof input === 'string') return Buffer.from(input, 'utf8');
    if (Buffer.isBuffer(input)) return input;
    const elementBytes = type === InputTypeCode.Doubles ? 8 : 4;
    const byteLength = input.length * elementBytes;
    if (this.#scratch.byteLength < byteLength) this.#scratch = new ArrayBuffer(Math.max(byteLength, this.#scratch.byteLength * 2));
    if (type === InputTypeCode.Doubles) new Float64Array(this.#scratch, 0, input.length).set(input);
    else if (type === InputTypeCode.Floats) new Float32Array(this.#scratch, 0, input.length).set(input);
    else new Int32Array(this.#scratch, 0, input.length).set(input);
    return new Uint8Array(this.#scratch, 0, byteLength);
  }
}

function modelId(placement: Placement): string {
  return `m${placement.modelIndex}`;
}

export function decodeCachedOutput(output: Uint8Array): string {
  return Buffer.from(output.buffer, output.byteOffset, output.byteLength).toString('utf8');
}
