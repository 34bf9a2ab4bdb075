// Prediction cache: completed outputs in an LRU bounded in bytes (lru-cache v11), plus pending entries that
// coalesce concurrent identical queries. Pure module: no I/O, no timers.
//
// Key = model + version + input type + the exact input bytes (a latin1 string, one char per byte), so two
// different inputs never share an entry (Clipper keyed on a 64-bit hash with no equality check and no input
// type, spec §4.4/§12.2.4). Key parts are length-prefixed, so no choice of names can make two keys collide.
// Size = key length + output bytes + a fixed per-entry overhead (Clipper counted output bytes only).
// Inputs larger than inputBytesMax bypass the cache (their key would cost as much as their output).
//
// Protocol for one query (the batching worker):
//   const key = cache.key(model, version, inputType, inputBytes);
//   const r = cache.lookup(key, waiter);
//     'hit'      -> answer with r.output.
//     'attached' -> an identical query is in flight; waiter(output | undefined) will be called by settle.
//     'owner'    -> this query computes it: enqueue it, then call cache.settle(r.handle, output) on success or
//                   cache.settle(r.handle, undefined) on failure/expiry (attached waiters then get undefined
//                   and should enqueue themselves; nothing is cached).
//     'bypass'   -> caching is off for this model, or the input is too large: just enqueue.
// invalidateModel(model, version?) drops all completed entries of that model (version) and detaches its
// pending entries: their waiters are still settled, but their outputs are not cached (redeploy of the same
// name:version must not serve old outputs, issue #774).

import { LRUCache } from 'lru-cache';

export type CacheWaiter = (output: Uint8Array | undefined) => void;

export interface PendingHandle {
  readonly key: string;
  readonly prefix: string;
  readonly generation: number;
  waiters: CacheWaiter[];
  settled: boolean;
}

export type CacheLookup =
  | { kind: 'hit'; output: Uint8Array }
  | { kind: 'attached' }
  | { kind: 'owner'; handle: PendingHandle }
  | { kind: 'bypass' };

export interface PredictionCacheOptions {
  /** Bytes of keys + outputs + overhead kept; default 32 MiB (Clipper's --prediction_cache_size). */
  bytesMax: number;
  /** Inputs larger than this are not cached. */
  inputBytesMax: number;
}

export interface PredictionCacheStats {
  hitCount: number;
  missCount: number;
  coalescedCount: number;
  bypassCount: number;
  entryCount: number;
  bytes: number;
  pendingCount: number;
  evictedCount: number;
}

export const kDefaultPredictionCacheOptions: Readonly<PredictionCacheOptions> = Object.freeze({
  bytesMax: 32 * 1024 * 1024,
  inputBytesMax: 64 * 1024,
});

const kEntryOverheadBytes = 64;
const kBypassKey = '';

interface Entry {
  output: Uint8Array;
}

function part(value: string): string {
  return `${value.length}:${value}`;
}

function modelPrefix(model: string, version?: string): string {
  return version === undefined ? part(model) : part(model) + part(version);
}

export class PredictionCache {
  readonly #o: PredictionCacheOptions;
  readonly #lru: LRUCache<string, Entry>;
  readonly #pending = new Map<string, PendingHandle>();
  readonly #generation = new Map<string, number>();
  readonly #disabledModels = new Set<string>();
  #hitCount = 0;
  #missCount = 0;
  #coalescedCount = 0;
  #bypassCount = 0;
  #evictedCount = 0;

  constructor(options: Partial<PredictionCacheOptions> = {}) {
    this.#o = { ...kDefaultPredictionCacheOptions, ...options };
    if (!Number.isInteger(this.#o.bytesMax) || this.#o.bytesMax < 1) {
      throw new RangeError(`cache.bytesMax must be an integer >= 1 (got ${this.#o.bytesMax})`);
    }
    if (!Number.isInteger(this.#o.inputBytesMax) || this.#o.inputBytesMax < 0) {
      throw new RangeError(`cache.inputBytesMax must be an integer >= 0 (got ${this.#o.inputBytesMax})`);
    }
    this.#lru = new LRUCache<string, Entry>({
      maxSize: this.#o.bytesMax,
      sizeCalculation: (entry, key) => key.length + entry.output.byteLength + kEntryOverheadBytes,
      dispose: (_entry, _key, reason) => {
        if (reason === 'evict') this.#evictedCount++;
      },
    });
  }

  /** The cache key of one query, or '' (bypass) when caching is off for the model or the input is too large. */
  key(model: string, version: string, inputType: string, input: Uint8Array): string {
    if (input.byteLength > this.#o.inputBytesMax) return kBypassKey;
    if (this.#disabledModels.has(part(model)) || this.#disabledModels.has(modelPrefix(model, version))) return kBypassKey;
    const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
    return modelPrefix(model, version) + part(inputType) + bytes;
  }

  /** Turns caching off (or back on) for a model, or for one version of it; turning off drops its entries. */
  setModelEnabled(model: string, enabled: boolean, version?: string): void {
    const prefix = modelPrefix(model, version);
    if (enabled) this.#disabledModels.delete(prefix);
    else {
      this.#disabledModels.add(prefix);
      this.invalidateModel(model, version);
    }
  }

  get(key: string): Uint8Array | undefined {
    if (key === kBypassKey) return undefined;
    return this.#lru.get(key)?.output;
  }

  /** Caches an output directly (no pending entry involved). */
  put(key: string, output: Uint8Array): void {
    if (key === kBypassKey) return;
    this.#store(key, output);
  }

  lookup(key: string, waiter: CacheWaiter): CacheLookup {
    if (key === kBypassKey) {
      this.#bypassCount++;
      return { kind: 'bypass' };
    }
    const entry = this.#lru.get(key);
    if (entry !== undefined) {
      this.#hitCount++;
      return { kind: 'hit', output: entry.output };
    }
    this.#missCount++;
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      this.#coalescedCount++;
      pending.waiters.push(waiter);
      return { kind: 'attached' };
    }
    const prefix = key.slice(0, this.#prefixLength(key));
    const handle: PendingHandle = { key, prefix, generation: this.#generation.get(prefix) ?? 0, waiters: [], settled: false };
    this.#pending.set(key, handle);
    return { kind: 'owner', handle };
  }

  /** Completes a pending entry: caches the output (if still current) and calls every attached waiter. */
  settle(handle: PendingHandle, output: Uint8Array | undefined): void {
    if (handle.settled) return;
    handle.settled = true;
    if (this.#pending.get(handle.key) === handle) this.#pending.delete(handle.key);
    const current = (this.#generation.get(handle.prefix) ?? 0) === handle.generation;
    if (output !== undefined && current && !this.#disabledModels.has(handle.prefix)) this.#store(handle.key, output);
    const waiters = handle.waiters;
    handle.waiters = [];
    for (const waiter of waiters) waiter(output);
  }

  /** Drops every entry of a model version (or of all versions when version is omitted). */
  invalidateModel(model: string, version?: string): void {
    const prefix = modelPrefix(model, version);
    const doomed: string[] = [];
    for (const key of this.#lru.keys()) if (key.startsWith(prefix)) doomed.push(key);
    for (const key of doomed) this.#lru.delete(key);
    for (const [key, handle] of this.#pending) {
      if (!key.startsWith(prefix)) continue;
      this.#pending.delete(key);
      this.#generation.set(handle.prefix, (this.#generation.get(handle.prefix) ?? 0) + 1);
    }
    // Versions with no pending entry need no generation bump: nothing of theirs can be stored late.
  }

  stats(): PredictionCacheStats {
    return {
      hitCount: this.#hitCount,
      missCount: this.#missCount,
      coalescedCount: this.#coalescedCount,
      bypassCount: this.#bypassCount,
      entryCount: this.#lru.size,
      bytes: this.#lru.calculatedSize,
      pendingCount: this.#pending.size,
      evictedCount: this.#evictedCount,
    };
  }

  #store(key: string, output: Uint8Array): void {
    const size = key.length + output.byteLength + kEntryOverheadBytes;
    if (size > this.#o.bytesMax) return;
    // Copy: the caller's buffer may be a view into a reused receive buffer.
    this.#lru.set(key, { output: new Uint8Array(output) });
  }

  /** Length of the "model + version" prefix of a key. */
  #prefixLength(key: string): number {
    let index = 0;
    for (let i = 0; i < 2; i++) {
      const colon = key.indexOf(':', index);
      index = colon + 1 + Number(key.slice(index, colon));
    }
    return index;
  }
}
