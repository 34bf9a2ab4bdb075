// The recommendation: the highest level (rate or concurrency) whose p99 latency meets the SLO with
// (almost) no errors, plus what was observed there, so an operator can size and configure for it.
// Errors are every request without a successful answer: non-2xx answers, default outputs, and
// requests that got no answer (summary.ts). A level of mostly 404s is never recommended.

import { formatQueueTime, primaryMean } from './metrics_scrape.js';
import { levelText, type LevelResult } from './runner.js';
import { describeErrors, totalFailures } from './summary.js';

/** Levels with more than this share of failed requests are never recommended. */
export const kErrorShareMax = 0.01;

export interface Recommendation {
  label: string;
  mode: LevelResult['mode'];
  level: number;
  throughputRps: number;
  p99Ms: number;
  sloMs: number;
  connections: number;
  withinSloShare: number;
  defaultShare: number;
  errorShare: number;
  batchSizeMean: number | null;
  queueTimeMean: number | null;
  /** One sentence for the report. */
  text: string;
}

export function meetsSlo(r: LevelResult): boolean {
  return r.okCount > 0 && r.latencyUs.p99 <= r.sloMs * 1000 && r.errorShare <= kErrorShareMax;
}

/** Best level of one target's sweep, or null when no level met the SLO with few enough errors. */
export function recommend(levels: LevelResult[]): Recommendation | null {
  let best: LevelResult | null = null;
  for (const r of levels) if (meetsSlo(r) && (best === null || r.level > best.level)) best = r;
  if (best === null) return null;
  const batchSizeMean = primaryMean(best.metrics?.batchSize);
  const queueTime = formatQueueTime(best.metrics?.queueTime);
  let text =
    `${best.label}: highest level with p99 <= ${best.sloMs} ms and <= ${kErrorShareMax * 100}% errors is ` +
    `${levelText(best.mode, best.level)}${best.mode === 'open' ? ' offered' : ''} ` +
    `(${best.throughputRps.toFixed(0)} successful req/s, p99 ${(best.latencyUs.p99 / 1000).toFixed(2)} ms, ` +
    `${(best.errorShare * 100).toFixed(2)}% errors, ${best.connections} connections`;
  if (batchSizeMean !== null) text += `, mean batch size ${batchSizeMean.toFixed(2)} queries`;
  if (queueTime !== null) text += `, mean queue time ${queueTime}`;
  text += ')';
  return {
    label: best.label,
    mode: best.mode,
    level: best.level,
    throughputRps: best.throughputRps,
    p99Ms: best.latencyUs.p99 / 1000,
    sloMs: best.sloMs,
    connections: best.connections,
    withinSloShare: best.withinSloShare,
    defaultShare: best.defaultShare,
    errorShare: best.errorShare,
    batchSizeMean,
    queueTimeMean: primaryMean(best.metrics?.queueTime),
    text,
  };
}

/** Why a target got no recommendation, with its most frequent errors. */
export function noRecommendationText(label: string, levels: readonly LevelResult[]): string {
  const slo = levels[0]?.sloMs;
  let text = `${label}: nothing recommended: no level had p99 <= ${slo ?? '?'} ms with <= ${kErrorShareMax * 100}% errors`;
  const errors = totalFailures(levels).errors;
  if (Object.keys(errors).length > 0) text += ` (errors: ${describeErrors(errors)})`;
  return text;
}
