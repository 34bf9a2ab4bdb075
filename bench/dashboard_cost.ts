// What an open dashboard costs the query path (#21): the same wrk run against hello-world with and
// without a dashboard open, interleaved over several rounds on one server. Three variants per round,
// their order rotating from round to round:
//   none    no dashboard: the server's sampler does not run;
//   page    the dashboard open in Debian's chromium (playwright-core), drawing its charts every second
//           on the same machine (the browser's CPU is part of what this variant costs);
//   stream  only the event stream, read by a bare Node process (the server's share alone).
// Every wrk request carries a unique random input (bench/wrk/predict_random.lua), so the cache never
// answers. Besides req/s and latency it reads the server process's CPU time per request (/proc, the
// frontend and batching threads; replicas excluded), and first, before any load, the server's CPU
// with no query at all and each variant open for --quiet-s (the sampler's own cost, unblurred).
// chromium's CPU (its whole process tree) is read too: with the page open it shares the cores.
//
//   npm run build && node dist/bench/dashboard_cost.js [--rounds 5] [--duration-s 5] [--connections 64]
//     [--quiet-rounds 2] [--quiet-s 20] [--idle-s 3]
//
// Needs wrk (Debian package `wrk`) and /usr/bin/chromium (npm run setup installs it as root).

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { dashboardHook, launchChromium, openPage, pollUntil } from '../test/browser/browser.js';
import { freePort } from './reliability/harness_redis.js';
import { cpuPct, sampleCpu } from './proc_cpu.js';
import { childrenNamed, treeCpuS } from './process_tree_cpu.js';
import { runWrk, startChild } from './wrk_runner.js';
import { type CostRow, formatCostTables, formatQuietTable, type QuietRow } from './dashboard_cost_report.js';

const kSelf = fileURLToPath(import.meta.url);
const kVariants = ['none', 'page', 'stream'] as const;
type Variant = (typeof kVariants)[number];

/** The server under test, in its own process with the serving flags: the example app, admin on `adminPort`. */
async function serve(adminPort: number): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const { installExample } = await import('../src/admin/example.js');
  const { startAdminServer } = await import('../src/admin/admin_server.js');
  const cluster = await Cluster.start({ config: { queryPort: 0, adminPort }, startAdmin: startAdminServer });
  await installExample(cluster);
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

/** Reads the event stream until SIGTERM, printing "event <name>" per event, then the count of snapshots. */
async function readStream(url: string): Promise<void> {
  const controller = new AbortController();
  let snapshots = 0;
  process.on('SIGTERM', () => {
    process.stdout.write(`snapshots ${snapshots}\n`);
    controller.abort();
    process.exit(0);
  });
  const res = await fetch(url, { signal: controller.signal });
  if (res.status !== 200 || res.body === null) throw new Error(`${url} answered ${res.status}`);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
      const event = /^event: (\w+)/m.exec(text.slice(0, end))?.[1];
      text = text.slice(end + 2);
      if (event === 'snapshot') snapshots++;
      if (event !== undefined) process.stdout.write(`event ${event}\n`);
    }
  }
}

/** A stream reader child, resolved once it has the stream's first event (its history). */
function startReader(url: string): Promise<{ child: ChildProcess; snapshots: () => Promise<number> }> {
  const child = spawn(process.execPath, [kSelf, 'read-stream', url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last = '';
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      last = line;
      if (line === 'event history') {
        resolve({
          child,
          snapshots: async () => {
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await exited;
            return Number(/^snapshots (\d+)$/.exec(last)?.[1] ?? Number.NaN);
          },
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`the stream reader exited with ${code} before the history event`)));
  });
}

interface Opened {
  /** Snapshots the dashboard received while it was open, measured when it closes. */
  close(): Promise<number | null>;
}

async function openVariant(variant: Variant, browser: Browser, adminPort: number): Promise<Opened> {
  const base = `http://127.0.0.1:${adminPort}/dashboard`;
  if (variant === 'none') return { close: async () => null };
  if (variant === 'stream') {
    const reader = await startReader(`${base}/stream`);
    return { close: () => reader.snapshots() };
  }
  const { page, problems } = await openPage(browser, base);
  const first = await pollUntil(
    () => dashboardHook(page),
    (h) => h?.connected === true && h.snapshotsReceived >= 1,
    60_000,
    'the dashboard to go live',
  );
  return {
    close: async () => {
      const last = await dashboardHook(page);
      await page.close();
      if (problems.lines.length > 0) process.stderr.write(`dashboard page problems: ${problems.lines.join('; ')}\n`);
      return (last?.snapshotsReceived ?? 0) - first!.snapshotsReceived;
    },
  };
}

/** One measured run of `variant`: idle CPU for `idleS`, then wrk. */
async function measure(variant: Variant, round: number, ctx: RunContext): Promise<CostRow> {
  const opened = await openVariant(variant, ctx.browser, ctx.adminPort);
  const idleStart = sampleCpu(ctx.serverPid);
  await new Promise((r) => setTimeout(r, ctx.idleS * 1000));
  const idle = cpuPct(idleStart, sampleCpu(ctx.serverPid));
  const before = sampleCpu(ctx.serverPid);
  const browserBefore = treeCpuS(ctx.browserPid);
  const wrk = runWrk(variant, ctx.url, ctx.connections, 1, ctx.durationS);
  const after = sampleCpu(ctx.serverPid);
  const browserS = treeCpuS(ctx.browserPid) - browserBefore; // before the page closes: its renderer goes with it
  const snapshots = await opened.close();
  const requests = wrk.requestsPerS * ((after.atMs - before.atMs) / 1000);
  return {
    variant,
    round,
    requestsPerS: wrk.requestsPerS,
    p50Us: wrk.p50Us,
    p99Us: wrk.p99Us,
    serverCpuUsPerRequest: ((after.selfS - before.selfS) * 1e6) / requests,
    idleServerCpuPct: idle.selfPct,
    browserCpuPct: (100 * browserS) / ((after.atMs - before.atMs) / 1000),
    defaults: wrk.defaults,
    non2xx: wrk.non2xx,
    snapshots,
  };
}

/** The server's and the browser's CPU over `seconds` with `variant` open and no query at all: the sampler's own cost. */
async function measureQuiet(variant: Variant, round: number, ctx: RunContext, seconds: number): Promise<QuietRow> {
  const opened = await openVariant(variant, ctx.browser, ctx.adminPort);
  const start = sampleCpu(ctx.serverPid);
  const browserStart = treeCpuS(ctx.browserPid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const end = sampleCpu(ctx.serverPid);
  const browserS = treeCpuS(ctx.browserPid) - browserStart;
  await opened.close();
  const wallS = (end.atMs - start.atMs) / 1000;
  return { variant, round, serverCpuPct: cpuPct(start, end).selfPct, browserCpuPct: (100 * browserS) / wallS };
}

function chromiumPid(): number {
  const pids = childrenNamed('chromium');
  if (pids.length !== 1) throw new Error(`expected one chromium child process, found ${pids.length}`);
  return pids[0]!;
}

interface RunContext {
  browser: Browser;
  adminPort: number;
  serverPid: number;
  /** chromium's browser process: its tree holds the renderers. */
  browserPid: number;
  url: string;
  connections: number;
  durationS: number;
  idleS: number;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve(Number(process.argv[3]));
  if (process.argv[2] === 'read-stream') return readStream(process.argv[3]!);
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      'duration-s': { type: 'string', default: '5' },
      'idle-s': { type: 'string', default: '3' },
      connections: { type: 'string', default: '64' },
      'quiet-rounds': { type: 'string', default: '2' },
      'quiet-s': { type: 'string', default: '20' },
    },
  });
  const rounds = Number(values.rounds);
  const adminPort = await freePort();
  const server = await startChild([kSelf, 'serve', String(adminPort)]);
  const browser = await launchChromium();
  const rows: CostRow[] = [];
  const quiet: QuietRow[] = [];
  try {
    const ctx: RunContext = {
      browser,
      adminPort,
      serverPid: server.child.pid!,
      browserPid: chromiumPid(),
      url: `http://127.0.0.1:${server.port}/hello-world/predict`,
      connections: Number(values.connections),
      durationS: Number(values['duration-s']),
      idleS: Number(values['idle-s']),
    };
    // Before any load (whose JIT and GC tails would blur it): the server's CPU with no query.
    for (let round = 1; round <= Number(values['quiet-rounds']); round++) {
      for (const variant of kVariants) {
        quiet.push(await measureQuiet(variant, round, ctx, Number(values['quiet-s'])));
      }
    }
    runWrk('warm-up', ctx.url, ctx.connections, 1, 3);
    for (let round = 1; round <= rounds; round++) {
      for (let k = 0; k < kVariants.length; k++) {
        const variant = kVariants[(round - 1 + k) % kVariants.length]!;
        const row = await measure(variant, round, ctx);
        rows.push(row);
        process.stderr.write(`round ${round} ${variant}: ${row.requestsPerS.toFixed(0)} req/s\n`);
      }
    }
  } finally {
    await browser.close();
    server.child.kill('SIGTERM');
  }
  process.stdout.write(`${formatQuietTable(quiet)}\n${formatCostTables(rows)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
