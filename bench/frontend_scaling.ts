// Requests/s against the number of frontend threads (issue #17): for each thread count N, a bare
// uWebSockets.js echo server on N threads sharing the port (bench/echo_threads.ts, the ceiling) and
// the cluster with `frontendThreads` N serving the quickstart app (hello-world → sum-model), both
// loaded by wrk at 16·N connections (or --connections) with a unique random input per request
// (bench/wrk/predict_random.lua), so the prediction cache answers nothing: its hit counter is read
// around every cluster run and reported, to prove it. Each row gives req/s, p50/p99, the server
// process's CPU (% of one core, all its threads; the replicas' apart), its ratio to the echo server with the same threads
// and accept mode, and its ratio to the same target's 1-thread row.
//
//   npm run build && node dist/bench/frontend_scaling.js [--threads 1,2,4,8] [--connections 16,32,64,128]
//       [--duration-s 10] [--warmup-s 2] [--wrk-threads auto] [--accept reuseport,acceptor]
//       [--config '{"batchingThreads":2}']
//
// --accept: how the threads share the port (config frontendAccept; the echo server does the same);
// without it the echo server uses reuseport and the cluster its configured default. --wrk-threads
// auto: N, at most half the cores (wrk needs cores of its own). Each server runs in its own process
// with the serving Node flags (src/cli/node_flags.ts), one at a time. One JSON line per row as it is
// measured, then a Markdown table.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';
import { benchHeader, positiveInts, wrkCommandLine } from './bench_command.js';
import { cpuPct, sampleCpu } from './proc_cpu.js';
import { stopChild } from './stop_child.js';
import { runWrk, startChild, type WrkResult } from './wrk_runner.js';

const kScript = path.join(kRepoRoot, 'bench', 'wrk', 'predict_random.lua');
const kAcceptModes = ['reuseport', 'acceptor'] as const;
type Accept = (typeof kAcceptModes)[number];

interface Settings {
  threads: number[];
  connections: number[];
  durationS: number;
  warmupS: number;
  wrkThreads: number | 'auto';
  /** null: the cluster's configured default (and reuseport for the echo server). */
  accepts: Array<Accept | null>;
  config: Record<string, unknown>;
}

interface Row {
  bench: 'frontend_scaling';
  target: 'echo' | 'clipper';
  threads: number;
  accept: Accept | 'default';
  connections: number;
  wrkThreads: number;
  requestsPerS: number;
  p50Us: number;
  p99Us: number;
  non2xx: number;
  defaults: number;
  cacheHits: number | null;
  /** Sockets listening on the port (one per thread with reuseport; one with acceptor). */
  listenSockets: number;
  serverCpuPct: number;
  /** The server's child processes (the cluster's replicas). */
  childrenCpuPct: number;
  vsEcho: number | null;
  vsOneThread: number | null;
}

function settings(): Settings {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: '1,2,4,8' },
      connections: { type: 'string' },
      'duration-s': { type: 'string', default: '10' },
      'warmup-s': { type: 'string', default: '2' },
      'wrk-threads': { type: 'string', default: 'auto' },
      accept: { type: 'string' },
      config: { type: 'string', default: '{}' },
    },
  });
  const threads = positiveInts(values.threads, '--threads');
  const given = values.connections === undefined ? threads.map((n) => 16 * n) : positiveInts(values.connections, '--connections');
  const connections = given.length === 1 ? threads.map(() => given[0]!) : given;
  if (connections.length !== threads.length) throw new Error('--connections: one number, or one per --threads entry');
  const accepts = (values.accept?.split(',') ?? [null]).map((a) => {
    if (a !== null && !(kAcceptModes as readonly string[]).includes(a))
      throw new Error(`--accept: ${a} is not one of ${kAcceptModes.join(', ')}`);
    return a as Accept | null;
  });
  const wrkThreads = values['wrk-threads'] === 'auto' ? 'auto' : positiveInts(values['wrk-threads'], '--wrk-threads')[0]!;
  const [durationS, warmupS] = [Number(values['duration-s']), Number(values['warmup-s'])];
  if (!(Number.isInteger(durationS) && durationS >= 1 && Number.isInteger(warmupS) && warmupS >= 0))
    throw new Error('--duration-s (>= 1) and --warmup-s (>= 0) are whole seconds (wrk takes no fractions)');
  const config = JSON.parse(values.config) as Record<string, unknown>;
  return { threads, connections, durationS, warmupS, wrkThreads, accepts, config };
}

/** The cluster child: `frontend_scaling.js serve '<config JSON>'`; prints {"port":P}. */
async function serve(): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const { installExample } = await import('../src/admin/example.js');
  const config = JSON.parse(process.argv[3] ?? '{}') as Record<string, unknown>;
  const cluster = await Cluster.start({ config: { queryPort: 0, adminPort: 0, ...config } });
  await installExample(cluster);
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

/**
 * Sockets listening on 127.0.0.1:port (/proc/net/tcp; 0 where it cannot be read): with reuseport, one
 * per frontend thread, which shows the server really runs the threads asked for.
 */
function listenSockets(port: number): number {
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return 0;
  }
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  // Columns: sl, local_address (hex ip:port), rem_address, st (0A = LISTEN), ...
  return text.split('\n').filter((line) => {
    const f = line.trim().split(/\s+/);
    return f[1]?.endsWith(local) === true && f[3] === '0A';
  }).length;
}

/** The cluster's prediction-cache hits so far, or null when /metrics does not say (reported, not fatal). */
async function cacheHits(port: number): Promise<number | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics/prometheus`, { headers: { accept: 'text/plain' } });
    const m = /^clipper_cache_lookups_total\{result="hit"\} (\d+)/m.exec(await res.text());
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** Start one server, warm it up, measure it, stop it. */
async function measure(s: Settings, target: Row['target'], threads: number, accept: Accept | null, connections: number): Promise<Row> {
  const wrkThreads = Math.min(
    connections,
    s.wrkThreads === 'auto' ? Math.max(1, Math.min(threads, Math.floor(os.availableParallelism() / 2))) : s.wrkThreads,
  );
  const server =
    target === 'echo'
      ? await startChild([
          path.join(kRepoRoot, 'dist', 'bench', 'echo_threads.js'),
          '--threads',
          String(threads),
          '--accept',
          accept ?? 'reuseport',
        ])
      : await startChild([
          path.join(kRepoRoot, 'dist', 'bench', 'frontend_scaling.js'),
          'serve',
          JSON.stringify({ ...s.config, frontendThreads: threads, ...(accept === null ? {} : { frontendAccept: accept }) }),
        ]);
  try {
    const url = `http://127.0.0.1:${server.port}/hello-world/predict`;
    if (s.warmupS > 0) runWrk('warm-up', url, connections, wrkThreads, s.warmupS);
    process.stdout.write(`# ${target} threads=${threads}: ${wrkCommandLine(url, connections, wrkThreads, s.durationS, kScript)}\n`);
    const hitsBefore = target === 'clipper' ? await cacheHits(server.port) : 0;
    const cpuBefore = sampleCpu(server.child.pid!);
    const r: WrkResult = runWrk(target, url, connections, wrkThreads, s.durationS);
    const cpu = cpuPct(cpuBefore, sampleCpu(server.child.pid!));
    const hitsAfter = target === 'clipper' ? await cacheHits(server.port) : 0;
    return {
      bench: 'frontend_scaling',
      target,
      threads,
      accept: accept ?? (target === 'echo' ? 'reuseport' : 'default'),
      connections,
      wrkThreads,
      requestsPerS: Math.round(r.requestsPerS),
      p50Us: r.p50Us,
      p99Us: r.p99Us,
      non2xx: r.non2xx,
      defaults: r.defaults,
      cacheHits: hitsBefore === null || hitsAfter === null ? null : hitsAfter - hitsBefore,
      listenSockets: listenSockets(server.port),
      serverCpuPct: Math.round(cpu.selfPct),
      childrenCpuPct: Math.round(cpu.childrenPct),
      vsEcho: null,
      vsOneThread: null,
    };
  } finally {
    await stopChild(server.child);
  }
}

function ratio(a: number, b: number | undefined): number | null {
  return b === undefined || !(b > 0) ? null : Math.round((a / b) * 100) / 100;
}

function table(rows: readonly Row[]): string {
  const lines = [
    '| target | accept | threads | connections | req/s | vs echo (same threads) | vs 1 thread | p50 µs | p99 µs | listen sockets | server CPU % (+ replicas) | default outputs | non-2xx | cache hits |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const x = (v: number | null): string => (v === null ? '' : `${v.toFixed(2)}×`);
  for (const r of rows) {
    lines.push(
      `| ${r.target} | ${r.accept} | ${r.threads} | ${r.connections} | ${r.requestsPerS} | ${x(r.vsEcho)} | ${x(r.vsOneThread)} | ` +
        `${r.p50Us} | ${r.p99Us} | ${r.listenSockets} | ${r.serverCpuPct}${r.target === 'clipper' ? ` (+ ${r.childrenCpuPct})` : ''} | ${r.defaults} | ${r.non2xx} | ${r.cacheHits ?? '?'} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  const s = settings();
  process.stdout.write(benchHeader());
  const rows: Row[] = [];
  for (const accept of s.accepts) {
    for (let i = 0; i < s.threads.length; i++) {
      const threads = s.threads[i]!;
      const echo = await measure(s, 'echo', threads, accept, s.connections[i]!);
      const clipper = await measure(s, 'clipper', threads, accept, s.connections[i]!);
      clipper.vsEcho = ratio(clipper.requestsPerS, echo.requestsPerS);
      for (const row of [echo, clipper]) {
        if (row.accept !== 'acceptor' && row.listenSockets !== threads)
          process.stdout.write(
            `# warning: ${row.target} with ${threads} threads had ${row.listenSockets} listening sockets (reuseport: one per thread)\n`,
          );
        const one = rows.find((r) => r.target === row.target && r.accept === row.accept && r.threads === 1);
        row.vsOneThread = threads === 1 ? 1 : ratio(row.requestsPerS, one?.requestsPerS);
        rows.push(row);
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
    }
  }
  process.stdout.write(`\n${table(rows)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`frontend_scaling: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
