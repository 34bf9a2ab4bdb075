// CLI for the query-core simulator: node dist/sim/run_core.js --seed N [--scenario name] [--duration-ms M]
// Prints a summary; on an invariant violation prints how to replay the run and exits 1.

import { parseArgs } from 'node:util';
import { CoreSimInvariantError, runCoreSimulation } from './query_core/simulator.js';
import { kCoreScenarios } from './query_core/scenarios.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    scenario: { type: 'string', default: 'faults' },
    'duration-ms': { type: 'string' },
  },
});
const seed = Number(values.seed);
const make = kCoreScenarios[values.scenario!];
if (make === undefined || !Number.isInteger(seed)) {
  console.error(`usage: run_core.js --seed <int> --scenario <${Object.keys(kCoreScenarios).join('|')}> [--duration-ms M]`);
  process.exit(2);
}
const config = make(seed);
if (values['duration-ms'] !== undefined) config.durationMs = Number(values['duration-ms']);
try {
  console.log(JSON.stringify(runCoreSimulation(config), null, 2));
} catch (err) {
  if (err instanceof CoreSimInvariantError) {
    console.error(`SIMULATION FAILED: ${err.message}`);
    process.exit(1);
  }
  throw err;
}
