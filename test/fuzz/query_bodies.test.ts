// CI fuzzing of the query bodies (predict, update, stream frames): a fixed seed and modest runs;
// bench/reliability/fuzz.ts runs the same properties with many more.
import { test } from 'node:test';
import { kQueryProperties } from './props_query.js';
import { kCiSeed } from './ci_seed.js';

for (const p of kQueryProperties) {
  test(`fuzz ${p.name} (seed ${kCiSeed})`, () => p.run({ seed: kCiSeed, numRuns: 300 }));
}
