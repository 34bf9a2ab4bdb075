// Batching benchmark on the deterministic simulator (sim/): the real ModelScheduler, a simulated
// container with t(n) = 2 ms + 0.05 ms * n (5% noise) and a 20 ms SLO. ALL FIGURES ARE SIMULATED TIME: they
// measure the scheduling policy (batch sizes, deadlines, shedding), not the speed of this machine.
//
//   node dist/bench/sim_batching.js [--seed N] [--duration-ms M] [--json]
//
// Reports: goodput (answers within the SLO per simulated second) and the share of sent queries answered
// within the SLO, for AIMD, batch size 1 and every fixed size of a grid, at 1x and 2x the best possible
// throughput n*/t(n*) (n* = 360: the largest batch meeting the SLO, 18,000 queries/s); delayed batching
// on/off at moderate load; and the speed goal (AIMD >= 90% of n*/t(n*) with >= 99.9% in SLO).

import { parseArgs } from 'node:util';
import type { SchedulerOptions } from '../src/batching/scheduler_options.js';
import { runSimulation, type SimConfig, type SimResult } from '../sim/simulator.js';
import { kBestBatchSize, kBestRatePerMs, kReferenceModel, kReferenceSloMs } from '../sim/scenarios.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    'duration-ms': { type: 'string', default: '6000' },
    json: { type: 'boolean', default: false },
  },
});
const seed = Number(values.seed);
const durationMs = Number(values['duration-ms']);
const kGrid = [1, 2, 4, 8, 16, 32, 64, 96, 128, 160, 192, 224, 256, 320, 360];

function simulate(loadFactor: number, scheduler: Partial<SchedulerOptions>, replicaCount = 1): SimResult {
  const config: SimConfig = {
    seed,
    durationMs,
    warmupMs: 1000,
    sloMs: kReferenceSloMs,
    arrival: { kind: 'poisson', ratePerMs: loadFactor * kBestRatePerMs },
    replicas: Array.from({ length: replicaCount }, () => kReferenceModel),
    scheduler,
  };
  return runSimulation(config);
}

interface Row {
  policy: string;
  load: string;
  goodputPerS: number;
  ofBestPct: number;
  inSloOfSentPct: number;
  answeredInSloPct: number;
  batchSizeMean: number;
  latencyMsP50: number;
  latencyMsP99: number;
  batchesPerS: number;
}

function row(policy: string, load: string, r: SimResult): Row {
  const measuredS = (durationMs - 1000) / 1000;
  return {
    policy,
    load,
    goodputPerS: Math.round(r.goodputPerS),
    ofBestPct: +((100 * r.goodputPerS) / (kBestRatePerMs * 1000)).toFixed(1),
    inSloOfSentPct: +(100 * r.inSloShareOfCompleted).toFixed(3),
    answeredInSloPct: +(100 * r.inSloShareOfOffered).toFixed(1),
    batchSizeMean: +r.batchSizeMean.toFixed(1),
    latencyMsP50: +r.latencyMsP50.toFixed(2),
    latencyMsP99: +r.latencyMsP99.toFixed(2),
    batchesPerS: Math.round(r.batches.filter((b) => b.atMs >= 1000).length / measuredS),
  };
}

const aimd = { batchSize: -1, batchSizeCap: 1024 };
const rows: Row[] = [];
const bestFixed: Record<string, Row> = {};
for (const load of [1, 2]) {
  const label = `${load}x`;
  rows.push(row('aimd', label, simulate(load, aimd)));
  for (const n of kGrid) {
    const r = row(`fixed ${n}`, label, simulate(load, { batchSize: n }));
    if (n === 1) rows.push(r);
    if (bestFixed[label] === undefined || r.goodputPerS > bestFixed[label].goodputPerS) bestFixed[label] = r;
  }
  rows.push({ ...bestFixed[label]!, policy: `best fixed (${bestFixed[label]!.policy})` });
}
const delayRows: Row[] = [];
for (const load of [0.1, 0.5]) {
  for (const replicaCount of [1, 4]) {
    for (const batchWaitMs of [0, 1, 2]) {
      const r = simulate(load, { ...aimd, batchWaitMs }, replicaCount);
      delayRows.push(row(`aimd wait ${batchWaitMs} ms, ${replicaCount} replica(s)`, `${load}x`, r));
    }
  }
}

const aimd2x = rows.find((r) => r.policy === 'aimd' && r.load === '2x')!;
const aimd1x = rows.find((r) => r.policy === 'aimd' && r.load === '1x')!;
const goal = {
  bestBatchSize: kBestBatchSize,
  bestThroughputPerS: Math.round(kBestRatePerMs * 1000),
  aimdAt2xOfBestPct: aimd2x.ofBestPct,
  aimdAt2xInSloOfSentPct: aimd2x.inSloOfSentPct,
  aimdAt1xOfBestPct: aimd1x.ofBestPct,
  met: aimd2x.ofBestPct >= 90 && aimd2x.inSloOfSentPct >= 99.9,
};

if (values.json) {
  console.log(JSON.stringify({ seed, durationMs, simulated: true, rows, delayRows, goal }, null, 2));
} else {
  console.log(`batching simulator, seed ${seed}, ${durationMs} ms simulated (first 1000 ms warm-up); SIMULATED TIME`);
  console.log(
    `container t(n) = 2 ms + 0.05 ms * n, SLO ${kReferenceSloMs} ms, n* = ${kBestBatchSize}, best = ${goal.bestThroughputPerS}/s`,
  );
  console.table(rows);
  console.log("delayed batching at 10% and 50% of one replica's best throughput:");
  console.table(delayRows);
  console.log('speed goal (AIMD at 2x load: >= 90% of n*/t(n*), >= 99.9% of sent queries within SLO):', goal);
}
