// Batching benchmark through the REAL system: HTTP frontend -> SAB rings -> batching worker (ModelScheduler,
// AIMD or fixed batch size) -> TCP -> a Node model process whose batch of n takes t(n) = 2 ms + 0.05 ms n
// (containers/node/examples/timed_model.mjs). SLO 20 ms, so n* = 360 and n*/t(n*) = 18,000/s.
// bench/sim_batching.ts measures the same policies in simulated time; this measures this machine.
//
//   npm run build && node dist/bench/batching_real.js [--grid 16,64,128,192,256,360]
//       [--rates 1000,2000,3000,4500,6000,8000,10000,12000] [--duration-s 2] [--warmup-s 0.7]
//       [--wait-ms 1,2] [--connections 800] [--out bench/results/batching_real.json]
//
// The cluster runs in a child process (`node dist/bench/batching_real.js serve <json>`), so the load
// generator (this process) and the server do not share a thread. It is started with config.batchSizeMax 512
// (the AIMD cap; default 64). Each policy (AIMD, batch size 1, each fixed size of the grid) is its own model
// (one replica, prediction cache off) behind its own app (SLO 20 ms, default output on overload). Load is
// open loop, Poisson, unique random inputs, one request per connection at a time (batching_real_level.ts).
//   1. each policy over the same grid of offered rates: goodput (model answers within the SLO per second)
//      and the share of sent queries that got one; "capacity" = the highest goodput at a level where >= 99.9%
//      (or >= 99%) of sent queries got a model answer within the SLO;
//   2. 2x overload (twice AIMD's 99% capacity) for AIMD, batch size 1 and the best fixed size: goodput,
//      defaults and the latency of default answers;
//   3. delayed batching: config.batchWaitMs 0 (this cluster) vs 1 and 2 (fresh clusters) at 30% load;
//   4. prediction cache: cache hits vs misses on a noop model, closed loop.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';
import { ConnectionPool, runOpenLevel, type LevelOutcome } from './batching_real_level.js';
import { cpuPct, sampleCpu } from './proc_cpu.js';
import { HttpTransport } from '../tools/loadgen/http_client.js';
import { fixedInput, randomInputs } from '../tools/loadgen/inputs.js';
import { runLevel } from '../tools/loadgen/runner.js';

const kSloMs = 20;
const kBaseMs = 2;
const kPerInputMs = 0.05;
const kBatchSizeMax = 512;

interface ServeSpec {
  batchWaitMs: number;
  policies: number[];
  noop: boolean;
}

const policyName = (batchSize: number): string => (batchSize === -1 ? 'aimd' : batchSize === 1 ? 'b1' : `fixed-${batchSize}`);
const modelName = (batchSize: number): string => `timed-${policyName(batchSize)}`;
/** Best possible throughput of a policy on this container: n/t(n) for its size (n* = 360 for AIMD). */
function idealRps(batchSize: number): number {
  const n = batchSize === -1 ? (kSloMs - kBaseMs) / kPerInputMs : batchSize;
  return (n / (kBaseMs + kPerInputMs * n)) * 1000;
}

async function serve(spec: ServeSpec): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const cluster = await Cluster.start({
    config: { queryPort: 0, adminPort: 0, batchSizeMax: kBatchSizeMax, batchWaitMs: spec.batchWaitMs },
  });
  const models: Array<[name: string, entry: string, batchSize: number, cache: boolean]> = spec.policies.map((b) => [
    modelName(b),
    'timed_model.mjs',
    b,
    false,
  ]);
  if (spec.noop) models.push(['noop-cached', 'noop_model.mjs', -1, true]);
  for (const [name, entry, batchSize, cache] of models) {
    await cluster.store.putModel({
      model_name: name,
      model_version: '1',
      input_type: 'doubles',
      labels: [],
      container_name: 'bench',
      model_data_path: 'DEPRECATED',
      batch_size: batchSize,
      num_replicas: 1,
      cache_enabled: cache,
      container: { runtime: 'node', entry: path.join(kRepoRoot, 'containers', 'node', 'examples', entry), options: { isolate: 'inline' } },
    });
  }
  for (const [name] of models) {
    await cluster.waitForDeploy(name, '1');
    await cluster.store.setCurrentVersion(name, '1');
    await cluster.store.putApp({
      name: name.replace(/^timed-/, ''),
      input_type: 'doubles',
      default_output: '-1.0',
      latency_slo_micros: kSloMs * 1000,
      linked_models: [name],
      selection_policy: 'default',
      overload_response: 'default_output',
    });
  }
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  const stop = (): void => {
    void cluster.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

interface Server {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

function startServer(spec: ServeSpec): Promise<Server> {
  const child = spawn(process.execPath, [path.join(kRepoRoot, 'dist', 'bench', 'batching_real.js'), 'serve', JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /"port":(\d+)/.exec(line);
      if (m) resolve({ child, port: Number(m[1]), stop });
    });
    child.once('exit', (code) => reject(new Error(`cluster child exited with ${code}`)));
  });
}

const loadavg = (): string =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const ms = (us: number): string => (us / 1000).toFixed(1);

function describe(r: LevelOutcome): string {
  const m = r.model;
  return (
    `${r.app} rate=${r.rateRps.toFixed(0)} goodput=${r.goodputRps.toFixed(0)}/s good=${(r.goodShare * 100).toFixed(2)}% ` +
    `defaults=${(r.defaultShare * 100).toFixed(2)}% p50=${ms(r.latencyUs.p50)} p99=${ms(r.latencyUs.p99)} ms ` +
    `batch=${m?.batchSizeMean.toFixed(1)} max=${m?.batchSizeMaxEnd} batchLat=${m?.batchLatencyMsMean.toFixed(2)} ms ` +
    `lag99=${ms(r.sendLagP99Us)} ms backlog=${r.clientBacklogMax} err=${r.errors} rescues=${r.stallRescues} gen=${r.generatorCpuPct.toFixed(0)}% cluster=${r.clusterCpuPct?.toFixed(0)}% models=${r.modelProcessesCpuPct?.toFixed(0)}% load=${os.loadavg()[0]!.toFixed(2)}`
  );
}

interface Sweep {
  policy: string;
  batchSize: number;
  idealRps: number;
  levels: LevelOutcome[];
}

const kB1Rates = [100, 200, 300, 400, 500];

/** Highest goodput among levels with at least `share` of sent queries answered by the model within the SLO. */
function capacity(s: Sweep, share: number): number {
  return s.levels.filter((l) => l.goodShare >= share && l.errors === 0).reduce((m, l) => Math.max(m, l.goodputRps), 0);
}
const peak = (s: Sweep): number => s.levels.reduce((m, l) => Math.max(m, l.goodputRps), 0);

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve(JSON.parse(process.argv[3]!) as ServeSpec);
  const { values } = parseArgs({
    options: {
      grid: { type: 'string', default: '16,64,128,192,256,360' },
      rates: { type: 'string', default: '1000,2000,3000,4500,6000,8000,10000,12000' },
      'duration-s': { type: 'string', default: '2' },
      'warmup-s': { type: 'string', default: '0.7' },
      'wait-ms': { type: 'string', default: '1,2' },
      connections: { type: 'string', default: '800' },
      out: { type: 'string', default: path.join(kRepoRoot, 'bench', 'results', 'batching_real.json') },
    },
  });
  const grid = values.grid!.split(',').map(Number);
  const rateGrid = values.rates!.split(',').map(Number);
  const policies = [-1, 1, ...grid];
  const durationS = Number(values['duration-s']);
  const warmupS = Number(values['warmup-s']);
  const connections = Number(values.connections);
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const started = Date.now();
  const loads: Record<string, string> = { start: loadavg() };
  let seed = 1;
  const pools: ConnectionPool[] = [];
  let poolSize = connections;
  const poolFor = async (port: number, batchSize: number): Promise<ConnectionPool> => {
    let pool = pools.find((p) => p.port === port && p.app === policyName(batchSize));
    if (pool === undefined) {
      pool = await ConnectionPool.open(port, policyName(batchSize), poolSize);
      pools.push(pool);
    }
    return pool;
  };
  const level = async (port: number, batchSize: number, rateRps: number, d = durationS, w = warmupS): Promise<LevelOutcome> => {
    const pool = await poolFor(port, batchSize);
    const pid = servers.find((sv) => sv.port === port)?.child.pid ?? 0;
    const cpu0 = sampleCpu(pid);
    const r = await runOpenLevel(pool, {
      model: modelName(batchSize),
      rateRps,
      warmupS: w,
      durationS: d,
      sloMs: kSloMs,
      seed: seed++,
      inputs: randomInputs(8, seed * 7919),
    });
    const cpu = cpuPct(cpu0, sampleCpu(pid));
    r.clusterCpuPct = cpu.selfPct;
    r.modelProcessesCpuPct = cpu.childrenPct;
    return r;
  };
  const closePools = (): void => {
    for (const p of pools.splice(0)) p.close();
  };

  const servers: Server[] = [];
  const onSignal = (): void => {
    void Promise.all(servers.map((s) => s.stop())).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  const result: Record<string, unknown> = {
    command: process.argv.slice(2).join(' '),
    sloMs: kSloMs,
    batchSizeMax: kBatchSizeMax,
    durationS,
    warmupS,
    connections,
    cpus: os.cpus().length,
  };
  try {
    const primary = await startServer({ batchWaitMs: 0, policies, noop: true });
    servers.push(primary);
    log(`cluster on ${primary.port}, load average ${loadavg()}`);

    // 1. Rate sweep per policy over one grid of offered rates (up to 1.2x the policy's ideal n/t(n)); a policy
    //    stops after two consecutive levels below 90% good (it is saturated).
    const sweeps: Sweep[] = [];
    for (const b of policies) {
      const s: Sweep = { policy: policyName(b), batchSize: b, idealRps: idealRps(b), levels: [] };
      const rates = (b === 1 ? kB1Rates : rateGrid).filter((r) => r <= 1.2 * s.idealRps);
      await level(primary.port, b, rates[0]!, 1, 0.5); // warm-up (AIMD starts at batch size 1)
      let low = 0;
      for (const rate of rates) {
        const r = await level(primary.port, b, rate);
        s.levels.push(r);
        log(describe(r));
        low = r.goodShare < 0.9 ? low + 1 : 0;
        if (low === 2) break;
      }
      sweeps.push(s);
      closePools(); // one policy at a time holds connections
    }
    loads.afterSweep = loadavg();
    const get = (p: string): Sweep => sweeps.find((s) => s.policy === p)!;
    const fixed = sweeps.filter((s) => s.batchSize > 1);
    const bestFixed = fixed.reduce((a, b) => (capacity(b, 0.99) > capacity(a, 0.99) ? b : a), fixed[0]!);
    const aimdCap = capacity(get('aimd'), 0.99);
    result.sweeps = sweeps;

    // 2. Overload: 2x the AIMD capacity (>= 99% good), for AIMD, batch size 1 and the best fixed size.
    const overloadRate = 2 * (aimdCap > 0 ? aimdCap : 4000);
    const overload: LevelOutcome[] = [];
    poolSize = Math.max(connections, Math.ceil(overloadRate * 0.1)); // room for 100 ms of requests in flight
    for (const b of [-1, 1, bestFixed.batchSize]) {
      const r = await level(primary.port, b, overloadRate, 3, 1);
      log(`overload ${describe(r)}`);
      overload.push(r);
      closePools();
    }
    poolSize = connections;
    result.overload = overload;
    loads.afterOverload = loadavg();

    // 3. Delayed batching off (this cluster) / on (fresh clusters) at 30% of the AIMD sustainable rate.
    const moderate = 0.3 * (aimdCap > 0 ? aimdCap : 4000);
    const delayed: Array<{ batchWaitMs: number; r: LevelOutcome }> = [];
    {
      const r = await level(primary.port, -1, moderate, 3, 1);
      log(`wait 0: ${describe(r)}`);
      delayed.push({ batchWaitMs: 0, r });
    }

    // 4. Cache hits vs misses on a noop model with the prediction cache on: closed loop, 32 connections.
    const cache: Record<string, unknown>[] = [];
    for (const [label, inputs] of [
      ['miss (unique random inputs)', randomInputs(8, 99)],
      ['hit (one repeated input)', fixedInput('[1,2,3,4,5,6,7,8]')],
    ] as const) {
      const transport = new HttpTransport({ host: '127.0.0.1', port: primary.port, path: '/noop-cached/predict', shape: 'clipper' });
      const r = await runLevel(
        {
          label,
          transport,
          inputs,
          mode: 'closed',
          levels: [32],
          connections: 32,
          poisson: false,
          seed: 1,
          durationS,
          warmupS: 0.5,
          drainS: 2,
          sloMs: kSloMs,
          metricsUrl: null,
        },
        32,
      );
      log(
        `cache ${label}: ${r.throughputRps.toFixed(0)} req/s p50 ${ms(r.latencyUs.p50)} p99 ${ms(r.latencyUs.p99)} ms gen ${r.generatorCpuPct.toFixed(0)}%`,
      );
      cache.push({
        label,
        throughputRps: r.throughputRps,
        latencyUs: r.latencyUs,
        generatorCpuPct: r.generatorCpuPct,
        errors: r.errorCount,
      });
    }
    result.cache = cache;
    closePools();
    await primary.stop();
    servers.length = 0;

    for (const w of values['wait-ms']!.split(',')
      .map(Number)
      .filter((x) => x > 0)) {
      const srv = await startServer({ batchWaitMs: w, policies: [-1], noop: false });
      servers.push(srv);
      await level(srv.port, -1, moderate, 1, 0.5); // warm-up of the fresh AIMD controller
      const r = await level(srv.port, -1, moderate, 3, 1);
      log(`wait ${w}: ${describe(r)}`);
      delayed.push({ batchWaitMs: w, r });
      closePools();
      await srv.stop();
      servers.length = 0;
    }
    result.delayed = delayed;
    loads.end = loadavg();
    result.loadAverage = loads;
    result.wallS = (Date.now() - started) / 1000;

    const aimd = get('aimd');
    const b1 = get('b1');
    const summary = {
      aimdCapacity999Rps: Math.round(capacity(aimd, 0.999)),
      aimdCapacity99Rps: Math.round(aimdCap),
      aimdPeakGoodputRps: Math.round(peak(aimd)),
      aimdOfIdealPct: +((100 * aimdCap) / 18_000).toFixed(1),
      b1Capacity99Rps: Math.round(capacity(b1, 0.99)),
      b1PeakGoodputRps: Math.round(peak(b1)),
      bestFixed: bestFixed.policy,
      bestFixedCapacity99Rps: Math.round(capacity(bestFixed, 0.99)),
      bestFixedPeakGoodputRps: Math.round(Math.max(...fixed.map(peak))),
      aimdOverB1AtCapacity: +(aimdCap / Math.max(1, capacity(b1, 0.99))).toFixed(1),
      aimdOverBestFixedAtCapacity: +(aimdCap / Math.max(1, capacity(bestFixed, 0.99))).toFixed(3),
      aimdOverB1Peak: +(peak(aimd) / Math.max(1, peak(b1))).toFixed(1),
      aimdOverBestFixedPeak: +(peak(aimd) / Math.max(1, Math.max(...fixed.map(peak)))).toFixed(3),
      overloadOfferedRps: Math.round(overloadRate),
      overloadGoodputRps: Object.fromEntries(overload.map((r) => [r.app, Math.round(r.goodputRps)])),
      stallRescues: sweeps.reduce((a, sw) => a + sw.levels.reduce((x, l) => x + l.stallRescues, 0), 0),
    };
    result.summary = summary;
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(values.out!, JSON.stringify(result, null, 2));
    printTables(sweeps, overload, delayed, cache, summary, loads);
    log(`wrote ${values.out} (${result.wallS} s)`);
  } finally {
    closePools();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function printTables(
  sweeps: Sweep[],
  overload: LevelOutcome[],
  delayed: Array<{ batchWaitMs: number; r: LevelOutcome }>,
  cache: Record<string, unknown>[],
  summary: Record<string, unknown>,
  loads: Record<string, string>,
): void {
  const out: string[] = [];
  out.push('| policy | ideal n/t(n) /s | capacity (>= 99.9% good) /s | capacity (>= 99% good) /s | peak goodput /s | stall rescues |');
  out.push('|---|---|---|---|---|---|');
  for (const s of sweeps) {
    out.push(
      `| ${s.policy} | ${Math.round(s.idealRps)} | ${Math.round(capacity(s, 0.999))} | ${Math.round(capacity(s, 0.99))} | ` +
        `${Math.round(peak(s))} | ${s.levels.reduce((a, l) => a + l.stallRescues, 0)} |`,
    );
  }
  out.push('', 'Every level: goodput /s (good % of sent, p99 ms, mean batch)', '');
  const rates = [...new Set(sweeps.flatMap((s) => s.levels.map((l) => l.rateRps)))].sort((a, b) => a - b);
  out.push(`| policy | ${rates.map((r) => `${r}/s`).join(' | ')} |`, `|---|${rates.map(() => '---').join('|')}|`);
  for (const s of sweeps) {
    const cells = rates.map((rate) => {
      const l = s.levels.find((x) => x.rateRps === rate);
      return l === undefined
        ? ''
        : `${Math.round(l.goodputRps)} (${(100 * l.goodShare).toFixed(2)}%, ${ms(l.latencyUs.p99)}, ${l.model?.batchSizeMean.toFixed(1) ?? '-'})` +
            (l.stallRescues > 0 ? ` [${l.stallRescues} rescue]` : '');
    });
    out.push(`| ${s.policy} | ${cells.join(' | ')} |`);
  }
  out.push(
    '',
    '| overload (2x AIMD capacity) | offered /s | goodput /s | model answers in SLO | defaults | model p99 ms | default p50 / p99 ms | shed + expired in queue | mean batch | cluster / model CPU % of a core |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of overload) {
    out.push(
      `| ${r.app} | ${Math.round(r.rateRps)} | ${Math.round(r.goodputRps)} | ${(100 * r.goodShare).toFixed(1)}% of sent | ${(100 * r.defaultShare).toFixed(1)}% | ` +
        `${ms(r.modelLatencyUs.p99)} | ${ms(r.defaultLatencyUs.p50)} / ${ms(r.defaultLatencyUs.p99)} | ${r.model ? r.model.shedCount + r.model.expiredCount : '-'} | ${r.model?.batchSizeMean.toFixed(1) ?? '-'} | ${r.clusterCpuPct?.toFixed(0)} / ${r.modelProcessesCpuPct?.toFixed(0)} |`,
    );
  }
  out.push('', '| batchWaitMs | rate /s | p50 ms | p99 ms | in SLO | mean batch | batches /s |', '|---|---|---|---|---|---|---|');
  for (const { batchWaitMs, r } of delayed) {
    out.push(
      `| ${batchWaitMs} | ${Math.round(r.rateRps)} | ${ms(r.latencyUs.p50)} | ${ms(r.latencyUs.p99)} | ${(100 * r.goodShare).toFixed(2)}% | ` +
        `${r.model?.batchSizeMean.toFixed(1) ?? '-'} | ${r.model ? Math.round(r.model.batchCount / 3) : '-'} |`,
    );
  }
  out.push('', '| noop model, cache on, closed loop c=32 | req/s | p50 ms | p99 ms | generator CPU |', '|---|---|---|---|---|');
  for (const c of cache) {
    const l = c.latencyUs as { p50: number; p99: number };
    out.push(
      `| ${c.label as string} | ${Math.round(c.throughputRps as number)} | ${ms(l.p50)} | ${ms(l.p99)} | ${(c.generatorCpuPct as number).toFixed(0)}% |`,
    );
  }
  out.push('', `summary: ${JSON.stringify(summary)}`, `load average (1/5/15 min): ${JSON.stringify(loads)}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
