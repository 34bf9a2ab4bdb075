// Seeded randomness for tests (the project's sfc32 PRNG). A failing randomized test prints its seed.
export { seededRandom } from '../../src/lib/prng.js';

export function testSeed(): number {
  const fromEnv = Number(process.env.CLIPPER_TEST_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (Date.now() % 1_000_000) + 1;
}
