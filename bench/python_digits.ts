// The sklearn digits model served by clipper-ts (a Python replica behind the batching frontend)
// vs a plain FastAPI + uvicorn app serving the same pickle (bench/fastapi_digits_app.py), under the
// same closed-loop load generator (tools/loadgen) and the same inputs (rows of the digits data set).
// Reports, per server, the highest concurrency level whose p99 ≤ --p99-ms with ≤ 1% errors and
// ≤ 1% default outputs, and the throughput ratio at those levels.
//
//   npm run build && node dist/bench/python_digits.js [--concurrency 1,2,4,8,16,32,64] \
//       [--duration-s 3] [--warmup-s 1] [--p99-ms 20] [--replicas 1] [--input digits|random:64]
//       [--out-dir DIR]
//
// --input digits (default) cycles the 1,797 rows of sklearn's digits data set; random:64 sends a
// fresh random 64-vector per request. The model is deployed with the prediction cache off
// (cache_enabled: false): the digits rows repeat, and FastAPI has no cache, so a cache would
// measure lookups instead of predictions.
//
// Both servers run as child processes (the cluster via `clipper start --threads 1`, uvicorn with
// one worker) and are stopped at the end, also on failure or Ctrl-C.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ClipperConnection } from '../src/client/admin_client.js';
import { kPythonInterpreter, kRepoRoot } from '../src/paths.js';
import type { BenchResults } from '../tools/loadgen/report.js';
import type { LevelResult } from '../tools/loadgen/runner.js';

const children: ChildProcess[] = [];
let stopping = false;

function stopAll(): Promise<void> {
  stopping = true;
  return Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => {
            clearTimeout(killer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  ).then(() => undefined);
}

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

/** Spawn a long-running server; resolve with the first stdout/stderr line `match` accepts. */
function startServer(
  command: string,
  args: string[],
  env: Record<string, string>,
  match: (line: string) => RegExpExecArray | null,
): Promise<RegExpExecArray> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  child.stdin.on('error', () => {});
  return new Promise((resolve, reject) => {
    let tail = '';
    const onLine = (line: string): void => {
      tail = `${tail}${line}\n`.slice(-2000);
      const m = match(line);
      if (m !== null) resolve(m);
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code) => {
      if (!stopping) reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${tail}`));
    });
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The highest level with p99 within the objective, ≤ 1% errors and ≤ 1% default outputs. */
function best(levels: LevelResult[], p99Ms: number): LevelResult | null {
  let found: LevelResult | null = null;
  for (const r of levels) {
    const errorShare = r.sent === 0 ? 1 : r.errorCount / r.sent;
    if (
      r.latencyUs.p99 <= p99Ms * 1000 &&
      errorShare <= 0.01 &&
      r.defaultShare <= 0.01 &&
      (found === null || r.throughputRps > found.throughputRps)
    )
      found = r;
  }
  return found;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string', default: '1,2,4,8,16,32,64' },
      'duration-s': { type: 'string', default: '3' },
      'warmup-s': { type: 'string', default: '1' },
      'p99-ms': { type: 'string', default: '20' },
      replicas: { type: 'string', default: '1' },
      input: { type: 'string', default: 'digits' },
      'out-dir': { type: 'string' },
    },
  });
  const p99Ms = Number(values['p99-ms']);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-digits-bench-'));
  const outDir =
    values['out-dir'] ?? path.join(kRepoRoot, 'bench', 'results', `python-digits-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const stop = (): void => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const pickle = path.join(dir, 'digits.pkl');
    const rows = path.join(dir, 'digits_rows.jsonl');
    process.stdout.write(
      await run(kPythonInterpreter, [path.join(kRepoRoot, 'containers', 'python', 'examples', 'train_digits.py'), pickle]),
    );
    writeFileSync(rows, '');
    await run(kPythonInterpreter, [
      '-c',
      'import json, sys\nfrom sklearn.datasets import load_digits\n' +
        "open(sys.argv[1], 'w').write(''.join(json.dumps(r) + '\\n' for r in load_digits().data.tolist()))\n",
      rows,
    ]);

    // clipper-ts: the CLI's `start` on free ports, one batching thread (the box has 2 cores).
    const started = await startServer(
      process.execPath,
      // --model-dirs: the pickle lies in this run's temp dir, which add_model must allow.
      [path.join(kRepoRoot, 'bin', 'clipper.js'), 'start', '--query-port', '0', '--admin-port', '0', '--threads', '1', '--model-dirs', dir],
      {},
      (line) => /query frontend on (http:\/\/[^,\s]+), management API on (http:\/\/\S+)/.exec(line),
    );
    const [, queryUrl, adminUrl] = started as unknown as [string, string, string];
    const conn = new ClipperConnection({ adminUrl, queryUrl });
    await conn.registerApplication({ name: 'digits', inputType: 'doubles', defaultOutput: '-1', sloMicros: p99Ms * 1000 });
    await conn.deployModel({
      name: 'digits-lr',
      version: '1',
      inputType: 'doubles',
      numReplicas: Number(values.replicas),
      container: { runtime: 'python', entry: pickle, function: 'predict' },
      cacheEnabled: false,
    });
    await conn.linkModelToApp('digits', 'digits-lr');
    const probe = await conn.predict('digits', JSON.parse(readFileSync(rows, 'utf8').split('\n')[0]!) as number[]);
    if (probe.default) throw new Error(`clipper-ts answered the default output: ${JSON.stringify(probe)}`);

    // FastAPI + uvicorn, one worker, same pickle.
    const fastapiPort = await freePort();
    void startServer(
      kPythonInterpreter,
      [
        '-m',
        'uvicorn',
        'fastapi_digits_app:app',
        '--app-dir',
        path.join(kRepoRoot, 'bench'),
        '--host',
        '127.0.0.1',
        '--port',
        String(fastapiPort),
        '--log-level',
        'warning',
        '--workers',
        '1',
      ],
      { DIGITS_MODEL: pickle },
      () => null,
    ).catch((err: unknown) => process.stderr.write(`${String(err)}\n`));
    await waitForHttp(`http://127.0.0.1:${fastapiPort}/docs`, 30_000);

    process.stdout.write(
      `load average before the sweep: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    await run(process.execPath, [
      path.join(kRepoRoot, 'dist', 'tools', 'loadgen', 'main.js'),
      '--url',
      `${queryUrl},http://127.0.0.1:${fastapiPort}/predict`,
      '--app',
      'digits,digits',
      '--label',
      'clipper-ts,fastapi',
      '--concurrency',
      values.concurrency,
      '--duration-s',
      values['duration-s'],
      '--warmup-s',
      values['warmup-s'],
      '--slo-ms',
      String(p99Ms),
      '--input',
      values.input === 'digits' ? `file:${rows}` : values.input,
      '--out-dir',
      outDir,
      '--quiet',
    ]).then((out) => process.stdout.write(out));
    const loadAfter = os.loadavg();

    const results = JSON.parse(readFileSync(path.join(outDir, 'results.json'), 'utf8')) as BenchResults;
    const bests = results.targets.map((t) => ({ label: t.label, best: best(t.levels, p99Ms) }));
    process.stdout.write(`\nbest level with p99 ≤ ${p99Ms} ms (≤ 1% errors, ≤ 1% default outputs):\n`);
    for (const { label, best: b } of bests) {
      process.stdout.write(
        b === null
          ? `  ${label}: none\n`
          : `  ${label}: concurrency ${b.level}: ${b.throughputRps.toFixed(0)} req/s, p50 ${(b.latencyUs.p50 / 1000).toFixed(2)} ms, ` +
              `p99 ${(b.latencyUs.p99 / 1000).toFixed(2)} ms\n`,
      );
    }
    const [ours, theirs] = bests.map((b) => b.best);
    if (ours && theirs) process.stdout.write(`ratio clipper-ts / fastapi: ${(ours.throughputRps / theirs.throughputRps).toFixed(2)}×\n`);
    process.stdout.write(`load average after the sweep: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}\nreports in ${outDir}\n`);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`python_digits: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void stopAll().finally(() => process.exit(1));
  },
);
