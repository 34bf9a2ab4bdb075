// The prediction cache's key buffer: the key of the current lookup, readable as bytes and as
// little-endian u32 words (hashing and comparing go a word at a time). The bytes after the key in its
// last word are zero, so whole-word hashing and comparing see only the key. The query path writes a
// key straight into `buffer` (no copy) and passes its length.

import { align8 } from '../lib/align.js';

export class KeyScratch {
  buffer: Buffer;
  words: Uint32Array;

  constructor(bytes = 256) {
    this.buffer = Buffer.alloc(bytes);
    this.words = new Uint32Array(this.buffer.buffer, 0, bytes / 4);
  }

  /** The buffer, grown (contents dropped) to hold at least `bytes`. Valid until the next call. */
  reserve(bytes: number): Buffer {
    if (this.buffer.length < bytes) {
      const size = align8(Math.max(bytes, this.buffer.length * 2));
      this.buffer = Buffer.alloc(size);
      this.words = new Uint32Array(this.buffer.buffer, 0, size / 4);
    }
    return this.buffer;
  }

  /** Copy `key` in (unless it already is the buffer's start) and zero-pad its last word. */
  load(key: Uint8Array): void {
    const buffer = this.reserve(align8(key.byteLength));
    if (key.buffer !== buffer.buffer || key.byteOffset !== 0) buffer.set(key, 0);
    this.pad(key.byteLength);
  }

  /** Zero the rest of the key's last word (a key written in place by the caller). */
  pad(keyBytes: number): void {
    for (let i = keyBytes; (i & 3) !== 0; i++) this.buffer[i] = 0;
  }
}
