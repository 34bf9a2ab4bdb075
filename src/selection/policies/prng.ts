// A small seeded PRNG for selection policies: sfc32 (Chris Doty-Humphrey's "small fast counting"
// generator, 128-bit state, passes PractRand), seeded through splitmix32 so that nearby seeds give
// unrelated streams. Math.random is banned in src/selection: every random choice a policy makes must
// be replayable from a seed (tests, simulation, incident replay).

const kTwoPow32 = 4294967296;

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** `seed` is any integer (only its low 32 bits are used). */
  constructor(seed: number) {
    const st = { s: seed | 0 };
    this.#a = splitmix32(st);
    this.#b = splitmix32(st);
    this.#c = splitmix32(st);
    this.#d = 1; // the counter; any start value is fine
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const a = this.#a;
    const b = this.#b;
    const c = this.#c;
    const d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    this.#c = ((c << 21) | (c >>> 11)) + t | 0;
    return t >>> 0;
  }

  /** A uniform number in [0, 1) (32 bits of randomness). */
  next(): number {
    return this.nextUint32() / kTwoPow32;
  }

  /** A uniform integer in [0, n); n must be a positive integer ≤ 2^32. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > kTwoPow32) throw new RangeError(`nextInt: n must be an integer in [1, 2^32] (got ${n})`);
    // Rejection sampling removes the modulo bias.
    const limit = kTwoPow32 - (kTwoPow32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** The internal state, to persist or fork a stream. */
  getState(): [number, number, number, number] {
    return [this.#a, this.#b, this.#c, this.#d];
  }

  static fromState(state: readonly number[]): Prng {
    if (state.length !== 4 || !state.every((v) => Number.isInteger(v))) throw new RangeError('Prng state must be 4 integers');
    const p = new Prng(0);
    p.#a = state[0]! | 0;
    p.#b = state[1]! | 0;
    p.#c = state[2]! | 0;
    p.#d = state[3]! | 0;
    return p;
  }
}
