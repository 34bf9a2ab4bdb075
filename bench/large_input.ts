// Large numeric inputs (issue #17): an app of doubles with 12,288 elements per query (a 3×64×64
// image's worth; the Node quickstart model containers/node/examples/sum_model.mjs sums each one),
// driven closed loop at a few concurrencies in three encodings of the same input:
//   json    POST /<app>/predict {"input":[12,288 numbers]} (~230 KB; wrk, bench/wrk/predict_body.lua)
//   binary  POST /<app>/predict with Content-Type application/octet-stream: the elements'
//           little-endian bytes (96 KB; the app's element type; wrk, the same script)
//   ws      the WebSocket stream, msgpack frames whose input is a bin of the same bytes
//           (bench/ws_binary_load.ts, a worker thread, one frame in flight per connection)
// Every input is unique, and the model is deployed with its prediction cache off, so each query
// crosses the ring, the batching thread and the replica. Each row: req/s, p50/p99, default outputs,
// errors (non-2xx or error frames), the model's mean batch size over the window (the server's
// clipper_model_batch_size histogram, /metrics scraped around it), the server process's CPU, and
// its ratio to JSON at the same concurrency.
//
//   npm run build && node dist/bench/large_input.js [--modes json,binary,ws] [--concurrency 1,8,32]
//       [--elements 12288] [--slo-ms 100] [--duration-s 5] [--warmup-s 1] [--wrk-threads 1]
//       [--frontend-threads N] [--config '{"batchingThreads":1}']
//
// The cluster runs in a child process with the serving Node flags (src/cli/node_flags.ts).

import path from 'node:path';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';
import { metricsDelta, primaryMean, scrapeMetrics } from '../tools/loadgen/metrics_scrape.js';
import { benchHeader, positiveInts, wrkCommandLine } from './bench_command.js';
import { cpuPct, sampleCpu } from './proc_cpu.js';
import { stopChild } from './stop_child.js';
import { runWsLoad } from './ws_binary_load.js';
import { runWrk, startChild } from './wrk_runner.js';

const kScript = path.join(kRepoRoot, 'bench', 'wrk', 'predict_body.lua');
const kModes = ['json', 'binary', 'ws'] as const;
type Mode = (typeof kModes)[number];
const kApp = 'big';

interface Settings {
  modes: Mode[];
  concurrency: number[];
  elements: number;
  sloMs: number;
  durationS: number;
  warmupS: number;
  wrkThreads: number;
  config: Record<string, unknown>;
}

interface Row {
  bench: 'large_input';
  mode: Mode;
  concurrency: number;
  elements: number;
  requestsPerS: number;
  p50Us: number;
  p99Us: number;
  defaults: number;
  errors: number;
  firstError: string | null;
  batchSizeMean: number | null;
  serverCpuPct: number;
  vsJson: number | null;
}

function settings(): Settings {
  const { values } = parseArgs({
    options: {
      modes: { type: 'string', default: kModes.join(',') },
      concurrency: { type: 'string', default: '1,8,32' },
      elements: { type: 'string', default: '12288' },
      'slo-ms': { type: 'string', default: '100' },
      'duration-s': { type: 'string', default: '5' },
      'warmup-s': { type: 'string', default: '1' },
      'wrk-threads': { type: 'string', default: '1' },
      'frontend-threads': { type: 'string' },
      config: { type: 'string', default: '{}' },
    },
  });
  const modes = values.modes.split(',').map((m) => {
    if (!(kModes as readonly string[]).includes(m)) throw new Error(`--modes: ${m} is not one of ${kModes.join(', ')}`);
    return m as Mode;
  });
  const [durationS, warmupS] = [Number(values['duration-s']), Number(values['warmup-s'])];
  if (!(Number.isInteger(durationS) && durationS >= 1 && Number.isInteger(warmupS) && warmupS >= 0))
    throw new Error('--duration-s (>= 1) and --warmup-s (>= 0) are whole seconds (wrk takes no fractions)');
  const config = JSON.parse(values.config) as Record<string, unknown>;
  if (values['frontend-threads'] !== undefined) config.frontendThreads = positiveInts(values['frontend-threads'], '--frontend-threads')[0];
  return {
    modes,
    concurrency: positiveInts(values.concurrency, '--concurrency'),
    elements: positiveInts(values.elements, '--elements')[0]!,
    sloMs: positiveInts(values['slo-ms'], '--slo-ms')[0]!,
    durationS,
    warmupS,
    wrkThreads: positiveInts(values['wrk-threads'], '--wrk-threads')[0]!,
    config,
  };
}

/** The cluster child: `large_input.js serve <slo ms> '<config JSON>'`; prints {"port":P}. */
async function serve(): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const { appRecordOf, deployRecord, nodeModelRecord } = await import('../src/admin/deploy_local.js');
  const sloMs = Number(process.argv[3]);
  const config = JSON.parse(process.argv[4] ?? '{}') as Record<string, unknown>;
  const cluster = await Cluster.start({ config: { queryPort: 0, adminPort: 0, ...config } });
  const entry = path.join(kRepoRoot, 'containers', 'node', 'examples', 'sum_model.mjs');
  await deployRecord(cluster, nodeModelRecord('big-sum', '1', 'doubles', entry, { cache_enabled: false }));
  await cluster.store.putApp(appRecordOf(kApp, 'doubles', ['big-sum'], { latency_slo_micros: sloMs * 1000 }));
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

type Measured = Omit<Row, 'bench' | 'mode' | 'concurrency' | 'elements' | 'batchSizeMean' | 'serverCpuPct' | 'vsJson'>;

/** One mode at one concurrency: warm-up, then the measured window. */
async function drive(s: Settings, port: number, mode: Mode, c: number): Promise<Measured> {
  if (mode === 'ws') {
    const job = { url: `ws://127.0.0.1:${port}/${kApp}/stream`, connections: c, count: s.elements, elementType: 'doubles' as const };
    process.stdout.write(`# ws c=${c}: msgpack frames to ${job.url}, ${c} connections, one frame in flight each\n`);
    const r = await runWsLoad({ ...job, warmupS: s.warmupS, durationS: s.durationS });
    return {
      requestsPerS: Math.round(r.requestsPerS),
      p50Us: r.p50Us,
      p99Us: r.p99Us,
      defaults: r.defaults,
      errors: r.errors,
      firstError: r.firstError,
    };
  }
  const url = `http://127.0.0.1:${port}/${kApp}/predict`;
  const args = [mode, String(s.elements), 'doubles'];
  const threads = Math.min(c, s.wrkThreads);
  if (s.warmupS > 0) runWrk('warm-up', url, c, threads, s.warmupS, kScript, args);
  process.stdout.write(`# ${mode} c=${c}: ${wrkCommandLine(url, c, threads, s.durationS, kScript, args)}\n`);
  const r = runWrk(mode, url, c, threads, s.durationS, kScript, args);
  return {
    requestsPerS: Math.round(r.requestsPerS),
    p50Us: r.p50Us,
    p99Us: r.p99Us,
    defaults: r.defaults,
    errors: r.non2xx,
    firstError: r.non2xx > 0 ? `${r.non2xx} non-2xx answers` : null,
  };
}

async function measure(s: Settings, server: { port: number; pid: number }, mode: Mode, c: number): Promise<Row> {
  const metricsUrl = `http://127.0.0.1:${server.port}/metrics`;
  const before = await scrapeMetrics(metricsUrl);
  const cpuBefore = sampleCpu(server.pid);
  const m = await drive(s, server.port, mode, c);
  const cpu = cpuPct(cpuBefore, sampleCpu(server.pid));
  // The scrape brackets the warm-up too: the batch sizes of the warm-up's queries are counted as well.
  const batchSizeMean = primaryMean(metricsDelta(before, await scrapeMetrics(metricsUrl))?.batchSize);
  return {
    bench: 'large_input',
    mode,
    concurrency: c,
    elements: s.elements,
    ...m,
    batchSizeMean: batchSizeMean === null ? null : Math.round(batchSizeMean * 100) / 100,
    serverCpuPct: Math.round(cpu.selfPct),
    vsJson: null,
  };
}

function table(rows: readonly Row[]): string {
  const lines = [
    '| mode | concurrency | req/s | vs JSON | p50 µs | p99 µs | default outputs | errors | mean batch | server CPU % |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.mode} | ${r.concurrency} | ${r.requestsPerS} | ${r.vsJson === null ? '' : `${r.vsJson.toFixed(2)}×`} | ${r.p50Us} | ${r.p99Us} | ` +
        `${r.defaults} | ${r.errors} | ${r.batchSizeMean?.toFixed(1) ?? '?'} | ${r.serverCpuPct} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  const s = settings();
  process.stdout.write(benchHeader());
  const server = await startChild([
    path.join(kRepoRoot, 'dist', 'bench', 'large_input.js'),
    'serve',
    String(s.sloMs),
    JSON.stringify(s.config),
  ]);
  const rows: Row[] = [];
  try {
    for (const c of s.concurrency) {
      for (const mode of s.modes) {
        const row = await measure(s, { port: server.port, pid: server.child.pid! }, mode, c);
        const json = rows.find((r) => r.mode === 'json' && r.concurrency === c);
        row.vsJson = json === undefined || !(json.requestsPerS > 0) ? null : Math.round((row.requestsPerS / json.requestsPerS) * 100) / 100;
        rows.push(row);
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
    }
  } finally {
    await stopChild(server.child);
  }
  process.stdout.write(`\n${table(rows)}\n`);
}

main().then(
  () => {
    if (process.argv[2] !== 'serve') process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`large_input: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
