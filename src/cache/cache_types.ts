// Types shared by PredictionCache and its owner (the query layer's cache front): lookup results,
// options with their defaults, and stats.

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
