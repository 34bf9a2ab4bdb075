// `clipper bench` entry: parse argv, sweep each target, print a table, write JSON/CSV/HTML.
// Standalone: node dist/tools/loadgen/main.js --url http://127.0.0.1:1337 --app demo ...

import { randomInt } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HttpTransport } from './http_client.js';
import { parseInputSpec } from './inputs.js';
import { recommend } from './recommend.js';
import { formatTable, writeReports, type BenchResults, type TargetResult } from './report.js';
import { runSweep, type LoadMode } from './runner.js';
import { noSuccessMessage, totalFailures, type TargetDescription } from './summary.js';
import { defaultPath, type RequestShape, type Transport } from './transport.js';
import { WsTransport } from './ws_client.js';

export const kUsage = `usage: clipper bench [options]
  --url <u>[,<u>...]       target base URL(s); a path other than / is used as is (default http://127.0.0.1:1337)
  --app <name>[,...]       app (clipper shape) or model (v2 shape) name (default: default)
  --shape clipper|v2[,...] request shape: POST /<app>/predict {"input":[..]} or POST /v2/models/<app>/infer
  --label <name>[,...]     names for the targets in reports
  --transport http|ws      raw HTTP/1.1 keep-alive or WebSocket ({"id":N,"input":[..]} frames; path from --url, default /ws)
  --mode closed|open       closed: fixed concurrency; open: fixed arrival rate (default closed)
  --concurrency <levels>   closed-loop levels, e.g. 1,8,64 or 1:64:x2 or 10:50:10 (default 1,8,64)
  --rate <levels>          open-loop rates in req/s, same syntax (default 1000,5000)
  --poisson                Poisson arrivals instead of a constant rate (open loop)
  --pipelining             open loop: pipeline requests on busy connections (off by default: uWebSockets.js,
                           and so this server, close a connection that pipelines behind a pending response;
                           without it a request waits in the generator for a free connection, its latency
                           still counted from its intended send time)
  --connections <n>        open-loop connections (default 64)
  --duration-s <s>         measured seconds per level (default 10)
  --warmup-s <s>           unmeasured seconds before each level (default 2)
  --drain-s <s>            max wait for in-flight requests after a level (default 5)
  --slo-ms <ms>            latency SLO (default 100)
  --input <spec>           random:k | fixed:<json array> | file:<path of JSON lines> (default random:8)
  --seed <n>               PRNG seed for random inputs and Poisson gaps (default: a fresh one per run,
                           kept in results.json; each URL gets its own inputs. A fixed seed repeats
                           inputs across runs, which a server's prediction cache then answers)
  --metrics-url <u>        Prometheus /metrics to read batch sizes and queue times from (optional)
  --out-dir <dir>          where results.json, results.csv, report.html go (default bench/results/<time>)
  --quiet                  no progress line
A request succeeds only with a 2xx answer that is not a default output; non-2xx answers, default
outputs and requests without an answer are errors in every figure and in the recommendation.
Exit status 1 when a target got no successful answer (the message names what it got instead).
`;

export interface BenchArgs {
  urls: string[];
  apps: string[];
  shapes: RequestShape[];
  labels: string[];
  transport: 'http' | 'ws';
  mode: LoadMode;
  concurrency: number[];
  rates: number[];
  poisson: boolean;
  pipelining: boolean;
  connections: number;
  durationS: number;
  warmupS: number;
  drainS: number;
  sloMs: number;
  input: string;
  seed: number;
  metricsUrl: string | null;
  outDir: string;
  quiet: boolean;
}

/** Parse `1,8,64`, `1:64:x2` (geometric) or `1000:5000:1000` (linear), or a comma list of those. */
export function parseLevels(text: string, flag: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const bits = part.split(':');
    if (bits.length === 1) {
      out.push(Number(bits[0]));
    } else if (bits.length === 3) {
      const [a, b, step] = [Number(bits[0]), Number(bits[1]), bits[2]!];
      const geometric = step.startsWith('x');
      const s = Number(geometric ? step.slice(1) : step);
      if (!(s > (geometric ? 1 : 0))) throw new TypeError(`${flag}: bad step in "${part}"`);
      for (let v = a; v <= b && out.length < 10_000; v = geometric ? v * s : v + s) out.push(v);
    } else {
      throw new TypeError(`${flag}: "${part}" is not a number or start:end:step range`);
    }
  }
  if (out.length === 0 || out.some((v) => !(v > 0) || !Number.isFinite(v))) {
    throw new TypeError(`${flag}: levels must be positive numbers, got "${text}"`);
  }
  return out;
}

function num(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new TypeError(`${flag} must be a number >= ${min}, got "${v}"`);
  return n;
}

/** The input seed of the i-th target: distinct per target, so two targets never see the same inputs. */
export function targetSeed(seed: number, targetIndex: number): number {
  return (seed + targetIndex * 0x9e3779b1) >>> 0;
}

export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = {
    urls: ['http://127.0.0.1:1337'], apps: ['default'], shapes: ['clipper'], labels: [], transport: 'http',
    mode: 'closed', concurrency: [1, 8, 64], rates: [1000, 5000], poisson: false, pipelining: false, connections: 64, durationS: 10,
    warmupS: 2, drainS: 5, sloMs: 100, input: 'random:8', seed: randomInt(1, 2 ** 31), metricsUrl: null,
    outDir: path.join('bench', 'results', new Date().toISOString().replace(/[:.]/g, '-')), quiet: false,
  };
  const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq !== -1 && arg.startsWith('--')) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new TypeError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--url': a.urls = list(value()); break;
      case '--app': a.apps = list(value()); break;
      case '--shape': {
        const shapes = list(value());
        for (const s of shapes) if (s !== 'clipper' && s !== 'v2') throw new TypeError(`--shape must be clipper or v2, got "${s}"`);
        a.shapes = shapes as RequestShape[];
        break;
      }
      case '--label': a.labels = list(value()); break;
      case '--transport': {
        const t = value();
        if (t !== 'http' && t !== 'ws') throw new TypeError(`--transport must be http or ws, got "${t}"`);
        a.transport = t;
        break;
      }
      case '--mode': {
        const m = value();
        if (m !== 'closed' && m !== 'open') throw new TypeError(`--mode must be closed or open, got "${m}"`);
        a.mode = m;
        break;
      }
      case '--concurrency': a.concurrency = parseLevels(value(), flag).map(Math.round); break;
      case '--rate': a.rates = parseLevels(value(), flag); break;
      case '--poisson': a.poisson = true; break;
      case '--pipelining': a.pipelining = true; break;
      case '--connections': a.connections = Math.round(num(flag, value(), 1)); break;
      case '--duration-s': a.durationS = num(flag, value(), 0.05); break;
      case '--warmup-s': a.warmupS = num(flag, value(), 0); break;
      case '--drain-s': a.drainS = num(flag, value(), 0); break;
      case '--slo-ms': a.sloMs = num(flag, value(), 0); break;
      case '--input': a.input = value(); break;
      case '--seed': a.seed = Math.round(num(flag, value(), 0)); break;
      case '--metrics-url': a.metricsUrl = value(); break;
      case '--out-dir': a.outDir = value(); break;
      case '--quiet': a.quiet = true; break;
      default: throw new TypeError(`unknown option "${arg}"`);
    }
  }
  const n = a.urls.length;
  for (const [name, arr] of [['--app', a.apps], ['--shape', a.shapes], ['--label', a.labels]] as const) {
    if (arr.length > 1 && arr.length !== n) throw new TypeError(`${name} needs 1 or ${n} values (one per --url)`);
  }
  return a;
}

/** The transport, a label and what the no-success message needs, for target i. */
export function makeTarget(a: BenchArgs, i: number): { label: string; transport: Transport; target: TargetDescription } {
  const pick = <T>(arr: T[]): T => arr[arr.length === 1 ? 0 : i]!;
  const url = new URL(a.urls[i]!);
  const shape = pick(a.shapes);
  const app = pick(a.apps);
  const hasPath = url.pathname !== '/' && url.pathname !== '';
  const label = a.labels.length > 0 ? pick(a.labels) : `${url.host}${a.urls.length > 1 ? `#${i}` : ''}`;
  const target: TargetDescription = { label, app: hasPath ? null : app, shape, url: url.href };
  if (a.transport === 'ws') {
    const wsUrl = new URL(url.href);
    if (wsUrl.protocol === 'http:') wsUrl.protocol = 'ws:';
    if (!hasPath) wsUrl.pathname = '/ws';
    return { label, transport: new WsTransport(wsUrl.href), target: { ...target, app: null, url: wsUrl.href } };
  }
  if (url.protocol !== 'http:') throw new TypeError(`--url ${url.href}: only http:// is supported for --transport http`);
  return {
    label,
    target,
    transport: new HttpTransport({
      host: url.hostname, port: Number(url.port || 80), shape,
      path: hasPath ? url.pathname + url.search : defaultPath(shape, app),
    }),
  };
}

function progressWriter(quiet: boolean): ((line: string) => void) | undefined {
  if (quiet) return undefined;
  const tty = process.stderr.isTTY === true;
  return (line) => process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
}

/** Run the benchmark; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(kUsage);
    return 0;
  }
  let args: BenchArgs;
  try {
    args = parseArgs(argv);
    parseInputSpec(args.input, args.seed);
  } catch (err) {
    process.stderr.write(`clipper bench: ${(err as Error).message}\n\n${kUsage}`);
    return 2;
  }
  const startedAt = new Date().toISOString();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const onProgress = progressWriter(args.quiet);
  const targets: TargetResult[] = [];
  const failures: string[] = [];
  try {
    for (let i = 0; i < args.urls.length; i++) {
      const { label, transport, target } = makeTarget(args, i);
      const levels = await runSweep({
        label, transport, inputs: parseInputSpec(args.input, targetSeed(args.seed, i)), mode: args.mode,
        levels: args.mode === 'closed' ? args.concurrency : args.rates, connections: args.connections,
        poisson: args.poisson, pipelining: args.pipelining, seed: args.seed, durationS: args.durationS, warmupS: args.warmupS, drainS: args.drainS,
        sloMs: args.sloMs, metricsUrl: args.metricsUrl, ...(onProgress === undefined ? {} : { onProgress }),
      });
      targets.push({ label, description: transport.description, levels, recommendation: recommend(levels) });
      const failure = noSuccessMessage(totalFailures(levels), target);
      if (failure !== null) failures.push(failure);
    }
  } catch (err) {
    process.stderr.write(`\nclipper bench: ${(err as Error).message}\n`);
    return 1;
  }
  if (onProgress !== undefined && process.stderr.isTTY === true) process.stderr.write('\n');
  const cpu = process.cpuUsage(cpu0);
  const results: BenchResults = {
    startedAt, config: { ...args }, targets,
    generatorCpuPct: ((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100,
  };
  process.stdout.write(formatTable(results) + '\n');
  const files = writeReports(results, args.outDir);
  process.stdout.write(`wrote ${files.json}, ${files.csv}, ${files.html}\n`);
  for (const f of failures) process.stderr.write(`clipper bench: FAILED: ${f}\n`);
  return failures.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
}
