// Runs one sweep: for each level (a concurrency in the closed loop, a rate in the open loop) it
// opens fresh connections, warms up, measures a fixed window, drains, and summarises the window.

import { performance } from 'node:perf_hooks';
import type { LatencySummaryUs } from './histogram.js';
import type { InputSource } from './inputs.js';
import { metricsDelta, scrapeMetrics, type MetricsObservation } from './metrics_scrape.js';
import { OpenLoopSchedule } from './open_loop.js';
import { LevelRecorder } from './recorder.js';
import { summarizeFailures } from './summary.js';
import type { LoadConnection, ResultSink, Transport } from './transport.js';

export type LoadMode = 'closed' | 'open';

export interface SweepOptions {
  label: string;
  transport: Transport;
  inputs: InputSource;
  mode: LoadMode;
  /** Concurrencies (closed) or rates in requests/s (open). */
  levels: number[];
  /** Open loop: connections to spread requests over. */
  connections: number;
  /** Open loop: allow more than one request in flight per connection (HTTP/1.1 pipelining; default off). */
  pipelining?: boolean;
  poisson: boolean;
  seed: number;
  durationS: number;
  warmupS: number;
  drainS: number;
  sloMs: number;
  metricsUrl: string | null;
  /** Called about once a second with a one-line status. */
  onProgress?: (line: string) => void;
}

export interface LevelResult {
  label: string;
  mode: LoadMode;
  level: number;
  /** Requested rate (open loop) or null. */
  offeredRps: number | null;
  connections: number;
  durationS: number;
  sent: number;
  /** Answers of any HTTP status. */
  responses: number;
  /** Successful answers: 2xx and not a default output. */
  okCount: number;
  /** Successful answers that arrived during the window, per second (a saturated server shows here). */
  throughputRps: number;
  /** Latency of every answer, whatever its status. */
  latencyUs: LatencySummaryUs;
  sloMs: number;
  /** Share of requests (errors included) answered successfully within the SLO. */
  withinSloShare: number;
  /** Share of 2xx responses that were default outputs. */
  defaultShare: number;
  /** Failed requests: non-2xx answers, default outputs and requests without an answer. */
  errorCount: number;
  /** errorCount over all requests answered or failed. */
  errorShare: number;
  /** Failures by kind: "HTTP 404", "default output", "ECONNREFUSED", "timeout", ... */
  errors: Record<string, number>;
  statusCounts: Record<string, number>;
  /** Generator send lateness p99 (open loop), µs. */
  sendLagP99Us: number | null;
  generatorCpuPct: number;
  generatorBottleneck: string | null;
  metrics: MetricsObservation | null;
}

const kCpuBottleneckPct = 90;
const kSendLagBottleneckUs = 10_000;

/** Records into the current level and, in the closed loop, keeps every connection busy. */
class LoadDriver implements ResultSink {
  readonly #now: () => number;
  readonly #inputs: InputSource;
  readonly #closed: boolean;
  recorder: LevelRecorder;
  stopAtMs = Infinity;
  totalResponses = 0;
  /** Non-2xx answers, default outputs and requests without an answer, for the progress line. */
  totalErrors = 0;

  /**
   * Open loop without pipelining: intended send times of requests that found every connection busy.
   * They leave as connections free up; their latency still counts from the intended time.
   */
  readonly backlog: number[] = [];
  #backlogHead = 0;

  constructor(now: () => number, inputs: InputSource, closed: boolean, recorder: LevelRecorder) {
    this.#now = now;
    this.#inputs = inputs;
    this.#closed = closed;
    this.recorder = recorder;
  }

  /** Send one request; in the open loop also record how late it left versus its intended time. */
  send(conn: LoadConnection, intendedMs: number): void {
    if (this.#closed) this.recorder.onSent(intendedMs);
    else this.recorder.onSent(intendedMs, this.#now());
    conn.send(this.#inputs.next(), intendedMs);
  }

  /** Open loop, every connection busy: the request waits here (recorded as dispatched on time). */
  hold(intendedMs: number): void {
    this.recorder.onSent(intendedMs, this.#now());
    this.backlog.push(intendedMs);
  }

  clearBacklog(): void {
    this.backlog.length = 0;
    this.#backlogHead = 0;
  }

  #next(conn: LoadConnection, now: number): void {
    if (this.#closed) {
      if (now < this.stopAtMs) this.send(conn, now);
      return;
    }
    if (this.#backlogHead < this.backlog.length) {
      const intendedMs = this.backlog[this.#backlogHead++]!;
      if (this.#backlogHead === this.backlog.length) this.clearBacklog();
      conn.send(this.#inputs.next(), intendedMs);
    }
  }

  onResponse(conn: LoadConnection, intendedMs: number, status: number, isDefault: boolean): void {
    this.totalResponses++;
    if (status < 200 || status >= 300 || isDefault) this.totalErrors++;
    const now = this.#now();
    this.recorder.onResponse(intendedMs, now, status, isDefault);
    this.#next(conn, now);
  }

  onError(conn: LoadConnection, intendedMs: number, kind: string): void {
    this.totalErrors++;
    this.recorder.onError(intendedMs, kind);
    // back off a little so a refused connection does not spin the closed loop
    if (this.#closed) setTimeout(() => this.#next(conn, this.#now()), 10);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Pick the connection with the fewest requests in flight (round-robin among ties). */
function leastLoaded(conns: LoadConnection[], start: number): LoadConnection {
  let best = conns[start % conns.length]!;
  for (let i = 1; i < conns.length && best.inflight > 0; i++) {
    const c = conns[(start + i) % conns.length]!;
    if (c.inflight < best.inflight) best = c;
  }
  return best;
}

/** The clock and the three phase boundaries of one level. */
interface LevelWindow {
  now: () => number;
  t0: number;
  windowStartMs: number;
  windowEndMs: number;
}

/** The generator's CPU during the measured window, and the server's metrics text at both ends of it. */
interface WindowObservation {
  generatorCpuPct: number;
  metricsBefore: Promise<string | null>;
  metricsAfter: Promise<string | null>;
}

export async function runLevel(o: SweepOptions, level: number): Promise<LevelResult> {
  const now = (): number => performance.now();
  const closed = o.mode === 'closed';
  const connCount = closed ? level : o.connections;
  const placeholder = new LevelRecorder(Infinity, Infinity, o.sloMs);
  const driver = new LoadDriver(now, o.inputs, closed, placeholder);
  const conns = await o.transport.connect(connCount, driver);

  const t0 = now();
  const windowStartMs = t0 + o.warmupS * 1000;
  const w: LevelWindow = { now, t0, windowStartMs, windowEndMs: windowStartMs + o.durationS * 1000 };
  const rec = new LevelRecorder(w.windowStartMs, w.windowEndMs, o.sloMs);
  driver.recorder = rec;
  driver.stopAtMs = w.windowEndMs;

  const progress = startProgress(o, level, w, driver, conns);
  const scheduleDone = startLoad(o, level, w, driver, conns);
  const seen = await observeWindow(o, w, scheduleDone);

  const drainEndMs = now() + o.drainS * 1000;
  while (rec.outstanding > 0 && now() < drainEndMs) await sleep(10);
  rec.failOutstanding('timeout');
  driver.clearBacklog();
  if (progress !== null) clearInterval(progress);
  for (const c of conns) c.close();
  return levelResult(o, level, connCount, rec, seen);
}

/** A status line about once a second, when the caller asked for one. */
function startProgress(o: SweepOptions, level: number, w: LevelWindow, driver: LoadDriver, conns: LoadConnection[]): NodeJS.Timeout | null {
  const onProgress = o.onProgress;
  if (onProgress === undefined) return null;
  let lastResponses = 0;
  return setInterval(() => {
    const t = w.now();
    const phase = t < w.windowStartMs ? 'warmup' : t < w.windowEndMs ? 'measure' : 'drain';
    const rps = driver.totalResponses - lastResponses;
    lastResponses = driver.totalResponses;
    const inflight = conns.reduce((s, c) => s + c.inflight, 0);
    onProgress(
      `[${o.label}] ${levelText(o.mode, level)} ${phase} ${((t - w.t0) / 1000).toFixed(0)} s: ` +
        `${rps} answers/s, ${inflight} requests in flight, ${driver.totalErrors} errors so far`,
    );
  }, 1000);
}

/** Starts sending: every connection at once (closed loop) or on the rate's schedule (open loop, done when it resolves). */
function startLoad(o: SweepOptions, level: number, w: LevelWindow, driver: LoadDriver, conns: LoadConnection[]): Promise<void> {
  if (o.mode === 'closed') {
    for (const c of conns) driver.send(c, w.now());
    return Promise.resolve();
  }
  let rr = 0;
  const schedule = new OpenLoopSchedule({
    rateRps: level,
    poisson: o.poisson,
    seed: o.seed + level,
    startMs: w.t0,
    endMs: w.windowEndMs,
    now: w.now,
    dispatch: (intendedMs) => {
      const conn = leastLoaded(conns, rr++);
      // HTTP/1.1 pipelining is off by default: servers such as uWebSockets.js close a connection
      // that pipelines behind a pending response, so a request waits for a free connection.
      if (o.pipelining !== true && conn.inflight > 0) driver.hold(intendedMs);
      else driver.send(conn, intendedMs);
    },
  });
  return schedule.run();
}

/** Waits out the warmup and the window, measuring the generator's CPU and scraping the server's metrics at both ends. */
async function observeWindow(o: SweepOptions, w: LevelWindow, scheduleDone: Promise<void>): Promise<WindowObservation> {
  const scrape = (): Promise<string | null> => (o.metricsUrl === null ? Promise.resolve(null) : scrapeMetrics(o.metricsUrl));
  await sleep(w.windowStartMs - w.now());
  const cpu0 = process.cpuUsage();
  const wall0 = w.now();
  const metricsBefore = scrape();
  await sleep(w.windowEndMs - w.now());
  await scheduleDone;
  const cpu1 = process.cpuUsage(cpu0);
  const wall1 = w.now();
  const metricsAfter = scrape();
  return { generatorCpuPct: ((cpu1.user + cpu1.system) / 1000 / (wall1 - wall0)) * 100, metricsBefore, metricsAfter };
}

/** Why this level's numbers may describe the generator rather than the server, or null. */
function bottleneck(level: number, generatorCpuPct: number, sendLagP99Us: number | null): string | null {
  const reasons: string[] = [];
  if (generatorCpuPct >= kCpuBottleneckPct) reasons.push(`generator CPU ${generatorCpuPct.toFixed(0)}% of a core`);
  if (sendLagP99Us !== null && sendLagP99Us > kSendLagBottleneckUs) {
    reasons.push(`could not send at ${level} req/s (send lag p99 ${(sendLagP99Us / 1000).toFixed(1)} ms)`);
  }
  return reasons.length === 0 ? null : reasons.join('; ');
}

async function levelResult(
  o: SweepOptions,
  level: number,
  connCount: number,
  rec: LevelRecorder,
  seen: WindowObservation,
): Promise<LevelResult> {
  const closed = o.mode === 'closed';
  const sendLagP99Us = closed ? null : rec.sendLagUs.percentile(99);
  const failures = summarizeFailures({
    responses: rec.responses,
    defaults: rec.defaults,
    statusCounts: rec.statusCounts,
    transportErrors: rec.transportErrors,
  });
  const [before, after] = await Promise.all([seen.metricsBefore, seen.metricsAfter]);
  return {
    label: o.label,
    mode: o.mode,
    level,
    offeredRps: closed ? null : level,
    connections: connCount,
    durationS: o.durationS,
    sent: rec.sent,
    responses: rec.responses,
    okCount: failures.okCount,
    throughputRps: rec.successCompletedInWindow / o.durationS,
    latencyUs: rec.latencyUs.summary(),
    sloMs: o.sloMs,
    withinSloShare: failures.requestCount === 0 ? 0 : rec.withinSlo / failures.requestCount,
    defaultShare: rec.okResponses === 0 ? 0 : rec.defaults / rec.okResponses,
    errorCount: failures.errorCount,
    errorShare: failures.errorShare,
    errors: failures.errors,
    statusCounts: Object.fromEntries([...rec.statusCounts].map(([k, v]) => [String(k), v])),
    sendLagP99Us,
    generatorCpuPct: seen.generatorCpuPct,
    generatorBottleneck: bottleneck(level, seen.generatorCpuPct, sendLagP99Us),
    metrics: metricsDelta(before, after),
  };
}

/** A level as printed: "64 concurrent" (closed loop) or "5000 req/s" (open loop). */
export function levelText(mode: LoadMode, level: number): string {
  return mode === 'closed' ? `${level} concurrent` : `${level} req/s`;
}

/**
 * Runs the levels in order. A level with requests but no successful answer ends the sweep: higher
 * load will not fix a wrong app name or a server that refuses connections.
 */
export async function runSweep(o: SweepOptions): Promise<LevelResult[]> {
  const out: LevelResult[] = [];
  for (const level of o.levels) {
    const r = await runLevel(o, level);
    out.push(r);
    if (r.okCount === 0 && r.errorCount > 0) break;
  }
  return out;
}
