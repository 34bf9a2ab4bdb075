// CI fuzzing of every in-process parser (OIP infer bodies, container frames and the runner's inputs,
// ring records, state records, policy state, admin bodies): a fixed seed and modest runs.
// bench/reliability/fuzz.ts runs the same properties with many more, seeded at random.
import { test } from 'node:test';
import { kCiSeed } from './ci_seed.js';
import { kAdminProperty } from './props_admin.js';
import { kOipProperties } from './props_oip.js';
import { kProtocolProperties } from './props_protocol.js';
import { kRecordProperties } from './props_records.js';

for (const p of [...kOipProperties, ...kProtocolProperties, ...kRecordProperties, kAdminProperty]) {
  test(`fuzz ${p.name} (seed ${kCiSeed})`, () => p.run({ seed: kCiSeed, numRuns: 300 }));
}
