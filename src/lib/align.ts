// Record placement in a circular log of 8-aligned records that never wrap, shared by the query and
// reply rings (ipc/ring_buffer.ts) and the prediction cache's log (cache/prediction_cache.ts).
// Records start at 8-aligned offsets so their bodies can be read through Float64Array views without
// a copy. A record that would cross the end of the log starts again at offset 0 instead: the writer
// leaves kWrapMarker in the first u32 of the rest of the log, and a reader that finds it skips to 0.

/** The first u32 of a log's unused end: "the next record starts at offset 0". */
export const kWrapMarker = 0xffffffff;

/** `n` rounded up to a multiple of 8 (n < 2^31). */
export function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * Bytes to leave unused (marked with kWrapMarker) before a record of `recordBytes` placed at
 * `offset` of a log of `capacityBytes`: the rest of the log when the record would cross its end, else 0.
 */
export function wrapPadBytes(offset: number, recordBytes: number, capacityBytes: number): number {
  return offset + recordBytes > capacityBytes ? capacityBytes - offset : 0;
}
