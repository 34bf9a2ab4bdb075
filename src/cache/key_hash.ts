// The 32-bit hash of a prediction-cache key: murmur3's mixing over the key's little-endian words
// (the last one zero-padded), seeded with the model id, the input type and the key length.

/** `words` views the key from byte 0; bytes past `keyBytes` in its last word must be zero. */
export function hashKey(words: Uint32Array, keyBytes: number, model: number, type: number): number {
  let h = Math.imul(model ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(type + keyBytes, 0xc2b2ae35);
  const n = (keyBytes + 3) >>> 2;
  for (let i = 0; i < n; i++) {
    let k = Math.imul(words[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
