// What the planner's honesty bench (bench/pipeline_plan.ts) and its integration test
// (test/integration/pipeline_plan.test.ts) share: the pipeline they deploy (featurize → cascade(fast,
// slow), models of known cost: test/fixtures/models/pipeline_cost_models.mjs), the calls they make
// to a running cluster (admin API, /metrics, `clipper plan` as a child process), and the open-loop
// driver that replays a plan's own arrivals (src/planner/workload.ts arrivalTimesMs) over loopback
// HTTP and measures what the plan predicted.
//
// Latency is measured from each query's intended send time (no coordinated omission): a driver that
// falls behind its schedule shows it in the latency. One request per connection at a time (uWS closes
// a connection that pipelines a request behind one still awaiting its answer); node:http keep-alive
// sockets, as many as are needed.

import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Histogram, type LatencySummaryUs } from '../tools/loadgen/histogram.js';
import { scrapeMetrics } from '../tools/loadgen/metrics_scrape.js';
import { createPrng } from '../src/lib/prng.js';
import { kRepoRoot } from '../src/paths.js';
import type { PipelinePlan, PipelineSpec } from '../src/pipeline_spec.js';
import type { PipelineProfileJson } from '../src/planner/profile.js';
import type { ModelRecord } from '../src/state/records.js';

export const kCostModels = path.join(kRepoRoot, 'test', 'fixtures', 'models', 'pipeline_cost_models.mjs');
export const kInputSize = 8;

/** The three models: [name, exported function, base ms, ms per input] (the fixture's costs, kept in step with its header). */
export const kPipelineModels: ReadonlyArray<[name: string, fn: string, baseMs: number, perInputMs: number]> = [
  ['pp-featurize', 'featurize', 1, 0.5],
  ['pp-fast', 'fast', 1, 1],
  ['pp-slow', 'slow', 2, 12],
];

/**
 * The profile the models have by construction (t(n) = scale × (base + perInput × n), no spread), with the
 * overheads of a measured profile (per call: `hopUs`; per query, the HTTP edge: `edgeOverheadUs`) and
 * the cascade's fall-through share = its threshold (inputs are uniform): what the planner would get
 * from a perfect profiler, to tell its simulator's error from the profiler's. The shape of `clipper plan --profile FILE` (src/planner/profile.ts profileToJson).
 */
export function knownCostProfile(
  scale: number,
  threshold: number,
  hopUs: ReadonlyMap<string, number>,
  edgeOverheadUs = 0,
): PipelineProfileJson {
  const sizes = [1, 2, 4, 8, 16, 32];
  const models = Object.fromEntries(
    kPipelineModels.map(([name, , baseMs, perInputMs]) => [
      name,
      {
        model: name,
        version: '1',
        latencyUs: sizes.map((n) => [n, Math.round(scale * (baseMs + perInputMs * n) * 1000)] as [number, number]),
        latencyStdUs: [],
        hopOverheadUs: hopUs.get(name) ?? 0,
      },
    ]),
  );
  return { models, fallthrough: { classify: [threshold] }, edgeOverheadUs };
}

export function costModelRecord(name: string, fn: string): ModelRecord {
  return {
    model_name: name,
    model_version: '1',
    input_type: 'doubles',
    labels: [],
    container_name: 'node-runner',
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    num_replicas: 1,
    cache_enabled: false, // every input is unique anyway; no hit may flatter the measurement
    container: { runtime: 'node', entry: kCostModels, function: fn, options: { isolate: 'inline' } },
  };
}

/** featurize → cascade(fast, slow): a share `threshold` of queries falls through to the slow model. */
export function costPipeline(threshold: number): PipelineSpec {
  return {
    stages: [
      { name: 'features', kind: 'model', model: 'pp-featurize', output_type: 'doubles' },
      { name: 'classify', kind: 'cascade', input: 'features', models: ['pp-fast', 'pp-slow'], threshold },
    ],
    output: 'classify',
    fallback: 'best_so_far',
  };
}

/** Seeded inputs: element 0 uniform in [0, 1) (the fast model's confidence), the rest in [-1, 1). */
export function pipelineInputs(count: number, seed: number): number[][] {
  const prng = createPrng(seed);
  return Array.from({ length: count }, () =>
    Array.from({ length: kInputSize }, (_, i) => {
      const u = prng.next();
      return Math.round((i === 0 ? u : 2 * u - 1) * 1e6) / 1e6;
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// The cluster child the benches serve the pipeline from (its own process, so the driver and the server do
// not share a thread): `node dist/bench/<bench>.js serve SPEC` runs serveCostCluster(SPEC).

export interface CostClusterSpec {
  app: string;
  sloMs: number;
  threshold: number;
  /** The pipeline tuner's interval (config pipelineTuneIntervalMs; 0: off); the cluster's default when absent. */
  tuneIntervalMs?: number;
}

/** The child: a cluster serving the three models and the pipeline app `spec.app`; prints its ports, stops on SIGTERM. */
export async function serveCostCluster(spec: CostClusterSpec): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const { startAdminServer } = await import('../src/admin/admin_server.js');
  const { defaultModelDirs } = await import('../src/model_dirs.js');
  const { deployRecord, appRecordOf } = await import('../src/admin/deploy_local.js');
  const cluster = await Cluster.start({
    config: {
      queryPort: 0,
      adminPort: 0,
      modelDirs: [...defaultModelDirs(), path.dirname(kCostModels)],
      ...(spec.tuneIntervalMs === undefined ? {} : { pipelineTuneIntervalMs: spec.tuneIntervalMs }),
    },
    startAdmin: startAdminServer,
  });
  for (const [name, fn] of kPipelineModels) await deployRecord(cluster, costModelRecord(name, fn));
  await cluster.store.putApp(
    appRecordOf(spec.app, 'doubles', [], { latency_slo_micros: spec.sloMs * 1000, pipeline: costPipeline(spec.threshold) }),
  );
  process.stdout.write(`${JSON.stringify({ queryPort: cluster.queryPort, adminPort: cluster.adminPort })}\n`);
  const stop = (): void => {
    void cluster.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export interface CostCluster {
  queryPort: number;
  adminPort: number;
  /** SIGTERM, SIGKILL after 10 s; resolves once the child has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `node dist/bench/<script> serve SPEC` (a bench whose main runs serveCostCluster for `serve`);
 * resolves with its ports. The child's stderr goes to `onStderrLine`, line by line, or to ours.
 */
export function startCostCluster(
  script: string,
  spec: CostClusterSpec,
  options: { env?: NodeJS.ProcessEnv; onStderrLine?: (line: string) => void } = {},
): Promise<CostCluster> {
  const child = spawn(process.execPath, [path.join(kRepoRoot, 'dist', 'bench', script), 'serve', JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', options.onStderrLine === undefined ? 'inherit' : 'pipe'],
    env: options.env ?? process.env,
  });
  const onStderrLine = options.onStderrLine;
  if (onStderrLine !== undefined) createInterface({ input: child.stderr! }).on('line', onStderrLine);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /"queryPort":(\d+),"adminPort":(\d+)/.exec(line);
      if (m) resolve({ queryPort: Number(m[1]), adminPort: Number(m[2]), stop });
    });
    child.once('exit', (code) => reject(new Error(`cluster child exited with ${code}`)));
  });
}

// ---------------------------------------------------------------------------------------------------------
// A running cluster: the admin API, /metrics, `clipper plan`.

/** POST /admin/{route} with a JSON body to the admin API at `admin` (a loopback port, or a base URL); the parsed answer, or its text. */
export async function adminCall(admin: number | string, route: string, body: unknown): Promise<unknown> {
  const base = typeof admin === 'number' ? `http://127.0.0.1:${admin}` : admin;
  const res = await fetch(`${base}/admin/${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`admin ${route}: HTTP ${res.status}: ${text}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The app's stored plan (admin get_application), or null when it has none. */
export async function storedPlan(adminPort: number, app: string): Promise<PipelinePlan | null> {
  const info = (await adminCall(adminPort, 'get_application', { name: app })) as { pipeline_plan?: PipelinePlan } | null;
  return info?.pipeline_plan ?? null;
}

export interface ModelSetting {
  model: string;
  version: string;
  batch_size: number;
  replicas: number;
}

/** Set each model's batch size and replica count through the admin API (what `clipper plan --apply` does). */
export async function applySettings(adminPort: number, settings: readonly ModelSetting[]): Promise<void> {
  for (const s of settings) {
    await adminCall(adminPort, 'set_model_batch_size', { model_name: s.model, model_version: s.version, batch_size: s.batch_size });
    await adminCall(adminPort, 'set_num_replicas', { model_name: s.model, model_version: s.version, num_replicas: s.replicas });
  }
}

/** Connected replicas per model, from the query frontend's /metrics (clipper_replicas{connected="true"}). */
export async function connectedReplicas(queryPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${queryPort}/metrics/prometheus`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('clipper_replicas{') || !line.includes('connected="true"')) continue;
    const model = /model="([^"]*)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (model !== undefined && Number.isFinite(value)) out.set(model, (out.get(model) ?? 0) + value);
  }
  return out;
}

/** Wait until every model has exactly its setting's replicas connected (a bound, not a speed check). */
export async function waitForReplicas(queryPort: number, settings: readonly ModelSetting[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = new Map<string, number>();
  while (Date.now() < deadline) {
    seen = await connectedReplicas(queryPort);
    if (settings.every((s) => seen.get(s.model) === s.replicas)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const want = settings.map((s) => `${s.model}=${s.replicas}`).join(' ');
  throw new Error(`replicas not connected after ${timeoutMs} ms: want ${want}, have ${JSON.stringify([...seen])}`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `clipper <args>` in a child process (bin/clipper.js, the built CLI). */
export function runClipper(args: readonly string[], timeoutMs = 300_000, env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(kRepoRoot, 'bin', 'clipper.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr });
    });
  });
}

/** The settings a plan asks for. */
export function planSettings(plan: PipelinePlan): ModelSetting[] {
  return plan.models.map((m) => ({ model: m.model, version: m.version, batch_size: m.batch_size, replicas: m.replicas }));
}

/**
 * The plan's baseline (src/planner/search_steps.ts `uniform`): every model at adaptive batching and the
 * same replica count, the fewest that meet the SLO; `baseline.replicas` is their total.
 */
export function baselineSettings(plan: PipelinePlan): ModelSetting[] {
  const perModel = Math.max(1, Math.round((plan.baseline?.replicas ?? plan.models.length) / plan.models.length));
  return plan.models.map((m) => ({ model: m.model, version: m.version, batch_size: -1, replicas: perModel }));
}

// ---------------------------------------------------------------------------------------------------------
// The open-loop driver.

export interface DriveSpec {
  queryPort: number;
  app: string;
  /** Intended send times (ms from the start), ascending: arrivalTimesMs(plan.workload, durationMs, plan.seed). */
  arrivalsMs: readonly number[];
  /** Queries intended before this time are sent but not measured (the simulator's warm-up). */
  warmupMs: number;
  /** The measured window ends here (the simulated duration). */
  durationMs: number;
  sloMs: number;
  inputs: readonly number[][];
  /** Waiting for the last answers after the last send (default 5 s). */
  drainMs?: number;
  /** Models and pipeline stages whose server-side counters (/metrics) to report over the measured window. */
  models?: readonly string[];
  stages?: readonly string[];
}

/** One model over the measured window, from the server's /metrics. */
export interface ModelWindow {
  batches: number;
  meanBatch: number;
  /** Replica round trip per batch as the batching worker measures it (ms). */
  batchLatencyMsMean: number;
  /** Time a query waited in the model queue (ms). */
  queueMsMean: number;
  /** Refused at once (shed, SLO-infeasible) and dropped unsent from the queue. */
  shed: number;
  expired: number;
}

/** Sum of the samples of `metric` whose label set contains every one of `labels` (e.g. 'model="m"'). */
function sampleSum(text: string, metric: string, ...labels: string[]): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) || !labels.every((l) => line.includes(l))) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) total += v;
  }
  return total;
}

export function modelWindowOf(before: string, after: string, model: string): ModelWindow {
  const label = `model="${model}"`;
  const d = (metric: string): number => sampleSum(after, metric, label) - sampleSum(before, metric, label);
  const batches = d('clipper_model_batch_size_count');
  const queued = d('clipper_model_queue_seconds_count');
  return {
    batches,
    meanBatch: batches > 0 ? d('clipper_model_batch_size_sum') / batches : 0,
    batchLatencyMsMean: batches > 0 ? (d('clipper_model_batch_latency_seconds_sum') / batches) * 1000 : 0,
    queueMsMean: queued > 0 ? (d('clipper_model_queue_seconds_sum') / queued) * 1000 : 0,
    shed: d('clipper_model_shed_total'),
    expired: d('clipper_model_expired_total'),
  };
}

/** Mean latency (ms) and count of each stage of `app` over the window (clipper_pipeline_stage_latency_seconds). */
export function stageWindowOf(
  before: string,
  after: string,
  app: string,
  stages: readonly string[],
): Record<string, { calls: number; meanMs: number }> {
  const out: Record<string, { calls: number; meanMs: number }> = {};
  for (const stage of stages) {
    const labels = [`app="${app}"`, `stage="${stage}"`];
    const d = (metric: string): number => sampleSum(after, metric, ...labels) - sampleSum(before, metric, ...labels);
    const calls = d('clipper_pipeline_stage_latency_seconds_count');
    out[stage] = { calls, meanMs: calls > 0 ? (d('clipper_pipeline_stage_latency_seconds_sum') / calls) * 1000 : 0 };
  }
  return out;
}

export interface DriveOutcome {
  /** Queries intended in the measured window, and the window's length. */
  offered: number;
  windowS: number;
  /** 2xx answers; of them answered by the pipeline (neither the default output nor a fallback). */
  answered: number;
  pipelineAnswers: number;
  defaults: number;
  fallbacks: number;
  non2xx: number;
  errors: number;
  /** Queries without a pipeline answer within the SLO from their intended send time, and their share of offered. */
  sloMisses: number;
  sloMissRatio: number;
  /** Pipeline answers within the SLO per second of window (what the simulator calls throughput). */
  throughputQps: number;
  /** Every 2xx answer, from the intended send time; and from the actual send (the server's own time). */
  latencyUs: LatencySummaryUs;
  fromSendUs: LatencySummaryUs;
  /** Worst answer time from the actual send (µs): the server answers by its deadline, so this stays near the SLO. */
  fromSendMaxUs: number;
  /** Timer lateness of the driver (intended → actual send) p99, µs. */
  sendLagP99Us: number;
  /** Most requests in flight at once. */
  inflightMax: number;
  /** The `models` of pipeline answers: how many answers each model made (cascade fall-through, seen from outside). */
  answeredBy: Record<string, number>;
  /** Why answers were defaults or fallbacks: explanation (digits masked) → count. */
  why: Record<string, number>;
  /** Defaults and fallbacks per second of the run (by intended send time, from 0): steady, or a burst of them? */
  missesBySecond: number[];
  /** Server-side, over the window (when DriveSpec.models was given and /metrics answered). */
  models?: Record<string, ModelWindow>;
  stages?: Record<string, { calls: number; meanMs: number }>;
  errorKinds: Record<string, number>;
}

interface Tally {
  all: Histogram;
  fromSend: Histogram;
  sendLag: Histogram;
  answered: number;
  pipeline: number;
  inSlo: number;
  defaults: number;
  fallbacks: number;
  non2xx: number;
  errors: number;
  fromSendMaxUs: number;
  answeredBy: Map<string, number>;
  why: Map<string, number>;
  missesBySecond: number[];
  errorKinds: Map<string, number>;
}

function newTally(): Tally {
  return {
    all: new Histogram(),
    fromSend: new Histogram(),
    sendLag: new Histogram(),
    answered: 0,
    pipeline: 0,
    inSlo: 0,
    defaults: 0,
    fallbacks: 0,
    non2xx: 0,
    errors: 0,
    fromSendMaxUs: 0,
    answeredBy: new Map(),
    why: new Map(),
    missesBySecond: [],
    errorKinds: new Map(),
  };
}

function recordAnswer(t: Tally, status: number, body: string, latencyUs: number, fromSendUs: number, sloUs: number, second: number): void {
  if (status < 200 || status >= 300) {
    t.non2xx++;
    return;
  }
  t.answered++;
  t.all.record(latencyUs);
  t.fromSend.record(fromSendUs);
  t.fromSendMaxUs = Math.max(t.fromSendMaxUs, fromSendUs);
  let parsed: { default?: boolean; default_explanation?: string; fallback?: string; models?: string[] } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    t.errorKinds.set('bad_json', (t.errorKinds.get('bad_json') ?? 0) + 1);
  }
  const why = (text: string | undefined): void => {
    while (t.missesBySecond.length <= second) t.missesBySecond.push(0);
    t.missesBySecond[second]!++;
    const key = (text ?? '(none)').replace(/\d+(\.\d+)?/g, '#').slice(0, 160);
    t.why.set(key, (t.why.get(key) ?? 0) + 1);
  };
  if (parsed.default === true) {
    t.defaults++;
    why(`default: ${parsed.default_explanation}`);
  } else if (typeof parsed.fallback === 'string') {
    t.fallbacks++;
    why(`fallback: ${parsed.fallback}`);
  } else {
    t.pipeline++;
    if (latencyUs <= sloUs) t.inSlo++;
    for (const m of parsed.models ?? []) t.answeredBy.set(m, (t.answeredBy.get(m) ?? 0) + 1);
  }
}

/** Replays `arrivalsMs` against /{app}/predict and measures the window [warmupMs, durationMs). */
export async function driveArrivals(spec: DriveSpec): Promise<DriveOutcome> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 1024 });
  const tally = newTally();
  const sloUs = spec.sloMs * 1000;
  const inWindow = (a: number): boolean => a >= spec.warmupMs && a < spec.durationMs;
  let inflight = 0;
  let inflightMax = 0;
  let offered = 0;
  let next = 0;
  let allSent: () => void = () => {};
  let allDone: () => void = () => {};
  const sentPromise = new Promise<void>((r) => {
    allSent = r;
  });
  const donePromise = new Promise<void>((r) => {
    allDone = r;
  });
  const t0 = performance.now() + 20;
  const send = (i: number): void => {
    const a = spec.arrivalsMs[i]!;
    const intended = t0 + a;
    const sentAt = performance.now();
    const measured = inWindow(a);
    if (measured) {
      offered++;
      tally.sendLag.record((sentAt - intended) * 1000);
    }
    const body = `{"input":${JSON.stringify(spec.inputs[i % spec.inputs.length])}}`;
    inflight++;
    inflightMax = Math.max(inflightMax, inflight);
    const finish = (): void => {
      inflight--;
      if (inflight === 0 && next >= spec.arrivalsMs.length) allDone();
    };
    const req = http.request(
      {
        host: '127.0.0.1',
        port: spec.queryPort,
        path: `/${spec.app}/predict`,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const now = performance.now();
          if (measured)
            recordAnswer(
              tally,
              res.statusCode ?? 0,
              Buffer.concat(chunks).toString(),
              (now - intended) * 1000,
              (now - sentAt) * 1000,
              sloUs,
              Math.floor(a / 1000),
            );
          finish();
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (measured) {
        tally.errors++;
        const kind = err.code ?? 'error';
        tally.errorKinds.set(kind, (tally.errorKinds.get(kind) ?? 0) + 1);
      }
      finish();
    });
    req.end(body);
  };
  const tick = (): void => {
    const now = performance.now();
    while (next < spec.arrivalsMs.length && t0 + spec.arrivalsMs[next]! <= now) send(next++);
    if (next >= spec.arrivalsMs.length) {
      allSent();
      if (inflight === 0) allDone();
      return;
    }
    const waitMs = t0 + spec.arrivalsMs[next]! - performance.now();
    setTimeout(tick, waitMs >= 1 ? Math.floor(waitMs) : 0);
  };
  const metricsUrl = `http://127.0.0.1:${spec.queryPort}/metrics/prometheus`;
  // Server counters at the window's start, and after the drain (the window's queries all ended by then).
  let before: Promise<string | null> = Promise.resolve(null);
  const scrapeTimer =
    spec.models === undefined && spec.stages === undefined
      ? null
      : setTimeout(
          () => {
            before = scrapeMetrics(metricsUrl);
          },
          Math.max(0, t0 + spec.warmupMs - performance.now()),
        );
  tick();
  await sentPromise;
  const drained = await Promise.race([
    donePromise.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), spec.drainMs ?? 5000)),
  ]);
  agent.destroy();
  if (scrapeTimer !== null) clearTimeout(scrapeTimer);
  const beforeText = await before;
  const afterText = scrapeTimer === null ? null : await scrapeMetrics(metricsUrl);
  const models =
    spec.models === undefined || beforeText === null || afterText === null
      ? undefined
      : Object.fromEntries(spec.models.map((m) => [m, modelWindowOf(beforeText, afterText, m)]));
  const stages =
    spec.stages === undefined || beforeText === null || afterText === null
      ? undefined
      : stageWindowOf(beforeText, afterText, spec.app, spec.stages ?? []);
  const unanswered = offered - tally.answered - tally.non2xx - tally.errors;
  if (!drained && unanswered > 0) tally.errorKinds.set('unanswered', unanswered);
  const windowS = (spec.durationMs - spec.warmupMs) / 1000;
  const sloMisses = offered - tally.inSlo;
  return {
    offered,
    windowS,
    answered: tally.answered,
    pipelineAnswers: tally.pipeline,
    defaults: tally.defaults,
    fallbacks: tally.fallbacks,
    non2xx: tally.non2xx,
    errors: tally.errors + Math.max(0, unanswered),
    sloMisses,
    sloMissRatio: offered === 0 ? 0 : sloMisses / offered,
    throughputQps: tally.inSlo / windowS,
    latencyUs: tally.all.summary(),
    fromSendUs: tally.fromSend.summary(),
    fromSendMaxUs: tally.fromSendMaxUs,
    sendLagP99Us: tally.sendLag.percentile(99),
    inflightMax,
    answeredBy: Object.fromEntries(tally.answeredBy),
    why: Object.fromEntries(tally.why),
    missesBySecond: tally.missesBySecond,
    ...(models === undefined ? {} : { models }),
    ...(stages === undefined ? {} : { stages }),
    errorKinds: Object.fromEntries(tally.errorKinds),
  };
}
