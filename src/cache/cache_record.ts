// One record of the prediction cache's log (prediction_cache.ts): a 32-byte header of u32 words,
// the key bytes, the output as utf8, padding to 8 (lib/align.ts places records in the log).
//
//   ┌──────── record ─────────────────────────────────────────────────────────────────────┐
//   │ u32 recordBytes │ u32 flags │ u32 hash │ u32 model │ u32 type │ u32 keyBytes │       │
//   │ u32 outputBytes │ u32 0     │ key bytes … │ output (utf8) … │ pad to 8               │
//   └──────────────────────────────────────────────────────────────────────────────────────┘
//
// Field indices are in u32 words from the record's first word (w = offset >>> 2).

import assert from 'node:assert/strict';
import { align8 } from '../lib/align.js';
import type { KeyScratch } from './key_scratch.js';

export const kHeaderBytes = 32;
/** Word indices of the header fields. */
export const enum RecordWord {
  Bytes = 0,
  Flags = 1,
  Hash = 2,
  Model = 3,
  Type = 4,
  KeyBytes = 5,
  OutputBytes = 6,
}

/** Bits of the flags word. */
export const enum RecordFlag {
  /** The index points at this record (pending or complete). */
  Indexed = 1,
  /** No output yet: a query computing it is in flight (coalescing). */
  Pending = 2,
  /** Hit since it was appended or last moved: reinserted once instead of evicted. */
  Visited = 4,
}

/** Bytes a record of this key and output takes in the log. */
export function recordBytesFor(keyBytes: number, outputBytes: number): number {
  return align8(kHeaderBytes + keyBytes + outputBytes);
}

/** Write a header at byte `offset` (8-aligned) of the log. */
export function writeRecordHeader(
  u32: Uint32Array,
  offset: number,
  flags: number,
  hash: number,
  model: number,
  type: number,
  keyBytes: number,
  outputBytes: number,
): void {
  if ((offset & 7) !== 0) assert.fail('a cache record must start 8-aligned');
  const w = offset >>> 2;
  u32[w + RecordWord.Bytes] = recordBytesFor(keyBytes, outputBytes);
  u32[w + RecordWord.Flags] = flags;
  u32[w + RecordWord.Hash] = hash;
  u32[w + RecordWord.Model] = model;
  u32[w + RecordWord.Type] = type;
  u32[w + RecordWord.KeyBytes] = keyBytes;
  u32[w + RecordWord.OutputBytes] = outputBytes;
  u32[w + 7] = 0;
}

/** Copy the scratch key (its last word zero-padded) into the record at `offset`. */
export function copyKeyIn(u32: Uint32Array, offset: number, key: KeyScratch, keyBytes: number): void {
  const words = key.words;
  const keyWord = (offset + kHeaderBytes) >>> 2;
  for (let i = 0, n = (keyBytes + 3) >>> 2; i < n; i++) u32[keyWord + i] = words[i]!;
}

/** Copy the key of the record at `offset` into the scratch buffer (zero-padded as stored). */
export function copyKeyOut(u32: Uint32Array, offset: number, key: KeyScratch, keyBytes: number): void {
  key.reserve(align8(keyBytes));
  const words = key.words;
  const keyWord = (offset + kHeaderBytes) >>> 2;
  for (let i = 0, n = (keyBytes + 3) >>> 2; i < n; i++) words[i] = u32[keyWord + i]!;
}

/** Whether the record at `offset` holds exactly this model, type and scratch key. */
export function recordMatches(
  u32: Uint32Array,
  bytes: Uint8Array,
  offset: number,
  model: number,
  type: number,
  key: KeyScratch,
  keyBytes: number,
): boolean {
  const w = offset >>> 2;
  if (u32[w + RecordWord.Model] !== model || u32[w + RecordWord.Type] !== type || u32[w + RecordWord.KeyBytes] !== keyBytes) return false;
  const words = key.words;
  const keyWord = w + kHeaderBytes / 4;
  const whole = keyBytes >>> 2;
  for (let i = 0; i < whole; i++) if (u32[keyWord + i] !== words[i]) return false;
  const base = offset + kHeaderBytes;
  const scratch = key.buffer;
  for (let i = whole << 2; i < keyBytes; i++) if (bytes[base + i] !== scratch[i]) return false;
  return true;
}
