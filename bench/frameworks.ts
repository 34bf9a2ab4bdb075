// The framework benchmark (issue #20): for each framework (sklearn, pytorch, xgboost, onnx) a small
// model (bench/models/make_framework_models.py) served by clipper-ts with adaptive batching, under
// the closed-loop load generator (tools/loadgen) at rising concurrency with unique random inputs
// (the prediction cache is off as well), vs the same model called one input at a time directly in
// its framework (bench/models/framework_direct.py for the Python frameworks,
// bench/models/onnx_direct.ts for ONNX). Reports, per framework, the highest served throughput whose
// p99 ≤ --p99-ms with ≤ 1% errors and default outputs, the direct throughput and p99, and their ratio.
//
//   npm run build && node dist/bench/frameworks.js [--frameworks sklearn,pytorch,xgboost,onnx]
//       [--concurrency 1,2,4,8,16,32,64] [--duration-s 3] [--warmup-s 1] [--p99-ms 20]
//       [--direct-s 3] [--direct-batch 32] [--replicas 1] [--out-dir DIR]
//
// The server runs as a child process (`clipper start --threads 1`, one replica per model with one
// intra-op thread) and is stopped before the direct runs, so each side has the machine to itself.
// Each replica and each direct run use one thread, the per-replica default of the runners. The
// direct calls also run with --direct-batch inputs per call: what the framework gains from batching
// by itself, the ceiling of what adaptive batching can pass on.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ClipperConnection } from '../src/client/admin_client.js';
import type { Framework } from '../src/frameworks.js';
import { kPythonInterpreter, kRepoRoot } from '../src/paths.js';
import { primaryMean } from '../tools/loadgen/metrics_scrape.js';
import { meetsSlo } from '../tools/loadgen/recommend.js';
import type { BenchResults } from '../tools/loadgen/report.js';
import type { LevelResult } from '../tools/loadgen/runner.js';
import { runChild } from './bench_child.js';
import { startServer, type ServerProcess } from './reliability/harness_server.js';

const kBenchFrameworks = ['sklearn', 'pytorch', 'xgboost', 'onnx'] as const satisfies readonly Framework[];
type BenchFramework = (typeof kBenchFrameworks)[number];

interface Settings {
  frameworks: BenchFramework[];
  concurrency: string;
  durationS: string;
  warmupS: string;
  p99Ms: number;
  directS: string;
  directBatch: number;
  replicas: number;
  outDir: string;
}

interface BuiltModel {
  file: string;
  width: number;
}

/** One framework's line of the report. */
interface FrameworkRow {
  framework: BenchFramework;
  served: LevelResult | null;
  batchSizeMean: number | null;
  direct: DirectResult;
  /** The same calls with --direct-batch inputs each: what the framework itself gains from batching. */
  directBatched: DirectResult;
}

/** What the direct baselines print (one JSON line). */
interface DirectResult {
  inputs_per_second: number;
  latency_ms: { p50: number; p99: number };
}

function settings(): Settings {
  const { values } = parseArgs({
    options: {
      frameworks: { type: 'string', default: kBenchFrameworks.join(',') },
      concurrency: { type: 'string', default: '1,2,4,8,16,32,64' },
      'duration-s': { type: 'string', default: '3' },
      'warmup-s': { type: 'string', default: '1' },
      'p99-ms': { type: 'string', default: '20' },
      'direct-s': { type: 'string', default: '3' },
      'direct-batch': { type: 'string', default: '32' },
      replicas: { type: 'string', default: '1' },
      'out-dir': { type: 'string' },
    },
  });
  const frameworks = values.frameworks.split(',').map((f) => f.trim());
  for (const f of frameworks) {
    if (!(kBenchFrameworks as readonly string[]).includes(f))
      throw new Error(`--frameworks: ${f} is not one of ${kBenchFrameworks.join(', ')}`);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    frameworks: frameworks as BenchFramework[],
    concurrency: values.concurrency,
    durationS: values['duration-s'],
    warmupS: values['warmup-s'],
    p99Ms: Number(values['p99-ms']),
    directS: values['direct-s'],
    directBatch: Number(values['direct-batch']),
    replicas: Number(values.replicas),
    outDir: values['out-dir'] ?? path.join(kRepoRoot, 'bench', 'results', `frameworks-${stamp}`),
  };
}

const appOf = (framework: BenchFramework): string => `bench-${framework}`;

/** Registers an app per framework and deploys its model: adaptive batching, no cache, one thread per replica. */
async function deployAll(conn: ClipperConnection, s: Settings, dir: string, models: Record<string, BuiltModel>): Promise<void> {
  for (const framework of s.frameworks) {
    const model = models[framework]!;
    const app = appOf(framework);
    await conn.registerApplication({ name: app, inputType: 'doubles', defaultOutput: '-1', sloMicros: s.p99Ms * 1000 });
    await conn.deployModel({
      name: app,
      version: '1',
      inputType: 'doubles',
      numReplicas: s.replicas,
      batchSize: -1,
      cacheEnabled: false,
      container: {
        framework,
        entry: path.join(dir, model.file),
        ...(framework === 'sklearn' ? {} : { options: { threads: 1 } }),
      },
    });
    await conn.linkModelToApp(app, app);
    await warmUp(conn, app, model.width, framework);
  }
}

/** Until the replica answers (its first query may find it still connecting, or warming up past the SLO): bounded. */
async function warmUp(conn: ClipperConnection, app: string, width: number, framework: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (let i = 0; ; i++) {
    const answer = await conn.predict(
      app,
      Array.from({ length: width }, (_, j) => (i + j) / width),
    );
    if (!answer.default) return;
    if (Date.now() > deadline) throw new Error(`${framework}: the served model answers only the default output: ${JSON.stringify(answer)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The closed-loop sweep of every framework's app, one target after the other. */
async function serve(s: Settings, server: ServerProcess, width: number): Promise<BenchResults> {
  const each = (text: string): string => s.frameworks.map(() => text).join(',');
  await runChild(process.execPath, [
    path.join(kRepoRoot, 'dist', 'tools', 'loadgen', 'main.js'),
    ...['--url', each(server.queryUrl), '--app', s.frameworks.map(appOf).join(','), '--label', s.frameworks.join(',')],
    ...['--concurrency', s.concurrency, '--duration-s', s.durationS, '--warmup-s', s.warmupS, '--slo-ms', String(s.p99Ms)],
    ...['--input', `random:${width}`, '--metrics-url', `${server.queryUrl}/metrics`, '--out-dir', s.outDir, '--quiet'],
  ]).then((out) => process.stdout.write(out));
  return JSON.parse(readFileSync(path.join(s.outDir, 'results.json'), 'utf8')) as BenchResults;
}

/** The same model called directly in its own framework, `batch` inputs per call (the server is stopped by then). */
async function direct(s: Settings, framework: BenchFramework, file: string, batch: number): Promise<DirectResult> {
  const out =
    framework === 'onnx'
      ? await runChild(process.execPath, [
          ...[path.join(kRepoRoot, 'dist', 'bench', 'models', 'onnx_direct.js'), '--model', file],
          ...['--batch', String(batch), '--threads', '1', '--seconds', s.directS],
        ])
      : await runChild(kPythonInterpreter, [
          ...[path.join(kRepoRoot, 'bench', 'models', 'framework_direct.py'), '--framework', framework, '--model', file],
          ...['--batch', String(batch), '--threads', '1', '--seconds', s.directS],
        ]);
  const line = out.trim().split('\n').at(-1) ?? '';
  const parsed = JSON.parse(line) as DirectResult;
  if (typeof parsed.inputs_per_second !== 'number') throw new Error(`${framework}: the direct baseline printed ${line}`);
  return parsed;
}

/** The highest throughput among the levels that meet the SLO with ≤ 1% errors (tools/loadgen/recommend.ts). */
function bestLevel(levels: readonly LevelResult[]): LevelResult | null {
  let best: LevelResult | null = null;
  for (const r of levels) if (meetsSlo(r) && (best === null || r.throughputRps > best.throughputRps)) best = r;
  return best;
}

/** The served level's mean batch size from the server's metrics (one model is under load at a time). */
function batchMeanOf(r: LevelResult | null): number | null {
  return primaryMean(r?.metrics?.batchSize);
}

/** The report: a Markdown table, one row per framework. */
function table(rows: readonly FrameworkRow[], p99Ms: number, directBatch: number): string {
  const lines = [
    `| framework | served: concurrency | served req/s (p99 ≤ ${p99Ms} ms) | served p50 / p99 ms | mean batch | ` +
      `direct, 1 input/call: inputs/s | direct p50 / p99 ms | served / direct | direct, ${directBatch} inputs/call: inputs/s |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { framework, served, batchSizeMean, direct: d, directBatched } of rows) {
    const ms = (us: number): string => (us / 1000).toFixed(2);
    lines.push(
      `| ${framework} | ${served?.level ?? 'none'} | ${served === null ? '-' : served.throughputRps.toFixed(0)} | ` +
        `${served === null ? '-' : `${ms(served.latencyUs.p50)} / ${ms(served.latencyUs.p99)}`} | ` +
        `${batchSizeMean === null ? '-' : batchSizeMean.toFixed(1)} | ${d.inputs_per_second.toFixed(0)} | ` +
        `${d.latency_ms.p50.toFixed(3)} / ${d.latency_ms.p99.toFixed(3)} | ` +
        `${served === null ? '-' : `${(served.throughputRps / d.inputs_per_second).toFixed(2)}×`} | ` +
        `${directBatched.inputs_per_second.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const s = settings();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-frameworks-bench-'));
  let server: ServerProcess | null = null;
  const stop = (): void => {
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const built = await runChild(kPythonInterpreter, [
      path.join(kRepoRoot, 'bench', 'models', 'make_framework_models.py'),
      dir,
      ...s.frameworks,
    ]);
    const models = JSON.parse(built) as Record<string, BuiltModel>;
    server = await startServer({ args: ['--threads', '1', '--model-dirs', dir] });
    const conn = new ClipperConnection({ adminUrl: server.adminUrl, queryUrl: server.queryUrl });
    await deployAll(conn, s, dir, models);
    const load = os.loadavg().map((l) => l.toFixed(2));
    const results = await serve(s, server, models[s.frameworks[0]!]!.width);
    await server.stop();
    server = null;
    const rows: FrameworkRow[] = [];
    for (const framework of s.frameworks) {
      const levels = results.targets.find((t) => t.label === framework)?.levels ?? [];
      const served = bestLevel(levels);
      rows.push({
        framework,
        served,
        batchSizeMean: batchMeanOf(served),
        direct: await direct(s, framework, path.join(dir, models[framework]!.file), 1),
        directBatched: await direct(s, framework, path.join(dir, models[framework]!.file), s.directBatch),
      });
    }
    const report = table(rows, s.p99Ms, s.directBatch);
    process.stdout.write(
      `\nload average before the sweep: ${load.join(' ')}; ${os.cpus().length} cores\n${report}\nreports in ${s.outDir}\n`,
    );
    writeFileSync(path.join(s.outDir, 'frameworks.md'), `${report}\n`);
    writeFileSync(path.join(s.outDir, 'frameworks.json'), `${JSON.stringify(rows, null, 2)}\n`);
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`frameworks bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
