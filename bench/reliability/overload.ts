// Reliability item 2 (issue 15): open-loop Poisson load at 2x measured capacity against a Node model
// whose batch of n takes t(n) = 2 ms + 0.05 ms·n (containers/node/examples/timed_model.mjs, the model of
// bench/batching_real.ts), SLO 20 ms, AIMD batching (batch_size -1, cap 512), prediction cache off.
//
//   npx tsc -p tsconfig.json && node dist/bench/reliability/overload.js [--duration-s 60] [--factor 2]
//       [--capacity-rps N (skip the search)] [--overload-response status_429|default_output]
//       [--batch-size -1] [--connections 1024] [--seed 1]
//
// Steps: start the real server (`clipper start`, a child process: harness.ts), deploy the model and its
// app, measure capacity (the highest Poisson rate with >= 99% of the queries answered by the model within
// the SLO: doubling from 2,000/s, then bisection; 0.5 s warm-up + 2 s per level, a failing level tried
// twice), then run factor x capacity for --duration-s while sampling the server's RSS every second.
// Reports goodput / capacity, the shed queries (429s with overload_response status_429, the default) and
// their client-side latency, defaults at the deadline, p99 of the model's answers, the server's shed and
// expired counts and mean batch size (/metrics), and RSS growth after the first 10 s. Last line: one JSON
// object. Figures (issue 15): goodput >= 90% of capacity, every shed query answered within 1 ms, RSS
// growth <= 5% after the first 10 s.
//
// The load generator (this process) must not be the bottleneck: it uses tools/loadgen's raw HTTP
// client (hand-built requests, a minimal parser; cheaper per request than undici) with a pool of
// keep-alive connections and never pipelines (bench/batching_real_level.ts); capacity is measured with
// the same generator and pool, so both sides of the ratio pay its cost. Its CPU share and its send-lag
// p99 (how late it sent versus the Poisson schedule) are reported: a send lag over 1 ms means the
// generator (or the machine) was short of CPU and the run says little about the server.

import { parseArgs } from 'node:util';
import { ConnectionPool, runOpenLevel, type LevelOutcome } from '../batching_real_level.js';
import { randomInputs } from '../../tools/loadgen/inputs.js';
import { rssGrowth } from './soak_report.js';
import { adminOk, printJson, sampleEvery, type ServerProcess, startServer, type StatsSample, waitFor } from './harness.js';

const kSloMs = 20;
const kApp = 'overload';
const kModel = 'timed-overload';

const { values } = parseArgs({
  options: {
    'duration-s': { type: 'string', default: '60' },
    factor: { type: 'string', default: '2' },
    'capacity-rps': { type: 'string' },
    'overload-response': { type: 'string', default: 'status_429' },
    'batch-size': { type: 'string', default: '-1' },
    connections: { type: 'string', default: '1024' },
    seed: { type: 'string', default: '1' },
  },
});
const durationS = Number(values['duration-s']);
const factor = Number(values.factor);
const seed = Number(values.seed);

async function deploy(server: ServerProcess): Promise<void> {
  await adminOk(server.adminUrl, 'add_app', {
    name: kApp,
    input_type: 'doubles',
    default_output: '-1',
    latency_slo_micros: kSloMs * 1000,
    overload_response: values['overload-response'],
  });
  await adminOk(server.adminUrl, 'add_model', {
    model_name: kModel,
    model_version: '1',
    labels: [],
    input_type: 'doubles',
    container_name: 'bench',
    model_data_path: 'DEPRECATED',
    batch_size: Number(values['batch-size']),
    num_replicas: 1,
    cache_enabled: false,
    container: { runtime: 'node', entry: 'containers/node/examples/timed_model.mjs', options: { isolate: 'inline' } },
  });
  await adminOk(server.adminUrl, 'add_model_links', { app_name: kApp, model_names: [kModel] });
  const served = await waitFor(
    async () => {
      const res = await fetch(`${server.queryUrl}/${kApp}/predict`, { method: 'POST', body: '{"input":[1,2,3,4,5,6,7,8]}' });
      return res.status === 200 && ((await res.json()) as { default?: boolean }).default === false;
    },
    60_000,
    100,
  );
  if (!served) throw new Error('the model did not answer a query within 60 s of its deploy');
}

let levelSeed = seed;
function level(pool: ConnectionPool, rateRps: number, warmupS: number, levelS: number): Promise<LevelOutcome> {
  levelSeed++;
  const inputs = randomInputs(8, levelSeed * 7919);
  return runOpenLevel(pool, { model: kModel, rateRps, warmupS, durationS: levelS, sloMs: kSloMs, seed: levelSeed, inputs });
}

/** Highest rate with >= 99% answered by the model within the SLO (a failing level is tried twice). */
async function measureCapacity(pool: ConnectionPool): Promise<{ capacityRps: number; levels: Array<[number, number]> }> {
  const levels: Array<[number, number]> = [];
  const passes = async (rate: number): Promise<boolean> => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await level(pool, rate, 0.5, 2);
      levels.push([rate, Math.round(r.goodShare * 10_000) / 100]);
      if (r.goodShare >= 0.99) return true;
    }
    return false;
  };
  let good = 0;
  let bad = 0;
  for (let rate = 2000; rate <= 64_000; rate *= 2) {
    if (!(await passes(rate))) {
      bad = rate;
      break;
    }
    good = rate;
  }
  for (let step = 0; step < 3 && bad > 0; step++) {
    const rate = Math.round((good + bad) / 2 / 100) * 100;
    if (await passes(rate)) good = rate;
    else bad = rate;
  }
  return { capacityRps: good, levels };
}

/**
 * RSS every second, and its growth after the first 10 s: the median of the last 10 s over the median of
 * the 10 s after the first 10 (soak_report.ts's measure: a GC peak in one sample is not growth).
 */
function rssGrowthOf(samples: readonly StatsSample[]): { baseMiB: number; maxMiB: number; growthPct: number; samplesMiB: number[] } {
  const t0 = samples[0]?.atMs ?? 0;
  const settleMs = Math.min(10_000, (durationS * 1000) / 3);
  const windowMs = Math.min(10_000, Math.max(1000, (durationS * 1000 - settleMs) / 2));
  const later = samples.filter((s) => s.atMs - t0 >= settleMs);
  const windows = Math.max(1, Math.floor((durationS * 1000 - settleMs) / windowMs));
  const growth = rssGrowth(later, t0 + settleMs, windowMs, windows);
  const base = later[0]?.rssBytes ?? 0;
  const max = later.reduce((m, s) => Math.max(m, s.rssBytes), base);
  const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  return {
    baseMiB: mib(base),
    maxMiB: mib(max),
    growthPct: Math.round(growth * 1000) / 10,
    samplesMiB: samples.map((s) => mib(s.rssBytes)),
  };
}

const ms = (us: number): number => Math.round(us) / 1000;

/** A lower bound on the share of the 429 answers that came within `us` of their actual send (from the quantiles). */
function withinShareAtLeast(r: LevelOutcome, us: number): number {
  const s = r.shed429FromSendUs;
  if (s.count === 0) return 1;
  // The summary has no CDF: the largest of its quantiles (max, p99.9, p99, p90, p50) within `us`.
  if (s.max <= us) return 1;
  if (s.p999 <= us) return 0.999;
  if (s.p99 <= us) return 0.99;
  if (s.p90 <= us) return 0.9;
  return s.p50 <= us ? 0.5 : 0;
}

async function main(): Promise<void> {
  const server = await startServer({ args: ['--batch-size-max', '512'] });
  let pool: ConnectionPool | null = null;
  try {
    await deploy(server);
    pool = await ConnectionPool.open(Number(new URL(server.queryUrl).port), kApp, Number(values.connections));
    const capacity =
      values['capacity-rps'] === undefined ? await measureCapacity(pool) : { capacityRps: Number(values['capacity-rps']), levels: [] };
    console.error(`capacity ${capacity.capacityRps}/s (levels: rate, % good: ${JSON.stringify(capacity.levels)})`);
    const rateRps = Math.round(factor * capacity.capacityRps);
    const sampler = sampleEvery(server.pid, 1000);
    const r = await level(pool, rateRps, 0, durationS);
    const rss = rssGrowthOf(sampler.stop());
    const shed = r.shed429LatencyUs;
    printJson({
      script: 'overload',
      durationS,
      sloMs: kSloMs,
      overloadResponse: values['overload-response'],
      capacityRps: capacity.capacityRps,
      capacityLevels: capacity.levels,
      offeredRps: rateRps,
      sent: r.sent,
      goodputRps: Math.round(r.goodputRps),
      goodputOfCapacity: capacity.capacityRps > 0 ? Math.round((r.goodputRps / capacity.capacityRps) * 1000) / 1000 : 0,
      shed429: {
        count: shed.count,
        latencyMsP50: ms(shed.p50),
        latencyMsP99: ms(shed.p99),
        latencyMsMax: ms(shed.max),
        fromSendMsP50: ms(r.shed429FromSendUs.p50),
        fromSendMsP99: ms(r.shed429FromSendUs.p99),
        fromSendWithin1MsAtLeast: withinShareAtLeast(r, 1000),
      },
      defaults: { count: r.defaultLatencyUs.count, latencyMsP50: ms(r.defaultLatencyUs.p50), latencyMsP99: ms(r.defaultLatencyUs.p99) },
      modelAnswers: { count: r.modelLatencyUs.count, latencyMsP50: ms(r.modelLatencyUs.p50), latencyMsP99: ms(r.modelLatencyUs.p99) },
      errors: r.errors,
      errorKinds: r.errorKinds,
      server: r.model,
      rss,
      generator: { cpuPct: Math.round(r.generatorCpuPct), sendLagMsP99: ms(r.sendLagP99Us), backlogMax: r.clientBacklogMax },
      stallRescues: r.stallRescues,
    });
  } finally {
    pool?.close();
    await server.stop();
  }
}

await main();
