// The one seeded PRNG of the project: sfc32 (Chris Doty-Humphrey's "small fast counting" generator,
// 128-bit state, passes PractRand), its four words seeded through splitmix32 so that nearby seeds give
// unrelated streams. Math.random is banned in the batching layer, the selection policies, the
// simulator and the load generator: one seed must replay a whole run (tests, simulation, incident
// replay), so every consumer takes a Prng (or a function made by seededRandom) from its owner.
//
// The stream of a seed is fixed: the simulator's documented figures (docs/benchmarks.md) and the
// tests' fixed seeds depend on it. Change the algorithm or the seeding only together with them.

const kTwoPow32 = 4294967296;

/** splitmix32 step: advances `state.s` and returns the next 32-bit output (unsigned). */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Prng {
  // The state as int32 words (| 0 arithmetic keeps them small integers for the JIT).
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** `seed` is an integer; only its low 32 bits are used. */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer (got ${seed})`);
    const st = { s: seed | 0 };
    this.#a = splitmix32(st) | 0;
    this.#b = splitmix32(st) | 0;
    this.#c = splitmix32(st) | 0;
    this.#d = splitmix32(st) | 0;
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
    this.#c = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /** A uniform number in [0, 1) (32 bits of randomness). */
  next(): number {
    return this.nextUint32() / kTwoPow32;
  }

  /**
   * A uniform integer in [0, bound), from one draw: floor(next() * bound). Its bias, at most
   * bound / 2^32, is far below what any test or simulation here could see.
   */
  nextInt(bound: number): number {
    if (!Number.isInteger(bound) || bound <= 0 || bound > kTwoPow32) {
      throw new RangeError(`bound must be an integer in [1, 2^32] (got ${bound})`);
    }
    return Math.floor(this.next() * bound);
  }

  /** An exponential variate with the given rate (mean 1 / rate). */
  exponential(rate: number): number {
    if (!(rate > 0)) throw new RangeError(`rate must be > 0 (got ${rate})`);
    return -Math.log(1 - this.next()) / rate;
  }

  /** A standard normal variate (Box-Muller, one of the pair). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
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

export function createPrng(seed: number): Prng {
  return new Prng(seed);
}

/** Seeded uniform floats in [0, 1), as a plain function (for load inputs, Poisson gaps, test fuzzing). */
export function seededRandom(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.next();
}
