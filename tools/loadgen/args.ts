// The command line of `clipper bench`: its usage text, the options it takes, and their parsing.

import { randomInt } from 'node:crypto';
import path from 'node:path';
import type { LoadMode } from './runner.js';
import type { RequestShape } from './transport.js';

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

function defaultArgs(): BenchArgs {
  return {
    urls: ['http://127.0.0.1:1337'],
    apps: ['default'],
    shapes: ['clipper'],
    labels: [],
    transport: 'http',
    mode: 'closed',
    concurrency: [1, 8, 64],
    rates: [1000, 5000],
    poisson: false,
    pipelining: false,
    connections: 64,
    durationS: 10,
    warmupS: 2,
    drainS: 5,
    sloMs: 100,
    input: 'random:8',
    seed: randomInt(1, 2 ** 31),
    metricsUrl: null,
    outDir: path.join('bench', 'results', new Date().toISOString().replace(/[:.]/g, '-')),
    quiet: false,
  };
}

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

function oneOf<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new TypeError(`${flag} must be ${allowed.join(' or ')}, got "${v}"`);
  return v as T;
}

/** The options without a value. */
const kSwitches = new Map<string, (a: BenchArgs) => void>([
  [
    '--poisson',
    (a) => {
      a.poisson = true;
    },
  ],
  [
    '--pipelining',
    (a) => {
      a.pipelining = true;
    },
  ],
  [
    '--quiet',
    (a) => {
      a.quiet = true;
    },
  ],
]);

/** The options with a value (`--flag value` or `--flag=value`). */
const kOptions = new Map<string, (a: BenchArgs, v: string, flag: string) => void>([
  [
    '--url',
    (a, v) => {
      a.urls = list(v);
    },
  ],
  [
    '--app',
    (a, v) => {
      a.apps = list(v);
    },
  ],
  [
    '--shape',
    (a, v, flag) => {
      a.shapes = list(v).map((s) => oneOf<RequestShape>(flag, s, ['clipper', 'v2']));
    },
  ],
  [
    '--label',
    (a, v) => {
      a.labels = list(v);
    },
  ],
  [
    '--transport',
    (a, v, flag) => {
      a.transport = oneOf(flag, v, ['http', 'ws'] as const);
    },
  ],
  [
    '--mode',
    (a, v, flag) => {
      a.mode = oneOf<LoadMode>(flag, v, ['closed', 'open']);
    },
  ],
  [
    '--concurrency',
    (a, v, flag) => {
      a.concurrency = parseLevels(v, flag).map(Math.round);
    },
  ],
  [
    '--rate',
    (a, v, flag) => {
      a.rates = parseLevels(v, flag);
    },
  ],
  [
    '--connections',
    (a, v, flag) => {
      a.connections = Math.round(num(flag, v, 1));
    },
  ],
  [
    '--duration-s',
    (a, v, flag) => {
      a.durationS = num(flag, v, 0.05);
    },
  ],
  [
    '--warmup-s',
    (a, v, flag) => {
      a.warmupS = num(flag, v, 0);
    },
  ],
  [
    '--drain-s',
    (a, v, flag) => {
      a.drainS = num(flag, v, 0);
    },
  ],
  [
    '--slo-ms',
    (a, v, flag) => {
      a.sloMs = num(flag, v, 0);
    },
  ],
  [
    '--input',
    (a, v) => {
      a.input = v;
    },
  ],
  [
    '--seed',
    (a, v, flag) => {
      a.seed = Math.round(num(flag, v, 0));
    },
  ],
  [
    '--metrics-url',
    (a, v) => {
      a.metricsUrl = v;
    },
  ],
  [
    '--out-dir',
    (a, v) => {
      a.outDir = v;
    },
  ],
]);

export function parseArgs(argv: string[]): BenchArgs {
  const a = defaultArgs();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const toggle = kSwitches.get(flag);
    if (toggle !== undefined) {
      toggle(a);
      continue;
    }
    const set = kOptions.get(flag);
    if (set === undefined) throw new TypeError(`unknown option "${arg}"`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new TypeError(`${flag} needs a value`);
    set(a, value, flag);
  }
  const n = a.urls.length;
  for (const [name, arr] of [
    ['--app', a.apps],
    ['--shape', a.shapes],
    ['--label', a.labels],
  ] as const) {
    if (arr.length > 1 && arr.length !== n) throw new TypeError(`${name} needs 1 or ${n} values (one per --url)`);
  }
  return a;
}
