// CLI for the batching simulator: node dist/sim/run.js --seed N [--scenario name] [--duration-ms M]
// Prints a summary; on an invariant violation prints the seed and exits 1.

import { parseArgs } from 'node:util';
import { runSimulation, SimInvariantError } from './simulator.js';
import { kScenarios } from './scenarios.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    scenario: { type: 'string', default: 'overload_aimd' },
    'duration-ms': { type: 'string' },
  },
});
const seed = Number(values.seed);
const make = kScenarios[values.scenario!];
if (make === undefined || !Number.isInteger(seed)) {
  console.error(`usage: run.js --seed <int> --scenario <${Object.keys(kScenarios).join('|')}> [--duration-ms M]`);
  process.exit(2);
}
const config = make(seed);
if (values['duration-ms'] !== undefined) config.durationMs = Number(values['duration-ms']);
try {
  const r = runSimulation(config);
  const { batches, ...summary } = r;
  const tail = batches.slice(-5).map((b) => `${b.batchSize}/${b.batchSizeMaxAfter}@${b.latencyMs.toFixed(2)}ms`);
  console.log(JSON.stringify({ scenario: values.scenario, ...summary, batchCount: batches.length, lastBatches: tail }, null, 2));
} catch (err) {
  if (err instanceof SimInvariantError) {
    console.error(`SIMULATION FAILED (replay: node dist/sim/run.js --seed ${seed} --scenario ${values.scenario}): ${err.message}`);
    process.exit(1);
  }
  throw err;
}
