// The load side of the reliability harness (bench/reliability/harness.ts re-exports it): an open-loop
// Poisson driver over keep-alive HTTP (undici Pool) that records every query, including the ones never
// answered, and a short capacity search built on it.
//
// Arrivals come from tools/loadgen/open_loop.ts (OpenLoopSchedule, seeded): a late tick sends a burst
// of requests that are already late, and their latency counts from the intended send time. A query
// with no complete response `timeoutMs` after its intended time is recorded as unanswered (a sweep
// every 50 ms, no timer per query); a response that arrives later is ignored.

import { Pool } from 'undici';
import { OpenLoopSchedule } from '../../tools/loadgen/open_loop.js';
import { summarize } from './harness_summary.js';

export interface QueryRecord {
  /** Intended send time and completion time, performance.now() ms. */
  intendedMs: number;
  doneMs: number;
  /** doneMs - intendedMs (so it includes any lateness of the generator). */
  latencyMs: number;
  /** How late the generator sent it (actual send - intendedMs): a large lag is this process's stall, not the server's. */
  sendLagMs?: number;
  /** HTTP status; 0 when no response (transport error or unanswered). */
  status: number;
  isDefault: boolean;
  /** default_explanation of a default answer, the error name/cause of a non-200, the transport error, or 'unanswered'. */
  reason: string;
  answered: boolean;
}

export interface OpenLoopOptions {
  /** Full URL of the query route, e.g. http://127.0.0.1:1337/app/predict. */
  url: string;
  rateRps: number;
  durationS: number;
  seed: number;
  /** Body of the i-th query (JSON text). */
  body: (i: number) => string;
  /** Keep-alive connections (default 256). */
  connections?: number;
  /** A query without a response this long after its intended time is unanswered (default 5000). */
  timeoutMs?: number;
  /** Called for each record as it is made. */
  onRecord?: (r: QueryRecord) => void;
}

interface Pending {
  intendedMs: number;
  sentMs: number;
  settled: boolean;
}

/** Pull the fields the harness needs out of a response body (never throws). */
function describe(status: number, text: string): { isDefault: boolean; reason: string } {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    if (status === 200) {
      const isDefault = body.default === true;
      return { isDefault, reason: isDefault ? String(body.default_explanation ?? '') : '' };
    }
    return { isDefault: false, reason: `${String(body.error ?? status)}: ${String(body.cause ?? '')}` };
  } catch {
    return { isDefault: false, reason: status === 200 ? '' : `status ${status}: ${text.slice(0, 120)}` };
  }
}

export interface PoissonDrive {
  rateRps: number;
  durationS: number;
  seed: number;
  timeoutMs: number;
  /** Send one query intended at `intendedMs` (performance.now() time). */
  dispatch: (intendedMs: number) => void;
  /** Give up every pending query intended before `limitMs` (it counts as unanswered). */
  expire: (limitMs: number) => void;
  pendingCount: () => number;
}

/**
 * The open loop every driver shares: seeded Poisson arrivals for durationS, queries unanswered after
 * timeoutMs given up every 50 ms, and it resolves once nothing is pending.
 */
export async function drivePoisson(o: PoissonDrive): Promise<void> {
  const sweep = setInterval(() => o.expire(performance.now() - o.timeoutMs), 50);
  const startMs = performance.now() + 5;
  const schedule = new OpenLoopSchedule({
    rateRps: o.rateRps,
    poisson: true,
    seed: o.seed,
    startMs,
    endMs: startMs + o.durationS * 1000,
    now: () => performance.now(),
    dispatch: o.dispatch,
  });
  try {
    await schedule.run();
    while (o.pendingCount() > 0) await new Promise((r) => setTimeout(r, 20));
  } finally {
    clearInterval(sweep);
  }
}

/** Drive Poisson open-loop load; resolves once every query is answered or timed out. */
export async function openLoop(o: OpenLoopOptions): Promise<QueryRecord[]> {
  const url = new URL(o.url);
  const timeoutMs = o.timeoutMs ?? 5000;
  const pool = new Pool(url.origin, {
    connections: o.connections ?? 256,
    pipelining: 1,
    headersTimeout: timeoutMs + 1000,
    bodyTimeout: timeoutMs + 1000,
  });
  const records: QueryRecord[] = [];
  const pending = new Set<Pending>();
  const settle = (p: Pending, status: number, isDefault: boolean, reason: string, answered: boolean): void => {
    if (p.settled) return;
    p.settled = true;
    pending.delete(p);
    const doneMs = performance.now();
    const { intendedMs, sentMs } = p;
    const r: QueryRecord = {
      intendedMs,
      doneMs,
      latencyMs: doneMs - intendedMs,
      sendLagMs: sentMs - intendedMs,
      status,
      isDefault,
      reason,
      answered,
    };
    records.push(r);
    o.onRecord?.(r);
  };
  let i = 0;
  const dispatch = (intendedMs: number): void => {
    const p: Pending = { intendedMs, sentMs: performance.now(), settled: false };
    pending.add(p);
    const body = o.body(i++);
    pool.request({ path: url.pathname, method: 'POST', body, headers: { 'content-type': 'application/json' } }).then(
      async (res) => {
        const text = await res.body.text();
        const d = describe(res.statusCode, text);
        settle(p, res.statusCode, d.isDefault, d.reason, true);
      },
      (err: NodeJS.ErrnoException) => settle(p, 0, false, `transport: ${err.code ?? err.message}`, true),
    );
  };
  await drivePoisson({
    ...o,
    timeoutMs,
    dispatch,
    pendingCount: () => pending.size,
    expire: (limitMs) => {
      for (const p of pending) if (p.intendedMs < limitMs) settle(p, 0, false, 'unanswered', false);
    },
  });
  await pool.destroy();
  return records.sort((a, b) => a.intendedMs - b.intendedMs);
}

export interface CapacityOptions {
  url: string;
  sloMs: number;
  body: (i: number) => string;
  /** First rate tried (default 500/s); doubled until a level fails, then bisected. */
  startRps?: number;
  /** Never try above this rate (default 40,000/s). */
  maxRps?: number;
  /** Length of each level (default 2 s). */
  levelS?: number;
  /** Bisection steps after the first failure (default 4). */
  steps?: number;
  /** Most defaults a passing level may have, as a share of its queries (default 0.005). */
  defaultShareMax?: number;
  seed?: number;
  connections?: number;
}

export interface CapacityLevel {
  rateRps: number;
  bySloShare: number;
  defaults: number;
  passed: boolean;
}

export interface CapacityResult {
  /** The highest rate that passed (0 when even the first failed). */
  capacityRps: number;
  levels: CapacityLevel[];
}

/**
 * A level passes with >= 99% of its queries answered (200, no default) by the SLO and at most
 * `defaultShareMax` of them defaults. A failing level is run once more (a stall of a shared machine
 * should not decide the capacity); it passes if either run does.
 */
async function tryLevel(o: CapacityOptions, rateRps: number, seed: number): Promise<CapacityLevel> {
  const first = await runLevel(o, rateRps, seed);
  return first.passed ? first : runLevel(o, rateRps, seed + 1000);
}

async function runLevel(o: CapacityOptions, rateRps: number, seed: number): Promise<CapacityLevel> {
  const records = await openLoop({
    url: o.url,
    rateRps,
    durationS: o.levelS ?? 2,
    seed,
    body: o.body,
    timeoutMs: Math.max(1000, o.sloMs * 20),
    ...(o.connections === undefined ? {} : { connections: o.connections }),
  });
  const s = summarize(records, o.sloMs);
  const defaultsOk = s.defaults <= (o.defaultShareMax ?? 0.005) * s.sent;
  return { rateRps, bySloShare: s.bySloShare, defaults: s.defaults, passed: s.bySloShare >= 0.99 && defaultsOk };
}

/** Short search for the highest Poisson rate with >= 99% answered by the SLO and (almost) no defaults (tryLevel). */
export async function measureCapacity(o: CapacityOptions): Promise<CapacityResult> {
  const levels: CapacityLevel[] = [];
  const maxRps = o.maxRps ?? 40_000;
  let seed = o.seed ?? 1;
  let good = 0;
  let bad = Number.POSITIVE_INFINITY;
  for (let rate = Math.min(o.startRps ?? 500, maxRps); ; rate = Math.min(rate * 2, maxRps)) {
    const level = await tryLevel(o, rate, seed++);
    levels.push(level);
    if (!level.passed) {
      bad = rate;
      break;
    }
    good = rate;
    if (rate >= maxRps) break;
  }
  for (let step = 0; step < (o.steps ?? 4) && Number.isFinite(bad); step++) {
    const rate = Math.round((good + bad) / 2);
    if (rate <= good || rate >= bad) break;
    const level = await tryLevel(o, rate, seed++);
    levels.push(level);
    if (level.passed) good = rate;
    else bad = rate;
  }
  return { capacityRps: good, levels };
}
