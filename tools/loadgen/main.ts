// `clipper bench` entry: read the command line (args.ts), sweep each target, print a table, write JSON/CSV/HTML.
// Standalone: node dist/tools/loadgen/main.js --url http://127.0.0.1:1337 --app demo ...

import { pathToFileURL } from 'node:url';
import { type BenchArgs, kUsage, parseArgs, targetSeed } from './args.js';
import { HttpTransport } from './http_client.js';
import { parseInputSpec } from './inputs.js';
import { recommend } from './recommend.js';
import { formatTable, writeReports, type BenchResults, type TargetResult } from './report.js';
import { runSweep } from './runner.js';
import { noSuccessMessage, totalFailures, type TargetDescription } from './summary.js';
import { defaultPath, type Transport } from './transport.js';
import { WsTransport } from './ws_client.js';

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
      host: url.hostname,
      port: Number(url.port || 80),
      shape,
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
        label,
        transport,
        inputs: parseInputSpec(args.input, targetSeed(args.seed, i)),
        mode: args.mode,
        levels: args.mode === 'closed' ? args.concurrency : args.rates,
        connections: args.connections,
        poisson: args.poisson,
        pipelining: args.pipelining,
        seed: args.seed,
        durationS: args.durationS,
        warmupS: args.warmupS,
        drainS: args.drainS,
        sloMs: args.sloMs,
        metricsUrl: args.metricsUrl,
        ...(onProgress === undefined ? {} : { onProgress }),
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
    startedAt,
    config: { ...args },
    targets,
    generatorCpuPct: ((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100,
  };
  process.stdout.write(`${formatTable(results)}\n`);
  const files = writeReports(results, args.outDir);
  process.stdout.write(`wrote ${files.json}, ${files.csv}, ${files.html}\n`);
  for (const f of failures) process.stderr.write(`clipper bench: FAILED: ${f}\n`);
  return failures.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
