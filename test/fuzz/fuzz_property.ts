// One fuzz property as both the CI tests and the bench run it: a name, the parser it exercises, a
// share of the bench's cases, and run(), which calls fc.assert with the given seed and run count
// (fast-check prints the seed, the path and the shrunk counterexample when it fails).
import fc from 'fast-check';

export interface FuzzRun {
  readonly seed: number;
  readonly numRuns: number;
}

export interface FuzzProperty {
  readonly name: string;
  /** The parser under test, as the bench reports cases per parser. */
  readonly parser: string;
  /** Relative share of the bench's cases (the cheap parsers get more). */
  readonly weight: number;
  run(options: FuzzRun): void | Promise<void>;
}

/** A synchronous property over `arb`. */
export function syncProperty<T>(
  name: string,
  parser: string,
  weight: number,
  arb: fc.Arbitrary<T>,
  predicate: (value: T) => void,
): FuzzProperty {
  return {
    name,
    parser,
    weight,
    run: ({ seed, numRuns }) => fc.assert(fc.property(arb, predicate), { seed, numRuns, includeErrorInReport: true }),
  };
}

/** An asynchronous property over `arb`. */
export function asyncProperty<T>(
  name: string,
  parser: string,
  weight: number,
  arb: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<void>,
): FuzzProperty {
  return {
    name,
    parser,
    weight,
    run: ({ seed, numRuns }) => fc.assert(fc.asyncProperty(arb, predicate), { seed, numRuns, includeErrorInReport: true }),
  };
}

/** An ArrayBuffer holding exactly `buf`'s bytes (what uWS hands a message handler). */
export function arrayBufferOf(buf: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(buf.byteLength);
  new Uint8Array(out).set(buf);
  return out;
}
