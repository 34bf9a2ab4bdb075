// The soak's figures from its records and samples (pure functions, unit-tested in
// test/unit/soak_report.test.ts): latency per window and traffic kind, p99 drift between the first
// and last window, RSS growth, answers that broke the promise, and resources that grew between two
// checkpoints taken at the same point of the admin churn cycle.

import { type QueryRecord, quantile } from './harness.js';

export type Kind = 'http' | 'ws' | 'update' | 'oip';

export interface WindowFigures {
  window: number;
  count: number;
  p50Ms: number;
  p99Ms: number;
}

/** A snapshot of the server's resources with no client connected (between load phases). */
export interface Checkpoint {
  rssBytes: number;
  fds: number;
  /** Active resources by "<thread> <type>" (main, batching-0, ...; src/metrics/process_metrics.ts). */
  activeResources: Record<string, number>;
  activeResourcesTotal: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** p50/p99 of the answered records per window of `windowMs` from `startMs` (by intended time). */
export function perWindow(records: readonly QueryRecord[], startMs: number, windowMs: number, windows: number): WindowFigures[] {
  const buckets: number[][] = Array.from({ length: windows }, () => []);
  for (const r of records) {
    if (!r.answered) continue;
    const w = Math.floor((r.intendedMs - startMs) / windowMs);
    if (w >= 0 && w < windows) buckets[w]!.push(r.latencyMs);
  }
  return buckets.map((b, window) => {
    b.sort((x, y) => x - y);
    return { window, count: b.length, p50Ms: round3(quantile(b, 0.5)), p99Ms: round3(quantile(b, 0.99)) };
  });
}

/** (last − first) / first of the p99 of the first and last windows that have records; 0 without two. */
export function p99Drift(windows: readonly WindowFigures[]): number {
  const filled = windows.filter((w) => w.count > 0);
  if (filled.length < 2) return 0;
  const first = filled[0]!.p99Ms;
  const last = filled.at(-1)!.p99Ms;
  return first > 0 ? round3((last - first) / first) : 0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return quantile(sorted, 0.5);
}

/** Growth of the median RSS of the last window over the first ((last − first) / first). */
export function rssGrowth(
  samples: ReadonlyArray<{ atMs: number; rssBytes: number }>,
  startMs: number,
  windowMs: number,
  windows: number,
): number {
  const inWindow = (w: number) =>
    samples.filter((s) => s.atMs >= startMs + w * windowMs && s.atMs < startMs + (w + 1) * windowMs).map((s) => s.rssBytes);
  const first = inWindow(0);
  const last = inWindow(windows - 1);
  if (first.length === 0 || last.length === 0) return 0;
  const a = median(first);
  return a > 0 ? round3((median(last) - a) / a) : 0;
}

export interface AnswerCounts {
  sent: number;
  predictions: number;
  defaults: number;
  defaultsByReason: Record<string, number>;
  /** Answered with a reason that is not a prediction or a default: an error status (OIP's default is one). */
  errorsByReason: Record<string, number>;
  /** No answer by the timeout, a closed connection or a transport error: a broken promise. */
  unanswered: number;
  /** Defaults without a reason, and (for all kinds but OIP) error statuses. */
  badAnswers: number;
}

function noAnswers(sent: number): AnswerCounts {
  return { sent, predictions: 0, defaults: 0, defaultsByReason: {}, errorsByReason: {}, unanswered: 0, badAnswers: 0 };
}

/** Every query must be answered: a prediction or a default with its reason (OIP encodes a default as an error with a reason). */
export function countAnswers(kind: Kind, records: readonly QueryRecord[]): AnswerCounts {
  const c = noAnswers(records.length);
  for (const r of records) {
    if (!r.answered || r.status === 0) c.unanswered++;
    else if (r.status === 200 && r.isDefault) {
      c.defaults++;
      c.defaultsByReason[r.reason] = (c.defaultsByReason[r.reason] ?? 0) + 1;
      if (r.reason === '') c.badAnswers++;
    } else if (r.status === 200) c.predictions++;
    else {
      c.errorsByReason[r.reason] = (c.errorsByReason[r.reason] ?? 0) + 1;
      if (kind !== 'oip' || r.reason === '' || (r.status < 500 && r.status !== 429)) c.badAnswers++;
    }
  }
  return c;
}

/**
 * The active resources by type in Prometheus text: the main thread's (nodejs_active_resources{type})
 * as "main <type>", each batching thread's (nodejs_thread_active_resources{thread,type}) as "<thread> <type>".
 */
export function parseActiveResources(metricsText: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metricsText.matchAll(/^nodejs_active_resources\{type="([^"]*)"\} (\S+)$/gm)) out[`main ${m[1]!}`] = Number(m[2]);
  for (const m of metricsText.matchAll(/^nodejs_thread_active_resources\{thread="([^"]*)",type="([^"]*)"\} (\S+)$/gm)) {
    out[`${m[1]!} ${m[2]!}`] = Number(m[3]);
  }
  return out;
}

/** What grew from `start` to `end`: descriptors and active resources by type (any growth is named). */
export function leaksBetween(start: Checkpoint, end: Checkpoint): string[] {
  const leaks: string[] = [];
  if (end.fds > start.fds) leaks.push(`fds ${start.fds} → ${end.fds}`);
  const types = new Set([...Object.keys(start.activeResources), ...Object.keys(end.activeResources)]);
  for (const type of [...types].sort()) {
    const a = start.activeResources[type] ?? 0;
    const b = end.activeResources[type] ?? 0;
    if (b > a) leaks.push(`active ${type} ${a} → ${b}`);
  }
  return leaks;
}

/** One window's records summarised: its figures per kind and for all kinds. */
export function summarizeWindow(
  records: Record<Kind, QueryRecord[]>,
  kinds: readonly Kind[],
  startMs: number,
  windowMs: number,
  window: number,
): WindowSummary {
  const figuresOf = (list: readonly QueryRecord[]): WindowFigures => ({ ...perWindow(list, startMs, windowMs, 1)[0]!, window });
  const byKind = Object.fromEntries(
    kinds.map((k) => [k, { window: figuresOf(records[k]), counts: countAnswers(k, records[k]) }]),
  ) as WindowSummary['byKind'];
  return { byKind, all: figuresOf(kinds.flatMap((k) => records[k])) };
}

/** The answer counts of several windows added up. */
export function sumCounts(list: readonly AnswerCounts[]): AnswerCounts {
  const total = noAnswers(0);
  for (const c of list) {
    total.sent += c.sent;
    total.predictions += c.predictions;
    total.defaults += c.defaults;
    total.unanswered += c.unanswered;
    total.badAnswers += c.badAnswers;
    for (const [r, n] of Object.entries(c.defaultsByReason)) total.defaultsByReason[r] = (total.defaultsByReason[r] ?? 0) + n;
    for (const [r, n] of Object.entries(c.errorsByReason)) total.errorsByReason[r] = (total.errorsByReason[r] ?? 0) + n;
  }
  return total;
}

/** One window's figures per kind and for all kinds; its records are dropped once summarised. */
export interface WindowSummary {
  byKind: Record<Kind, { window: WindowFigures; counts: AnswerCounts }>;
  all: WindowFigures;
}
