// Workloads the planner plans for, and their seeded arrival times: the simulator (pipeline_sim.ts)
// and the benches that drive real load use the same arrivalTimesMs, so a plan is checked against
// the very arrivals it was made for.
//
//   poisson   exponential gaps at rate_qps
//   constant  one query every 1000 / rate_qps ms, the first at 0
//   bursty    a two-state Markov-modulated Poisson process: ON periods (mean on_mean_ms) at
//             burst_factor × rate_qps, OFF periods (mean off_mean_ms) at the rate that keeps the mean
//   trace     the given arrival times (ms, relative to the first), replayed in a loop when the run is
//             longer than the trace (period: its span plus one mean gap)

import { ClipperError } from '../errors.js';
import { createPrng, type Prng } from '../lib/prng.js';
import type { WorkloadSpec } from '../pipeline_spec.js';

export type { WorkloadSpec } from '../pipeline_spec.js';

export const kWorkloadKinds = ['poisson', 'constant', 'bursty', 'trace'] as const;
export const kBurstDefaults = Object.freeze({ burst_factor: 3, on_mean_ms: 250, off_mean_ms: 750 });

const invalid = (field: string, what: string): ClipperError => new ClipperError('CLP_ERR_INVALID_ARG', `workload ${field}: ${what}`);

function bursty(spec: Extract<WorkloadSpec, { kind: 'bursty' }>, durationMs: number, prng: Prng): number[] {
  const ratePerMs = spec.rate_qps / 1000;
  const onRate = ratePerMs * spec.burst_factor;
  // Mean rate = (on * onRate + off * offRate) / (on + off).
  const offRate = Math.max(1e-9, (ratePerMs * (spec.on_mean_ms + spec.off_mean_ms) - spec.on_mean_ms * onRate) / spec.off_mean_ms);
  const out: number[] = [];
  let on = true;
  let phaseEndMs = prng.exponential(1 / spec.on_mean_ms);
  let t = 0;
  for (;;) {
    // Memorylessness makes it exact to redraw the gap after a phase change.
    const gap = prng.exponential(on ? onRate : offRate);
    if (t + gap > phaseEndMs) {
      t = phaseEndMs;
      on = !on;
      phaseEndMs = t + prng.exponential(1 / (on ? spec.on_mean_ms : spec.off_mean_ms));
      continue;
    }
    t += gap;
    if (t >= durationMs) return out;
    out.push(t);
  }
}

function replayTrace(arrivalsMs: readonly number[], durationMs: number): number[] {
  if (arrivalsMs.length === 0) return [];
  const first = arrivalsMs[0]!;
  const span = arrivalsMs[arrivalsMs.length - 1]! - first;
  const periodMs = arrivalsMs.length > 1 ? span + span / (arrivalsMs.length - 1) : Infinity;
  const out: number[] = [];
  for (let base = 0; base < durationMs; base += periodMs) {
    for (const a of arrivalsMs) {
      const t = base + a - first;
      if (t >= durationMs) return out;
      out.push(t);
    }
    if (!(periodMs > 0)) break;
  }
  return out;
}

/** Arrival times (ms from 0, ascending) of `spec` over [0, durationMs): a pure function of its arguments. */
export function arrivalTimesMs(spec: WorkloadSpec, durationMs: number, seed: number): number[] {
  const prng = createPrng(seed);
  const ratePerMs = spec.rate_qps / 1000;
  const out: number[] = [];
  switch (spec.kind) {
    case 'poisson':
      for (let t = prng.exponential(ratePerMs); t < durationMs; t += prng.exponential(ratePerMs)) out.push(t);
      return out;
    case 'constant':
      for (let i = 0; i / ratePerMs < durationMs; i++) out.push(i / ratePerMs);
      return out;
    case 'bursty':
      return bursty(spec, durationMs, prng);
    case 'trace':
      return replayTrace(spec.arrivals_ms, durationMs);
  }
}

/** Arrival times from a trace file: a JSON array of numbers, or numbers separated by white space or commas ('#' starts a comment). */
export function parseTraceText(text: string): number[] {
  const trimmed = text.trim();
  let values: unknown[];
  if (trimmed.startsWith('[')) {
    try {
      values = JSON.parse(trimmed) as unknown[];
    } catch (err) {
      throw invalid('trace', `not valid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(values)) throw invalid('trace', 'must be an array of arrival times (ms)');
  } else {
    values = trimmed
      .split('\n')
      .map((line) => line.replace(/#.*/, ''))
      .join(' ')
      .split(/[\s,]+/)
      .filter((s) => s !== '')
      .map((s) => (/^[-+0-9.eE]+$/.test(s) ? Number(s) : s));
  }
  const times: number[] = [];
  for (const [i, v] of values.entries()) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw invalid('trace', `entry ${i + 1} is not a time in ms >= 0 (${JSON.stringify(v)})`);
    times.push(v);
  }
  if (times.length < 2) throw invalid('trace', `needs at least 2 arrival times (got ${times.length})`);
  times.sort((a, b) => a - b);
  const spanMs = times[times.length - 1]! - times[0]!;
  if (!(spanMs > 0)) throw invalid('trace', 'arrival times must span more than 0 ms');
  return times.map((t) => t - times[0]!);
}

/** The rate of a trace: arrivals per second of its span. */
export function traceRateQps(arrivalsMs: readonly number[]): number {
  const spanMs = arrivalsMs[arrivalsMs.length - 1]! - arrivalsMs[0]!;
  return (arrivalsMs.length / spanMs) * 1000;
}

function checkRate(rate: number | undefined): number {
  if (rate === undefined) throw invalid('rate', 'is required (queries per second, --rate)');
  if (typeof rate !== 'number' || !Number.isFinite(rate) || !(rate > 0) || rate > 1e6) {
    throw invalid('rate', `must be a number in (0, 1e6] queries/s (got ${rate})`);
  }
  return rate;
}

/**
 * A workload from the CLI's options: `trace` (the file's text) wins over `kind`; else `kind`
 * (default poisson) at `rate`. Throws ClipperError 400 naming the option.
 */
export function parseWorkload(args: { rate?: number; kind?: string; trace?: string; burstFactor?: number }): WorkloadSpec {
  if (args.trace !== undefined) {
    if (args.kind !== undefined && args.kind !== 'trace') throw invalid('kind', `'${args.kind}' cannot be combined with a trace file`);
    const arrivals = parseTraceText(args.trace);
    return { kind: 'trace', arrivals_ms: arrivals, rate_qps: traceRateQps(arrivals) };
  }
  const kind = args.kind ?? 'poisson';
  if (kind === 'trace') throw invalid('kind', "'trace' needs a trace file (--trace FILE)");
  if (kind !== 'poisson' && kind !== 'constant' && kind !== 'bursty') {
    throw invalid('kind', `must be one of ${kWorkloadKinds.join(', ')} (got '${kind}')`);
  }
  const rate = checkRate(args.rate);
  if (args.burstFactor !== undefined && kind !== 'bursty') throw invalid('burst_factor', 'applies to the bursty workload only');
  if (kind !== 'bursty') return { kind, rate_qps: rate };
  const burst = args.burstFactor ?? kBurstDefaults.burst_factor;
  const { on_mean_ms, off_mean_ms } = kBurstDefaults;
  // ON periods must not carry more than the mean: burst_factor × on <= on + off.
  const burstMax = (on_mean_ms + off_mean_ms) / on_mean_ms;
  if (typeof burst !== 'number' || !(burst >= 1) || burst > burstMax) {
    throw invalid('burst_factor', `must be a number in [1, ${burstMax}] (got ${burst})`);
  }
  return { kind: 'bursty', rate_qps: rate, burst_factor: burst, on_mean_ms, off_mean_ms };
}

/** One line describing a workload (for tables and logs). */
export function describeWorkload(spec: WorkloadSpec): string {
  const rate = `${Number(spec.rate_qps.toFixed(2))} q/s`;
  if (spec.kind === 'bursty') return `bursty ${rate} (x${spec.burst_factor} bursts, on ${spec.on_mean_ms} ms / off ${spec.off_mean_ms} ms)`;
  if (spec.kind === 'trace') return `trace of ${spec.arrivals_ms.length} arrivals, ${rate}`;
  return `${spec.kind} ${rate}`;
}
