// The digits pipeline examples' accuracy/latency trade-off (containers/python/examples/digits_pipeline):
// each model alone, the cascade fast → forest at several thresholds, and the three-model ensemble,
// all answering the same held-out digits through a real cluster under the same open-loop load.
//
//   npm run build && node dist/bench/pipeline_examples.js [--rate 40] [--passes 2] \
//       [--thresholds 0.8,0.9,0.95,0.99] [--slo-ms 1000] [--seed 0] [--out FILE.md]
//
// Trains the models (train.py, seeded) into a temp dir, starts `clipper start --threads 1` as a child
// process on free loopback ports, deploys digits-fast, digits-forest and digits-knn (one Python
// replica each, prediction cache off, so every query reaches the models), and creates one app per
// configuration: the model alone (a linked app) or a pipeline app (the example's cascade.json with
// the threshold replaced, ensemble.json). Configurations run one after another, in --passes rounds
// (so that a busy spell of the machine spreads over all of them); in each round each one answers the
// held-out set once, sent as Poisson arrivals at --rate queries/s (tools/loadgen/open_loop.ts,
// seeded); latency runs from the intended send time to the answer, so a late send counts. Accuracy
// counts a default or fallback answer as wrong. Prints a markdown table (and writes it to --out).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ClipperConnection } from '../src/client/admin_client.js';
import { kPythonInterpreter, kRepoRoot } from '../src/paths.js';
import { Histogram } from '../tools/loadgen/histogram.js';
import { OpenLoopSchedule } from '../tools/loadgen/open_loop.js';
import { adminCall } from './pipeline_plan_run.js';

const kExampleDir = path.join(kRepoRoot, 'containers', 'python', 'examples', 'digits_pipeline');
const kModels = ['fast', 'forest', 'knn'] as const;

interface Heldout {
  inputs: number[][];
  labels: number[];
}

interface Config {
  label: string;
  app: string;
  /** The cascade's threshold, when the configuration is a cascade. */
  threshold?: number;
}

interface Measured {
  config: Config;
  sent: number;
  correct: number;
  /** Answers the fast model did not make (the cascade's fall-through as the answers show it). */
  notFast: number;
  /** The cascade's fall-through count as get_pipeline_stats reports it. */
  statsFallthrough: number | null;
  /** Models that made the answers (answer.models), summed. */
  modelCalls: number;
  defaults: number;
  fallbacks: number;
  errors: number;
  /** Why answers were defaults or fallbacks, or why requests failed: reason → count. */
  reasons: Map<string, number>;
  latency: Histogram;
}

const children: ChildProcess[] = [];

function stopAll(): Promise<void> {
  return Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
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

function runPython(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(kPythonInterpreter, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`python ${args.join(' ')} exited with ${code}`))));
  });
}

/** `clipper start` on free ports; resolves with the query and management URLs it prints. */
function startCluster(modelDir: string): Promise<{ queryUrl: string; adminUrl: string }> {
  const args = ['start', '--query-port', '0', '--admin-port', '0', '--threads', '1', '--model-dirs', modelDir];
  const child = spawn(process.execPath, [path.join(kRepoRoot, 'bin', 'clipper.js'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  child.stdin.on('error', () => {});
  return new Promise((resolve, reject) => {
    let tail = '';
    const onLine = (line: string): void => {
      tail = `${tail}${line}\n`.slice(-2000);
      const m = /query frontend on (http:\/\/[^,\s]+), management API on (http:\/\/\S+)/.exec(line);
      if (m !== null) resolve({ queryUrl: m[1]!, adminUrl: m[2]! });
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code) => reject(new Error(`clipper start exited with ${code}: ${tail}`)));
  });
}

/** Deploy the three models and one app per configuration. */
async function deploy(adminUrl: string, queryUrl: string, dir: string, thresholds: number[], sloMs: number): Promise<Config[]> {
  const conn = new ClipperConnection({ adminUrl, queryUrl, timeoutMs: 120_000 });
  const configs: Config[] = [];
  const app = { input_type: 'doubles', default_output: '-1', latency_slo_micros: sloMs * 1000 };
  for (const fn of kModels) {
    const model = `digits-${fn}`;
    const container = { runtime: 'python' as const, entry: path.join(dir, 'model.py'), function: fn };
    await conn.deployModel({ name: model, version: '1', inputType: 'doubles', numReplicas: 1, container, cacheEnabled: false });
    await adminCall(adminUrl, 'add_app', { name: `alone-${fn}`, ...app });
    await conn.linkModelToApp(`alone-${fn}`, model);
    configs.push({ label: `${model} alone`, app: `alone-${fn}` });
  }
  const cascade = JSON.parse(readFileSync(path.join(kExampleDir, 'cascade.json'), 'utf8')) as {
    stages: Array<{ threshold: number }>;
  };
  for (const threshold of thresholds) {
    cascade.stages[0]!.threshold = threshold;
    const name = `cascade-${Math.round(threshold * 1000)}`;
    await adminCall(adminUrl, 'add_app', { name, ...app, pipeline: cascade });
    configs.push({ label: `cascade fast → forest, threshold ${threshold}`, app: name, threshold });
  }
  const ensemble = JSON.parse(readFileSync(path.join(kExampleDir, 'ensemble.json'), 'utf8')) as unknown;
  await adminCall(adminUrl, 'add_app', { name: 'ensemble', ...app, pipeline: ensemble });
  configs.push({ label: 'ensemble forest + knn + fast (vote)', app: 'ensemble' });
  return configs;
}

/** The cascade's fall-through count past its first model, as get_pipeline_stats reports it. */
async function fallthroughOf(adminUrl: string, app: string): Promise<number> {
  const stats = (await adminCall(adminUrl, 'get_pipeline_stats', { name: app })) as {
    stages: Array<{ fallthrough?: Record<string, number> }>;
  };
  return stats.stages[0]?.fallthrough?.['digits-fast'] ?? Number.NaN;
}

interface Reply {
  output?: { label?: unknown };
  default?: boolean;
  default_explanation?: string;
  fallback?: string;
  models?: string[];
}

async function predict(queryUrl: string, app: string, input: number[]): Promise<Reply> {
  const res = await fetch(`${queryUrl}/${app}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${app}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as Reply;
}

function emptyMeasured(config: Config): Measured {
  const m = { config, sent: 0, correct: 0, notFast: 0, statsFallthrough: null, modelCalls: 0 };
  return { ...m, defaults: 0, fallbacks: 0, errors: 0, reasons: new Map(), latency: new Histogram() };
}

/** Add one round's counts into `into`. */
function merge(into: Measured, m: Measured): void {
  into.sent += m.sent;
  into.correct += m.correct;
  into.notFast += m.notFast;
  if (m.statsFallthrough !== null) into.statsFallthrough = (into.statsFallthrough ?? 0) + m.statsFallthrough;
  into.modelCalls += m.modelCalls;
  into.defaults += m.defaults;
  into.fallbacks += m.fallbacks;
  into.errors += m.errors;
  for (const [reason, n] of m.reasons) count(into.reasons, reason, n);
  into.latency.merge(m.latency);
}

/** Send the held-out set once to `config.app` as seeded Poisson arrivals at `rateQps`. */
async function measure(queryUrl: string, config: Config, held: Heldout, rateQps: number, seed: number): Promise<Measured> {
  const m = emptyMeasured(config);
  const total = held.inputs.length;
  const pending: Array<Promise<void>> = [];
  const startMs = performance.now();
  const schedule = new OpenLoopSchedule({
    rateRps: rateQps,
    poisson: true,
    seed,
    startMs,
    endMs: Number.POSITIVE_INFINITY,
    now: () => performance.now(),
    dispatch: (intendedMs) => {
      if (m.sent >= total) return;
      const row = m.sent++ % held.inputs.length;
      pending.push(
        predict(queryUrl, config.app, held.inputs[row]!).then(
          (reply) => {
            m.latency.record((performance.now() - intendedMs) * 1000);
            tally(m, reply, held.labels[row]!);
          },
          (err: unknown) => {
            m.errors++;
            count(m.reasons, `error: ${err instanceof Error ? err.message : String(err)}`);
          },
        ),
      );
    },
  });
  await new Promise<void>((resolve) => {
    const step = (): void => {
      const waitMs = schedule.tick();
      if (m.sent >= total) resolve();
      else setTimeout(step, waitMs >= 1 ? Math.floor(waitMs) : 0);
    };
    step();
  });
  await Promise.all(pending);
  return m;
}

function count(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

function tally(m: Measured, reply: Reply, truth: number): void {
  const models = reply.models ?? [];
  // A linked app's answer (one model) lists no models.
  m.modelCalls += Math.max(1, models.length);
  if (reply.default === true) {
    m.defaults++;
    count(m.reasons, `default: ${reply.default_explanation ?? '(no explanation)'}`);
  } else if (reply.fallback !== undefined) {
    m.fallbacks++;
    count(m.reasons, `fallback: ${reply.fallback}`);
  } else if (reply.output?.label === truth) m.correct++;
  if (!models.includes('digits-fast')) m.notFast++;
}

function row(m: Measured): string {
  const ms = (us: number): string => (us / 1000).toFixed(2);
  const cascade = m.config.threshold !== undefined;
  const share = cascade ? `${((100 * m.notFast) / m.sent).toFixed(1)}%` : '—';
  // A cascade calls the fast model for every query and the forest for those that fall through.
  const calls = (cascade ? m.sent + m.notFast : m.modelCalls) / m.sent;
  const stats = m.statsFallthrough === null ? '' : ` (stats: ${m.statsFallthrough})`;
  return (
    `| ${m.config.label} | ${((100 * m.correct) / m.sent).toFixed(2)}% | ${share}${stats} | ${calls.toFixed(2)} | ` +
    `${ms(m.latency.percentile(50))} | ${ms(m.latency.percentile(99))} | ${ms(m.latency.mean)} | ` +
    `${m.defaults + m.fallbacks + m.errors} |`
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '40' },
      passes: { type: 'string', default: '2' },
      thresholds: { type: 'string', default: '0.8,0.9,0.95,0.99' },
      'slo-ms': { type: 'string', default: '1000' },
      seed: { type: 'string', default: '0' },
      out: { type: 'string' },
    },
  });
  const rate = Number(values.rate);
  const passes = Number(values.passes);
  const sloMs = Number(values['slo-ms']);
  const seed = Number(values.seed);
  const thresholds = values.thresholds.split(',').map(Number);
  if (!(rate > 0) || !Number.isInteger(passes) || passes < 1 || !(sloMs > 0) || thresholds.some((x) => !(x >= 0 && x <= 1))) {
    throw new Error('--rate and --slo-ms must be > 0, --passes an integer >= 1, --thresholds numbers in [0, 1]');
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-digits-pipeline-bench-'));
  const stop = (): void => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const trained = await runPython([path.join(kExampleDir, 'train.py'), dir, '--seed', String(seed)]);
    process.stdout.write(`trained: ${trained}`);
    const held = JSON.parse(readFileSync(path.join(dir, 'heldout.json'), 'utf8')) as Heldout;
    const { queryUrl, adminUrl } = await startCluster(dir);
    const configs = await deploy(adminUrl, queryUrl, dir, thresholds, sloMs);
    for (const c of configs) for (let i = 0; i < 20; i++) await predict(queryUrl, c.app, held.inputs[i]!); // warm up
    const results = configs.map(emptyMeasured);
    const loadBefore = os.loadavg();
    for (let round = 0; round < passes; round++) {
      for (const [i, c] of configs.entries()) {
        const before = c.threshold === undefined ? null : await fallthroughOf(adminUrl, c.app);
        const m = await measure(queryUrl, c, held, rate, seed + round);
        if (before !== null) m.statsFallthrough = (await fallthroughOf(adminUrl, c.app)) - before;
        merge(results[i]!, m);
        process.stderr.write(`round ${round + 1}/${passes}: ${row(m)}\n`);
      }
    }
    const loadAfter = os.loadavg();
    const table = [
      `${held.inputs.length} held-out digits × ${passes}, Poisson arrivals at ${rate} queries/s (seed ${seed}), ` +
        `one replica per model, cache off, \`clipper start --threads 1\`; load average ` +
        `${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after (${os.cpus().length} cores)`,
      '',
      '| configuration | accuracy | answered by the forest | model calls / query | p50 ms | p99 ms | mean ms | default/fallback/error |',
      '|---|---|---|---|---|---|---|---|',
      ...results.map(row),
      '',
      ...results.flatMap((m) => [...m.reasons].map(([reason, n]) => `- ${m.config.label}: ${n} × ${reason}`)),
      '',
    ].join('\n');
    process.stdout.write(`\n${table}`);
    if (values.out !== undefined) writeFileSync(values.out, table);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`pipeline_examples: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void stopAll().finally(() => process.exit(1));
  },
);
