// Item 7 of issue 15, the soak: the real server (a child process, `clipper start`) under a mixed
// open-loop (Poisson) workload at 70% of its measured capacity for --duration-s (default 600 s),
// with a management change every --step-s. Figures (docs/reliability.md, "7. Soak"):
//   p99 drift ≤ 10% between the first and last window (all kinds together; each kind is reported),
//   server RSS growth ≤ 5% (median RSS of the last window over the first, after the warm-up),
//   0 unanswered queries (every query gets a prediction or a default with its reason),
//   no descriptor or timer leak: the server's open fds and main-thread active resources
//   (nodejs_active_resources{type}, GET /metrics) at the end of steady state are no more than at its
//   start; both checkpoints are taken at the end of an admin churn cycle with no client connected.
// The mix (of the total rate): 40% POST /soak-a/predict, 30% WebSocket /soak-b/stream,
// 20% POST /v2/models/soak-sum/infer (Open Inference Protocol), 10% POST /soak-a/update.
// soak-a → soak-sum (sum of the input), soak-b → soak-timed (2 ms + 0.05 ms per input in a batch).
// Every input is unique (seeded), so the prediction cache answers none of them; the server's cache
// is 1 MiB (--cache-bytes-max): its default 32 MiB arena is committed page by page as it first fills,
// RSS growth that is no leak, while a small one wraps during the warm-up and evicts all along.
//
//   npx tsc -p tsconfig.json && node dist/bench/reliability/soak.js [--duration-s 600] [--share 0.7]
//     [--slo-ms 20] [--step-s 2] [--warmup-s 30] [--window-s 60] [--capacity-rps N] [--seed 1]
//     [--cache-bytes-max 1048576]
//
// Windows are 60 s, or duration/6 for shorter runs. Prints a table per window and, last, one JSON
// object; exits 1 when a figure is missed.

import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../../src/paths.js';
import {
  adminOk,
  measureCapacity,
  openLoop,
  printJson,
  processStats,
  type QueryRecord,
  sampleEvery,
  type ServerProcess,
  startServer,
} from './harness.js';
import { AdminChurn } from './soak_churn.js';
import {
  type AnswerCounts,
  type Checkpoint,
  type Kind,
  leaksBetween,
  p99Drift,
  parseActiveResources,
  rssGrowth,
  sumCounts,
  summarizeWindow,
  type WindowFigures,
  type WindowSummary,
} from './soak_report.js';
import { wsOpenLoop } from './soak_ws.js';

const kExamples = path.join(kRepoRoot, 'containers', 'node', 'examples');
const kSum = 'soak-sum';
const kTimed = 'soak-timed';
const kShares: Record<Kind, number> = { http: 0.4, ws: 0.3, oip: 0.2, update: 0.1 };
const kInputLength = 8;

interface SoakArgs {
  durationS: number;
  share: number;
  sloMs: number;
  stepS: number;
  warmupS: number;
  windowS: number;
  capacityRps: number | null;
  seed: number;
  cacheBytesMax: number;
}

function args(argv: string[]): SoakArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      'duration-s': { type: 'string', default: '600' },
      share: { type: 'string', default: '0.7' },
      'slo-ms': { type: 'string', default: '20' },
      'step-s': { type: 'string', default: '2' },
      'warmup-s': { type: 'string', default: '30' },
      'window-s': { type: 'string' },
      'capacity-rps': { type: 'string' },
      seed: { type: 'string', default: '1' },
      'cache-bytes-max': { type: 'string', default: String(1 << 20) },
    },
  });
  const durationS = Number(values['duration-s']);
  return {
    durationS,
    share: Number(values.share),
    sloMs: Number(values['slo-ms']),
    stepS: Number(values['step-s']),
    warmupS: Number(values['warmup-s']),
    windowS: values['window-s'] === undefined ? Math.min(60, durationS / 6) : Number(values['window-s']),
    capacityRps: values['capacity-rps'] === undefined ? null : Number(values['capacity-rps']),
    seed: Number(values.seed),
    cacheBytesMax: Number(values['cache-bytes-max']),
  };
}

/** Seeded unique inputs: the i-th query of a kind gets its own vector. */
function inputOf(seed: number, i: number): number[] {
  return Array.from({ length: kInputLength }, (_, j) => ((seed * 7919 + i * 31 + j * 0.618) % 1000) / 7);
}

const container = (entry: string) => ({ runtime: 'node', entry: path.join(kExamples, entry), options: { isolate: 'inline' } });

async function deploy(server: ServerProcess, sloMs: number): Promise<void> {
  const model = (name: string, entry: string) => ({
    model_name: name,
    model_version: '1',
    labels: [],
    input_type: 'doubles',
    container_name: 'soak',
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    container: container(entry),
  });
  await adminOk(server.adminUrl, 'add_model', model(kSum, 'sum_model.mjs'));
  await adminOk(server.adminUrl, 'add_model', model(kTimed, 'timed_model.mjs'));
  for (const [app, linked] of [
    ['soak-a', kSum],
    ['soak-b', kTimed],
  ] as const) {
    await adminOk(server.adminUrl, 'add_app', { name: app, input_type: 'doubles', default_output: '-1', latency_slo_micros: sloMs * 1000 });
    await adminOk(server.adminUrl, 'add_model_links', { app_name: app, model_names: [linked] });
  }
}

/** Run every kind of traffic at its share of `totalRps` for `durationS`; records per kind. */
async function runMix(
  server: ServerProcess,
  totalRps: number,
  durationS: number,
  seed: number,
  sloMs: number,
): Promise<Record<Kind, QueryRecord[]>> {
  const timeoutMs = Math.max(5000, sloMs * 50);
  const http = (kind: Kind, urlPath: string, body: (i: number) => string) =>
    openLoop({
      url: `${server.queryUrl}${urlPath}`,
      rateRps: totalRps * kShares[kind],
      durationS,
      seed: seed + kind.length,
      body,
      timeoutMs,
      connections: 64,
    });
  const s = (k: number) => seed * 10 + k;
  const [h, w, o, u] = await Promise.all([
    http('http', '/soak-a/predict', (i) => JSON.stringify({ input: inputOf(s(1), i) })),
    wsOpenLoop({
      url: `${server.queryUrl.replace(/^http/, 'ws')}/soak-b/stream`,
      rateRps: totalRps * kShares.ws,
      durationS,
      seed: s(2),
      input: (i) => inputOf(s(2), i),
      timeoutMs,
    }),
    http('oip', `/v2/models/${kSum}/infer`, (i) =>
      JSON.stringify({ inputs: [{ name: 'input0', shape: [1, kInputLength], datatype: 'FP64', data: inputOf(s(3), i) }] }),
    ),
    http('update', '/soak-a/update', (i) => JSON.stringify({ input: inputOf(s(4), i), label: 1 })),
  ]);
  return { http: h, ws: w, oip: o, update: u };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The server's resources with no client connected (keep-alive sockets of admin calls closed first). */
async function checkpoint(server: ServerProcess): Promise<Checkpoint> {
  await sleep(5000); // undici's keep-alive (4 s) lets the churn's admin connections close
  const text = await (await fetch(`${server.queryUrl}/metrics`, { headers: { accept: 'text/plain' } })).text();
  const activeResources = parseActiveResources(text);
  const activeResourcesTotal = Object.values(activeResources).reduce((a, b) => a + b, 0);
  return { ...processStats(server.pid), activeResources, activeResourcesTotal };
}

interface Scrape {
  atMs: number;
  /** Active resources, all threads. */
  total: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  /** The batching threads' V8 heaps in use, summed. */
  threadHeapUsedBytes: number;
}

/** The value of an unlabelled gauge in Prometheus text (0 when absent). */
function gauge(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** Active resources and V8 heap of the server every `everyMs` (a leak shows as a trend). */
function scrapeEvery(server: ServerProcess, everyMs: number): { stop(): Scrape[] } {
  const out: Scrape[] = [];
  const take = async (): Promise<void> => {
    const text = await (await fetch(`${server.queryUrl}/metrics`, { headers: { accept: 'text/plain' } })).text();
    const heap = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
    out.push({
      atMs: performance.now(),
      total: Object.values(parseActiveResources(text)).reduce((a, b) => a + b, 0),
      heapUsedBytes: heap === null ? 0 : Number(heap[1]),
      heapTotalBytes: gauge(text, 'nodejs_heap_size_total_bytes'),
      externalBytes: gauge(text, 'nodejs_external_memory_bytes'),
      threadHeapUsedBytes: [...text.matchAll(/^nodejs_thread_heap_size_used_bytes\{[^}]*\} (\S+)$/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      ),
    });
  };
  const timer = setInterval(() => void take().catch(() => {}), everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return out;
    },
  };
}

async function capacityOf(server: ServerProcess, a: SoakArgs): Promise<number> {
  if (a.capacityRps !== null) return a.capacityRps;
  const result = await measureCapacity({
    url: `${server.queryUrl}/soak-a/predict`,
    sloMs: a.sloMs,
    body: (i) => JSON.stringify({ input: inputOf(a.seed * 97, i) }),
    levelS: 2,
    steps: 3,
    seed: a.seed,
  });
  process.stderr.write(
    `soak: capacity ${result.capacityRps}/s (${result.levels.map((l) => `${l.rateRps}:${l.passed ? 'ok' : 'miss'}`).join(' ')})\n`,
  );
  return result.capacityRps;
}

/**
 * The load generator's own event-loop delay per window (p99 and max, ms). It keeps every query's
 * record, millions in a 10-minute run, and a stall of its own (a major GC) delays the answers it
 * reads: latency the server did not cause. A window's latency spike with a generator stall as long
 * says little about the server.
 */
function loopDelayPerWindow(windowMs: number): { stop(): Array<{ p99Ms: number; maxMs: number }> } {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const out: Array<{ p99Ms: number; maxMs: number }> = [];
  const take = (): void => {
    out.push({ p99Ms: Math.round(h.percentile(99) / 1e4) / 100, maxMs: Math.round(h.max / 1e4) / 100 });
    h.reset();
  };
  const timer = setInterval(take, windowMs);
  return {
    stop: () => {
      clearInterval(timer);
      h.disable();
      return out;
    },
  };
}

interface Steady {
  generatorLoopDelay: Array<{ p99Ms: number; maxMs: number }>;
  startMs: number;
  windows: WindowSummary[];
  rss: Array<{ atMs: number; rssBytes: number; fds: number }>;
  resources: Scrape[];
}

async function steadyState(server: ServerProcess, churn: AdminChurn, a: SoakArgs, rateRps: number): Promise<Steady> {
  churn.start();
  const sampler = sampleEvery(server.pid, 1000);
  const scraper = scrapeEvery(server, 5000);
  const startMs = performance.now();
  const loopDelay = loopDelayPerWindow(a.windowS * 1000);
  // One load run per window, summarised at once: the generator keeps one window's records, not
  // millions (a heap that size stalled it for seconds in GC, latency the server did not cause).
  const windows: WindowSummary[] = [];
  const windowMs = a.windowS * 1000;
  for (let w = 0; w < Math.max(1, Math.floor(a.durationS / a.windowS)); w++) {
    const windowStartMs = performance.now();
    const records = await runMix(server, rateRps, a.windowS, a.seed + 1 + w, a.sloMs);
    windows.push(summarizeWindow(records, Object.keys(kShares) as Kind[], windowStartMs, windowMs, w));
  }
  const generatorLoopDelay = loopDelay.stop();
  const resources = scraper.stop();
  const rss = sampler.stop();
  await churn.stopAtCycleEnd();
  return { generatorLoopDelay, startMs, windows, rss, resources };
}

function figures(a: SoakArgs, capacityRps: number, steady: Steady, start: Checkpoint, end: Checkpoint, churn: AdminChurn) {
  const windowMs = a.windowS * 1000;
  const windows = steady.windows.length;
  const kinds = Object.keys(kShares) as Kind[];
  const byKind = Object.fromEntries(
    kinds.map((k) => {
      const w = steady.windows.map((s) => s.byKind[k].window);
      return [k, { ...sumCounts(steady.windows.map((s) => s.byKind[k].counts)), p99Drift: p99Drift(w), windows: w }];
    }),
  ) as Record<Kind, AnswerCounts & { p99Drift: number; windows: WindowFigures[] }>;
  const allWindows = steady.windows.map((s) => s.all);
  const unanswered = kinds.reduce((n, k) => n + byKind[k].unanswered, 0);
  const badAnswers = kinds.reduce((n, k) => n + byKind[k].badAnswers, 0);
  const leaks = leaksBetween(start, end);
  const drift = p99Drift(allWindows);
  const growth = rssGrowth(steady.rss, steady.startMs, windowMs, windows);
  const missed = [
    ...(drift > 0.1 ? [`p99 drift ${(drift * 100).toFixed(1)}% > 10%`] : []),
    ...(growth > 0.05 ? [`RSS growth ${(growth * 100).toFixed(1)}% > 5%`] : []),
    ...(unanswered > 0 ? [`${unanswered} unanswered`] : []),
    ...(badAnswers > 0 ? [`${badAnswers} answers that are neither a prediction nor a default with a reason`] : []),
    ...leaks.map((l) => `leak: ${l}`),
    ...(churn.stats.failureCount > 0 ? [`${churn.stats.failureCount} admin steps failed`] : []),
  ];
  return {
    test: 'soak',
    durationS: a.durationS,
    windowS: a.windowS,
    capacityRps,
    rateRps: Math.round(capacityRps * a.share),
    sloMs: a.sloMs,
    p99Drift: drift,
    rssGrowth: growth,
    unanswered,
    badAnswers,
    leaks,
    windows: allWindows,
    generatorLoopDelay: steady.generatorLoopDelay,
    byKind,
    rssMiB: steady.rss.map((s) => Math.round(s.rssBytes / 2 ** 20)),
    fdsSampled: steady.rss.map((s) => s.fds),
    activeResourcesSampled: steady.resources.map((s) => s.total),
    heapUsedMiBSampled: steady.resources.map((s) => Math.round(s.heapUsedBytes / 2 ** 20)),
    heapTotalMiBSampled: steady.resources.map((s) => Math.round(s.heapTotalBytes / 2 ** 20)),
    externalMiBSampled: steady.resources.map((s) => Math.round(s.externalBytes / 2 ** 20)),
    threadHeapUsedMiBSampled: steady.resources.map((s) => Math.round(s.threadHeapUsedBytes / 2 ** 20)),
    checkpoints: { start, end },
    churn: churn.stats,
    missed,
    passed: missed.length === 0,
  };
}

function printTable(f: ReturnType<typeof figures>): void {
  const kinds = Object.keys(kShares) as Kind[];
  process.stderr.write(`window  ${kinds.map((k) => `${k} p50/p99 ms`.padEnd(22)).join('')}all p99 ms   generator stall max ms\n`);
  for (const w of f.windows) {
    const cells = kinds.map((k) => {
      const x = f.byKind[k].windows[w.window]!;
      return `${x.p50Ms.toFixed(2)}/${x.p99Ms.toFixed(2)} (${x.count})`.padEnd(22);
    });
    const stall = f.generatorLoopDelay[w.window]?.maxMs ?? 0;
    process.stderr.write(`${String(w.window).padEnd(8)}${cells.join('')}${w.p99Ms.toFixed(2).padEnd(13)}${stall.toFixed(1)}\n`);
  }
  process.stderr.write(
    `soak: drift ${(f.p99Drift * 100).toFixed(1)}%, RSS growth ${(f.rssGrowth * 100).toFixed(1)}%, unanswered ${f.unanswered}, ` +
      `leaks ${f.leaks.length === 0 ? 'none' : f.leaks.join('; ')}, churn cycles ${f.churn.cycles}, ${f.passed ? 'PASSED' : `MISSED: ${f.missed.join('; ')}`}\n`,
  );
}

async function main(): Promise<number> {
  const a = args(process.argv.slice(2));
  const server = await startServer({ args: ['--model-dirs', kExamples, '--cache-bytes-max', String(a.cacheBytesMax)], echo: false });
  try {
    await deploy(server, a.sloMs);
    const capacityRps = await capacityOf(server, a);
    if (!(capacityRps > 0)) throw new Error('capacity measured as 0: the server answered no level within the SLO');
    const rateRps = capacityRps * a.share;
    const churn = new AdminChurn({
      adminUrl: server.adminUrl,
      queryUrl: server.queryUrl,
      sumModel: kSum,
      timedModel: kTimed,
      sumContainer: container('sum_model.mjs'),
      stepMs: a.stepS * 1000,
      sloMicros: a.sloMs * 1000,
    });
    process.stderr.write(`soak: warm-up ${a.warmupS} s at ${Math.round(rateRps)}/s with admin churn\n`);
    churn.start();
    await runMix(server, rateRps, a.warmupS, a.seed, a.sloMs);
    await churn.stopAtCycleEnd();
    const start = await checkpoint(server);
    process.stderr.write(`soak: steady state ${a.durationS} s; start ${JSON.stringify(start)}\n`);
    const steady = await steadyState(server, churn, a, rateRps);
    const end = await checkpoint(server);
    const f = figures(a, capacityRps, steady, start, end, churn);
    printTable(f);
    printJson(f);
    return f.passed ? 0 : 1;
  } finally {
    await server.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
