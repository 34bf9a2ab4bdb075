// Small seeded PRNG (sfc32, seeded through splitmix32) for the batching layer, its tests and the simulator.
// Math.random is banned in batching code: one seed must replay a whole simulated run.
// Note: src/selection/prng.ts (selection policies) is a separate copy written in parallel; the two can be
// merged into one shared module later.

export interface Prng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, bound). */
  nextInt(bound: number): number;
  /** Exponential variate with the given rate (mean 1 / rate). */
  exponential(rate: number): number;
  /** Standard normal variate (Box-Muller). */
  normal(): number;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export function createPrng(seed: number): Prng {
  if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer (got ${seed})`);
  const init = splitmix32(seed);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const nextU32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) nextU32();
  const next = (): number => nextU32() / 4294967296;
  return {
    next,
    nextInt(bound: number): number {
      if (!Number.isInteger(bound) || bound <= 0) throw new RangeError(`bound must be a positive integer (got ${bound})`);
      return Math.floor(next() * bound);
    },
    exponential(rate: number): number {
      if (!(rate > 0)) throw new RangeError(`rate must be > 0 (got ${rate})`);
      return -Math.log(1 - next()) / rate;
    },
    normal(): number {
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}

/** Seeded uniform floats in [0, 1), as a plain function (for load inputs, Poisson gaps, test fuzzing). */
export function seededRandom(seed: number): () => number {
  const prng = createPrng(seed);
  return () => prng.next();
}
