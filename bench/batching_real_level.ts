// One open-loop load level against one app of a running cluster, for bench/batching_real.ts. Reuses the
// load generator's raw HTTP client and arrival schedule (tools/loadgen), but records what the batching
// benchmark needs and the generic recorder does not: goodput (2xx answers that are NOT the default output
// and arrive within the SLO), and the latency of default (shed / deadline) answers separately. Latency is
// measured from the intended send time (no coordinated omission). Also reads the model's batch sizes from
// the server's /metrics (clipper_model_batch_size, per model label) before and after the window.
//
// Never pipelines: uWebSockets.js closes a connection on which a request arrives while an earlier one still
// awaits its (asynchronous) answer, so each connection carries at most one request. A request due while
// every connection is busy waits in the generator for the next free one, and its latency still counts from
// its intended time.
//
// Stall rescue: the scheduler can stall for good when one batch was slow (its latency model then predicts
// that not even a batch of one meets the 20 ms SLO, every query expires unsent, and no new batch corrects
// the model). When the generator sees only default answers for kStallMs while it keeps sending, it sends one
// extra query with slo_micros 200 ms (not counted), which the scheduler can serve and so re-measure. Each
// level reports how many such rescues it needed (`stallRescues`); a level with rescues shows the stall.
// Connections stay open across levels (a ConnectionPool per app) so that hundreds of
// connections per level do not exhaust ephemeral ports with TIME_WAIT sockets.

import { performance } from 'node:perf_hooks';
import { Histogram, type LatencySummaryUs } from '../tools/loadgen/histogram.js';
import { HttpTransport } from '../tools/loadgen/http_client.js';
import type { InputSource } from '../tools/loadgen/inputs.js';
import { OpenLoopSchedule } from '../tools/loadgen/open_loop.js';
import { scrapeMetrics } from '../tools/loadgen/metrics_scrape.js';
import type { LoadConnection, ResultSink } from '../tools/loadgen/transport.js';

export interface LevelSpec {
  /** Model name whose /metrics series to read (batch sizes, shed counts). */
  model: string;
  rateRps: number;
  warmupS: number;
  durationS: number;
  sloMs: number;
  seed: number;
  inputs: InputSource;
}

export interface ModelWindowStats {
  batchCount: number;
  batchSizeMean: number;
  batchLatencyMsMean: number;
  /** AIMD (or fixed) maximum batch size at the end of the window. */
  batchSizeMaxEnd: number;
  /** Queries rejected at enqueue (shed) and expired in the queue during the window. */
  shedCount: number;
  expiredCount: number;
}

export interface LevelOutcome {
  app: string;
  rateRps: number;
  sent: number;
  /** Answers that are not the default and arrived within the SLO, per second of window. */
  goodputRps: number;
  /** goodput / sent: the share of offered queries answered by the model within the SLO. */
  goodShare: number;
  /** Share of 2xx answers that were the default output. */
  defaultShare: number;
  /** Latency of every answer (2xx), of model answers, and of default answers. */
  latencyUs: LatencySummaryUs;
  modelLatencyUs: LatencySummaryUs;
  defaultLatencyUs: LatencySummaryUs;
  non2xx: number;
  /** Latency of 429 answers (shed queries of an app with overload_response status_429); count = how many. */
  shed429LatencyUs: LatencySummaryUs;
  /** The same from the actual send rather than the intended time (excludes the generator's lateness). */
  shed429FromSendUs: LatencySummaryUs;
  /** Requests that failed without an answer, including those unanswered after the drain. */
  errors: number;
  errorKinds: Record<string, number>;
  /** Generator timer lateness p99 (the schedule's tick, before any wait for a free connection). */
  sendLagP99Us: number;
  /** Most requests waiting in the generator for a free connection. */
  clientBacklogMax: number;
  /** Extra long-SLO queries sent because the model had answered nothing but defaults for kStallMs. */
  stallRescues: number;
  generatorCpuPct: number;
  /** Filled in by the caller: % of one core used by the cluster process and by its model processes over the level. */
  clusterCpuPct?: number;
  modelProcessesCpuPct?: number;
  model: ModelWindowStats | null;
}

/** What one level records. */
class LevelRecord {
  readonly all = new Histogram();
  readonly good = new Histogram();
  readonly defaults = new Histogram();
  /** 429 answers (apps with overload_response status_429): the shed queries, from the intended time. */
  readonly shed429 = new Histogram();
  /** The same from the actual send (without the generator's own lateness): the server's answer time. */
  readonly shed429FromSend = new Histogram();
  readonly sendLagUs = new Histogram();
  readonly errorKinds = new Map<string, number>();
  sent = 0;
  answered = 0;
  inSloGood = 0;
  defaultCount = 0;
  non2xx = 0;
  errors = 0;

  constructor(
    readonly startMs: number,
    readonly endMs: number,
    readonly sloMs: number,
  ) {}

  inWindow(intendedMs: number): boolean {
    return intendedMs >= this.startMs && intendedMs < this.endMs;
  }
}

export class ConnectionPool implements ResultSink {
  readonly app: string;
  readonly port: number;
  readonly #idle: LoadConnection[] = [];
  /** When each busy connection sent its request (one request per connection at a time). */
  readonly #sentAtMs = new Map<LoadConnection, number>();
  #conns: LoadConnection[] = [];
  #backlogMs: number[] = [];
  #backlogHead = 0;
  backlogMax = 0;
  /** Requests sent and not yet finished (answered or failed), all levels. */
  outstanding = 0;
  record: LevelRecord | null = null;
  inputs: InputSource | null = null;
  /** Last time a model (non-default) answer arrived, and a request was sent. */
  lastGoodMs = performance.now();
  lastSendMs = 0;
  rescues = 0;
  #rescueTimer: NodeJS.Timeout | null = null;
  #rescueInFlight = false;

  private constructor(port: number, app: string) {
    this.port = port;
    this.app = app;
  }

  static async open(port: number, app: string, connections: number): Promise<ConnectionPool> {
    const pool = new ConnectionPool(port, app);
    const transport = new HttpTransport({ host: '127.0.0.1', port, path: `/${app}/predict`, shape: 'clipper' });
    pool.#conns = await transport.connect(connections, pool);
    pool.#idle.push(...pool.#conns);
    pool.#rescueTimer = setInterval(() => pool.#maybeRescue(), 50);
    return pool;
  }

  #maybeRescue(): void {
    const now = performance.now();
    if (this.#rescueInFlight || now - this.lastSendMs > kStallMs || now - this.lastGoodMs < kStallMs) return;
    this.#rescueInFlight = true;
    this.rescues++;
    fetch(`http://127.0.0.1:${this.port}/${this.app}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: [this.rescues, 0.5, 0.25, 0.125, 1, 2, 3, 4], slo_micros: 200_000 }),
      signal: AbortSignal.timeout(1000),
    })
      .then((res) => res.text())
      .catch(() => '')
      .finally(() => {
        this.#rescueInFlight = false;
      });
  }

  get backlog(): number {
    return this.#backlogMs.length - this.#backlogHead;
  }

  /** Send on an idle connection, or wait in the generator until one is free. */
  dispatch(intendedMs: number): void {
    const conn = this.#idle.pop();
    if (conn !== undefined) {
      this.#send(conn, intendedMs);
      return;
    }
    this.#backlogMs.push(intendedMs);
    this.backlogMax = Math.max(this.backlogMax, this.backlog);
  }

  #send(conn: LoadConnection, intendedMs: number): void {
    this.outstanding++;
    this.lastSendMs = performance.now();
    this.#sentAtMs.set(conn, this.lastSendMs);
    conn.send(this.inputs!.next(), intendedMs);
  }

  #release(conn: LoadConnection): void {
    this.outstanding--;
    if (this.backlog === 0) {
      this.#idle.push(conn);
      return;
    }
    const intendedMs = this.#backlogMs[this.#backlogHead++]!;
    if (this.#backlogHead > 4096 && this.#backlogHead * 2 > this.#backlogMs.length) {
      this.#backlogMs = this.#backlogMs.slice(this.#backlogHead);
      this.#backlogHead = 0;
    }
    this.#send(conn, intendedMs);
  }

  onResponse(conn: LoadConnection, intendedMs: number, status: number, isDefault: boolean): void {
    const nowMs = performance.now();
    const latencyUs = (nowMs - intendedMs) * 1000;
    const fromSendUs = (nowMs - (this.#sentAtMs.get(conn) ?? intendedMs)) * 1000;
    if (!isDefault && status === 200) this.lastGoodMs = performance.now();
    this.#release(conn);
    const r = this.record;
    if (r === null || !r.inWindow(intendedMs)) return;
    if (status < 200 || status >= 300) {
      r.non2xx++;
      if (status === 429) {
        r.shed429.record(latencyUs);
        r.shed429FromSend.record(fromSendUs);
      }
      return;
    }
    r.answered++;
    r.all.record(latencyUs);
    if (isDefault) {
      r.defaultCount++;
      r.defaults.record(latencyUs);
    } else {
      r.good.record(latencyUs);
      if (latencyUs <= r.sloMs * 1000) r.inSloGood++;
    }
  }

  onError(conn: LoadConnection, intendedMs: number, kind: string): void {
    this.#release(conn);
    const r = this.record;
    if (r === null || !r.inWindow(intendedMs)) return;
    r.errors++;
    r.errorKinds.set(kind, (r.errorKinds.get(kind) ?? 0) + 1);
  }

  close(): void {
    if (this.#rescueTimer !== null) clearInterval(this.#rescueTimer);
    for (const c of this.#conns) c.close();
  }
}

const kStallMs = 250;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Sum of the samples of `metric` whose label set contains model="<model>". */
function sampleSum(text: string, metric: string, model: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) || !line.includes(`model="${model}"`)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

export function modelWindow(before: string | null, after: string | null, model: string): ModelWindowStats | null {
  if (before === null || after === null) return null;
  const d = (metric: string): number => sampleSum(after, metric, model) - sampleSum(before, metric, model);
  const batchCount = d('clipper_model_batch_size_count');
  return {
    batchCount,
    batchSizeMean: batchCount > 0 ? d('clipper_model_batch_size_sum') / batchCount : 0,
    batchLatencyMsMean: batchCount > 0 ? (d('clipper_model_batch_latency_seconds_sum') / batchCount) * 1000 : 0,
    batchSizeMaxEnd: sampleSum(after, 'clipper_replica_batch_size_max', model),
    shedCount: d('clipper_model_shed_total'),
    expiredCount: d('clipper_model_expired_total'),
  };
}

export async function runOpenLevel(pool: ConnectionPool, s: LevelSpec): Promise<LevelOutcome> {
  const t0 = performance.now() + 20;
  const startMs = t0 + s.warmupS * 1000;
  const endMs = startMs + s.durationS * 1000;
  const rec = new LevelRecord(startMs, endMs, s.sloMs);
  pool.record = rec;
  pool.inputs = s.inputs;
  pool.backlogMax = 0;
  const rescues0 = pool.rescues;
  const metricsUrl = `http://127.0.0.1:${pool.port}/metrics`;
  const schedule = new OpenLoopSchedule({
    rateRps: s.rateRps,
    poisson: true,
    seed: s.seed,
    startMs: t0,
    endMs,
    now: () => performance.now(),
    dispatch: (intendedMs) => {
      if (rec.inWindow(intendedMs)) {
        rec.sent++;
        rec.sendLagUs.record(Math.max(0, performance.now() - intendedMs) * 1000);
      }
      pool.dispatch(intendedMs);
    },
  });
  const scheduleDone = schedule.run();
  await sleep(startMs - performance.now());
  const before = await scrapeMetrics(metricsUrl);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  await sleep(endMs - performance.now());
  await scheduleDone;
  const cpu1 = process.cpuUsage(cpu0);
  const wall1 = performance.now();
  const after = await scrapeMetrics(metricsUrl);
  const drainEndMs = performance.now() + 3000;
  while ((pool.outstanding > 0 || pool.backlog > 0) && performance.now() < drainEndMs) await sleep(5);
  const unanswered = rec.sent - rec.answered - rec.non2xx - rec.errors;
  if (unanswered > 0) rec.errorKinds.set('unanswered', unanswered);
  pool.record = null;
  return {
    app: pool.app,
    rateRps: s.rateRps,
    sent: rec.sent,
    goodputRps: rec.inSloGood / s.durationS,
    goodShare: rec.sent === 0 ? 0 : rec.inSloGood / rec.sent,
    defaultShare: rec.answered === 0 ? 0 : rec.defaultCount / rec.answered,
    latencyUs: rec.all.summary(),
    modelLatencyUs: rec.good.summary(),
    defaultLatencyUs: rec.defaults.summary(),
    non2xx: rec.non2xx,
    shed429LatencyUs: rec.shed429.summary(),
    shed429FromSendUs: rec.shed429FromSend.summary(),
    errors: rec.errors + Math.max(0, unanswered),
    errorKinds: Object.fromEntries(rec.errorKinds),
    sendLagP99Us: rec.sendLagUs.percentile(99),
    clientBacklogMax: pool.backlogMax,
    stallRescues: pool.rescues - rescues0,
    generatorCpuPct: ((cpu1.user + cpu1.system) / 1000 / (wall1 - wall0)) * 100,
    model: modelWindow(before, after, s.model),
  };
}
