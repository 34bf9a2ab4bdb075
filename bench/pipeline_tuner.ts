// Reactive tuning under a load step (docs/pipelines.md "Reactive tuning", docs/benchmarks.md §17). A
// pipeline is planned for a rate R (`clipper plan --apply`: a reactive plan), served at R, then the
// load doubles (a step to `--step` × R) and stays there. Per second it records the arrival rate, each
// model's replicas (wanted, from the admin API, and connected, from /metrics), p99 latency and the SLO
// misses, and reports the transition window (from the step until the replicas the tuner set are all
// connected) with the misses inside it and after it, next to the share of misses before the step (a
// busy machine misses some anyway). It runs twice: with the reactive tuner, and with it off (the same
// plan, static), which shows what the step does without it.
//
//   npm run build && node dist/bench/pipeline_tuner.js [--rate 100] [--step 2] [--before-s 20]
//       [--after-s 40] [--slo-ms 200] [--threshold 0.5] [--seed 1] [--replicas-max 6]
//       [--modes reactive,static] [--profile FILE | measure] [--hop-us 1000] [--out /tmp/pipeline_tuner.json]
//
// The cluster runs in a child process (as bench/pipeline_plan.ts's), serving featurize → cascade(fast,
// slow) of models of known cost (test/fixtures/models/pipeline_cost_models.mjs), planned from the
// profile those costs give by construction (or a saved one, or `--profile measure`: profiled on the
// replicas, which on a busy machine plans differently from run to run); arrivals are the
// planner's own Poisson draws (src/planner/workload.ts), R for before-s then step × R for after-s,
// replayed open loop over loopback HTTP, latency counted from each query's intended send time. A query
// misses its SLO when it is not answered by the pipeline itself (an error, the default output or a
// fallback) within the SLO.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { arrivalTimesMs } from '../src/planner/workload.js';
import {
  adminCall,
  connectedReplicas,
  type CostClusterSpec,
  kPipelineModels,
  knownCostProfile,
  pipelineInputs,
  planSettings,
  runClipper,
  serveCostCluster,
  startCostCluster,
  storedPlan,
  waitForReplicas,
} from './pipeline_plan_run.js';

const kApp = 'pt';

interface Server {
  queryPort: number;
  adminPort: number;
  /** The tuner's lines ("pipeline tuner: ..."), with the time they were seen (performance.now()). */
  tunerLines: Array<{ atMs: number; line: string }>;
  stop(): Promise<void>;
}

async function startServer(spec: Omit<CostClusterSpec, 'app'>): Promise<Server> {
  const tunerLines: Server['tunerLines'] = [];
  const cluster = await startCostCluster(
    'pipeline_tuner.js',
    { app: kApp, ...spec },
    {
      onStderrLine: (line) => {
        if (line.includes('pipeline tuner:')) tunerLines.push({ atMs: performance.now(), line });
        process.stderr.write(`  [server] ${line}\n`);
      },
    },
  );
  return { ...cluster, tunerLines };
}

/** One query: when it was meant to be sent (ms from the start), how long its answer took, and who made it. */
interface QueryRecord {
  atMs: number;
  latencyMs: number;
  /** The pipeline's own answer, the default output, a fallback (the best so far), or no 200 answer. */
  outcome: 'pipeline' | 'default' | 'fallback' | 'error';
  /** A default's or fallback's explanation, an error's status or code. */
  why: string;
}

/** Replays `arrivalsMs` (ms from now) against /{app}/predict; resolves once all are answered (or after `drainMs`). */
async function drive(
  queryPort: number,
  arrivalsMs: readonly number[],
  inputs: readonly number[][],
  drainMs = 10_000,
): Promise<QueryRecord[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 1024 });
  const records: QueryRecord[] = [];
  const t0 = performance.now() + 20;
  let next = 0;
  let inflight = 0;
  const send = (i: number): void => {
    const atMs = arrivalsMs[i]!;
    inflight++;
    const done = (outcome: QueryRecord['outcome'], why = ''): void => {
      inflight--;
      records.push({ atMs, latencyMs: performance.now() - (t0 + atMs), outcome, why });
    };
    const req = http.request(
      {
        host: '127.0.0.1',
        port: queryPort,
        path: `/${kApp}/predict`,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: { default?: boolean; fallback?: string; default_explanation?: string } = {};
          try {
            body = JSON.parse(Buffer.concat(chunks).toString()) as typeof body;
          } catch {
            /* counted as an error */
          }
          if (res.statusCode !== 200 || typeof body.default !== 'boolean') done('error', `status ${res.statusCode}`);
          else if (body.default) done('default', body.default_explanation ?? '');
          else if (body.fallback !== undefined) done('fallback', body.fallback);
          else done('pipeline');
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => done('error', err.code ?? err.message));
    req.end(`{"input":${JSON.stringify(inputs[i % inputs.length])}}`);
  };
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (next < arrivalsMs.length && t0 + arrivalsMs[next]! <= now) send(next++);
      if (next >= arrivalsMs.length) return resolve();
      setTimeout(tick, Math.max(0, Math.floor(t0 + arrivalsMs[next]! - performance.now())));
    };
    tick();
  });
  const drainUntil = performance.now() + drainMs;
  while (inflight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  agent.destroy();
  return records;
}

interface Second {
  s: number;
  arrivals: number;
  /** Wanted (admin get_model) and connected (/metrics) replicas per model at the end of the second. */
  wanted: Record<string, number>;
  connected: Record<string, number>;
  p99Ms: number;
  /** Queries not answered by the pipeline within the SLO, and of them: late answers, defaults, fallbacks, errors. */
  misses: number;
  late: number;
  defaults: number;
  fallbacks: number;
  errors: number;
}

/** Samples every model's wanted and connected replicas once a second until stopped. */
function sampleReplicas(
  server: Server,
  models: readonly string[],
  t0: number,
): { samples: Array<{ atMs: number; wanted: Record<string, number>; connected: Record<string, number> }>; stop(): void } {
  const samples: Array<{ atMs: number; wanted: Record<string, number>; connected: Record<string, number> }> = [];
  let stopped = false;
  const sample = async (): Promise<void> => {
    const wanted: Record<string, number> = {};
    for (const m of models) {
      const model = (await adminCall(server.adminPort, 'get_model', { model_name: m, model_version: '1' })) as { num_replicas: number };
      wanted[m] = model.num_replicas;
    }
    const connected = Object.fromEntries([...(await connectedReplicas(server.queryPort))].filter(([m]) => models.includes(m)));
    samples.push({ atMs: performance.now() - t0, wanted, connected });
  };
  const loop = async (): Promise<void> => {
    while (!stopped) {
      // A sample that fails (the server stopped answering) is left out: the timeline shows the gap.
      await sample().catch((err: unknown) => process.stderr.write(`replica sample failed: ${String(err)}\n`));
      await new Promise((r) => setTimeout(r, 1000 - ((performance.now() - t0) % 1000)));
    }
  };
  void loop();
  return {
    samples,
    stop: () => {
      stopped = true;
    },
  };
}

function timeline(
  records: readonly QueryRecord[],
  samples: ReturnType<typeof sampleReplicas>['samples'],
  seconds: number,
  sloMs: number,
): Second[] {
  const out: Second[] = [];
  for (let s = 0; s < seconds; s++) {
    const inSecond = records.filter((r) => r.atMs >= s * 1000 && r.atMs < (s + 1) * 1000);
    const latencies = inSecond.map((r) => r.latencyMs).sort((a, b) => a - b);
    const sample = samples.filter((x) => x.atMs < (s + 1) * 1000 + 500).at(-1);
    out.push({
      s,
      arrivals: inSecond.length,
      wanted: sample?.wanted ?? {},
      connected: sample?.connected ?? {},
      p99Ms: latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.ceil(0.99 * latencies.length) - 1)]!,
      misses: inSecond.filter((r) => r.outcome !== 'pipeline' || r.latencyMs > sloMs).length,
      late: inSecond.filter((r) => r.outcome === 'pipeline' && r.latencyMs > sloMs).length,
      defaults: inSecond.filter((r) => r.outcome === 'default').length,
      fallbacks: inSecond.filter((r) => r.outcome === 'fallback').length,
      errors: inSecond.filter((r) => r.outcome === 'error').length,
    });
  }
  return out;
}

interface Transition {
  /** Share of queries that missed before the step (after the first 2 s): the level of this machine. */
  baselineMissRatio: number;
  /** Seconds from the step to the tuner's first change, and to the end of the first second by which
   * every model had its new replica count connected (the transition window); null: none. */
  changeAfterS: number | null;
  readyAfterS: number | null;
  /** Misses in the window and their share of its queries; after it (the whole after-step phase when no window), the same. */
  missesIn: number;
  missRatioIn: number;
  missesAfter: number;
  missRatioAfter: number;
}

/** The transition after the step at `stepS`: until the replicas the tuner set are connected. */
function transitionOf(
  rows: readonly Second[],
  stepS: number,
  planned: Readonly<Record<string, number>>,
  changesAtS: readonly number[],
): Transition {
  const part = (from: number, to: number) => {
    const slice = rows.slice(from, to);
    const misses = slice.reduce((a, r) => a + r.misses, 0);
    const arrivals = slice.reduce((a, r) => a + r.arrivals, 0);
    return { misses, ratio: arrivals === 0 ? 0 : misses / arrivals };
  };
  const models = Object.keys(planned);
  const ready = rows.find(
    (r) => r.s >= stepS && models.every((m) => r.connected[m] === r.wanted[m]) && models.some((m) => r.wanted[m] !== planned[m]),
  );
  const endS = ready === undefined ? stepS : ready.s + 1;
  const change = changesAtS.find((t) => t >= stepS);
  const inWindow = part(stepS, endS);
  const after = part(endS, rows.length);
  return {
    baselineMissRatio: part(Math.min(2, stepS), stepS).ratio,
    changeAfterS: change === undefined ? null : change - stepS,
    readyAfterS: ready === undefined ? null : endS - stepS,
    missesIn: inWindow.misses,
    missRatioIn: inWindow.ratio,
    missesAfter: after.misses,
    missRatioAfter: after.ratio,
  };
}

const kUsage = `usage: node dist/bench/pipeline_tuner.js [--rate 100] [--step 2] [--before-s 20] [--after-s 40]
    [--slo-ms 200] [--threshold 0.5] [--seed 1] [--replicas-max 6] [--modes reactive,static]
    [--profile FILE | measure] [--hop-us 1000] [--out /tmp/pipeline_tuner.json]
Plans the pipeline for a rate, then steps the load up, with the reactive tuner and without (see the header of bench/pipeline_tuner.ts).
`;

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serveCostCluster(JSON.parse(process.argv[3]!) as CostClusterSpec);
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      rate: { type: 'string', default: '100' },
      step: { type: 'string', default: '2' },
      'before-s': { type: 'string', default: '20' },
      'after-s': { type: 'string', default: '40' },
      'slo-ms': { type: 'string', default: '200' },
      threshold: { type: 'string', default: '0.5' },
      seed: { type: 'string', default: '1' },
      'replicas-max': { type: 'string', default: '6' },
      modes: { type: 'string', default: 'reactive,static' },
      profile: { type: 'string' },
      'hop-us': { type: 'string', default: '1000' },
      out: { type: 'string', default: path.join(os.tmpdir(), 'pipeline_tuner.json') },
    },
  });
  if (values.help === true) {
    process.stdout.write(kUsage);
    return;
  }
  const rate = Number(values.rate);
  const sloMs = Number(values['slo-ms']);
  const beforeMs = Number(values['before-s']) * 1000;
  const afterMs = Number(values['after-s']) * 1000;
  const seed = Number(values.seed);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pipeline-tuner-'));
  const samplesFile = path.join(tmp, 'samples.json');
  writeFileSync(samplesFile, JSON.stringify(pipelineInputs(256, seed + 1000)));
  const measure = values.profile === 'measure';
  const profileFile = values.profile !== undefined && !measure ? values.profile : path.join(tmp, 'profile.json');
  if (values.profile === undefined) {
    const hopUs = new Map(kPipelineModels.map(([name]) => [name, Number(values['hop-us'])]));
    writeFileSync(profileFile, JSON.stringify(knownCostProfile(1, Number(values.threshold), hopUs)));
  }
  let haveProfile = !measure;
  // Two seeded Poisson streams: R throughout, and (step - 1) × R from the step on.
  const arrivals = [
    ...arrivalTimesMs({ kind: 'poisson', rate_qps: rate }, beforeMs + afterMs, seed),
    ...arrivalTimesMs({ kind: 'poisson', rate_qps: (Number(values.step) - 1) * rate }, afterMs, seed + 1).map((t) => t + beforeMs),
  ].sort((a, b) => a - b);
  const inputs = pipelineInputs(arrivals.length, seed);
  const runs: Record<string, unknown> = {};
  try {
    for (const mode of values.modes!.split(',')) {
      const server = await startServer({ sloMs, threshold: Number(values.threshold), tuneIntervalMs: mode === 'reactive' ? 1000 : 0 });
      try {
        const args = [
          'plan',
          kApp,
          '--admin-url',
          `http://127.0.0.1:${server.adminPort}`,
          '--rate',
          String(rate),
          '--slo-micros',
          String(sloMs * 1000),
          '--seed',
          String(seed),
          '--replicas-max',
          values['replicas-max']!,
          '--apply',
          '--json',
          ...(haveProfile ? ['--profile', profileFile] : ['--samples', samplesFile, '--save-profile', profileFile]),
        ];
        const cli = await runClipper(args);
        if (cli.code !== 0) throw new Error(`clipper ${args.join(' ')} exited ${cli.code}: ${cli.stderr}`);
        haveProfile = true;
        const plan = await storedPlan(server.adminPort, kApp);
        if (plan === null) throw new Error('clipper plan --apply stored no plan');
        await waitForReplicas(server.queryPort, planSettings(plan), 60_000);
        const models = plan.models.map((m) => m.model);
        process.stderr.write(
          `${mode}: planned ${plan.models.map((m) => `${m.model} b=${m.batch_size} r=${m.replicas}`).join(', ')}; envelope ${plan.envelope_qps.map((q) => q.toFixed(1)).join('–')} qps\n`,
        );
        const t0 = performance.now() + 20;
        const sampler = sampleReplicas(server, models, t0);
        const records = await drive(server.queryPort, arrivals, inputs);
        sampler.stop();
        const seconds = Math.ceil((beforeMs + afterMs) / 1000);
        const rows = timeline(records, sampler.samples, seconds, sloMs);
        const changes = server.tunerLines.map((l) => ({ atS: (l.atMs - t0) / 1000, line: l.line }));
        const planned = Object.fromEntries(plan.models.map((m) => [m.model, m.replicas]));
        const transition = transitionOf(
          rows,
          beforeMs / 1000,
          planned,
          changes.map((c) => c.atS),
        );
        const reasons = topReasons(records);
        runs[mode] = {
          plan: { models: plan.models, envelope_qps: plan.envelope_qps, predicted: plan.predicted },
          transition,
          changes,
          reasons,
          rows,
        };
        process.stdout.write(
          `\n## ${mode}\n${table(rows, models)}\ntransition: ${JSON.stringify(transition)}\n` +
            `${changes.map((c) => `  ${c.atS.toFixed(1)} s ${c.line}`).join('\n')}\nreasons: ${JSON.stringify(reasons)}\n`,
        );
      } finally {
        await server.stop();
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const result = { command: process.argv.slice(2).join(' '), cpus: os.cpus().length, loadAverage: os.loadavg(), runs };
  mkdirSync(path.dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, JSON.stringify(result, null, 2));
  process.stderr.write(`wrote ${values.out}\n`);
}

/** The most frequent explanations of answers that were not the pipeline's own (digits folded, so alike ones group). */
function topReasons(records: readonly QueryRecord[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const r of records) {
    if (r.outcome === 'pipeline') continue;
    const key = `${r.outcome}: ${r.why.replace(/[0-9.]+/g, '#')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 6);
}

function table(rows: readonly Second[], models: readonly string[]): string {
  const out = [
    `| s | arrivals | ${models.map((m) => `${m} wanted/connected`).join(' | ')} | p99 ms | SLO misses (late/default/fallback/error) |`,
    `|---|---|${models.map(() => '---|').join('')}---|---|`,
  ];
  for (const r of rows) {
    out.push(
      `| ${r.s} | ${r.arrivals} | ${models.map((m) => `${r.wanted[m] ?? '–'}/${r.connected[m] ?? 0}`).join(' | ')} | ${r.p99Ms.toFixed(1)} | ${r.misses} (${r.late}/${r.defaults}/${r.fallbacks}/${r.errors}) |`,
    );
  }
  return out.join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
