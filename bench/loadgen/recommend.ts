// The recommendation: the highest level (rate or concurrency) whose p99 latency meets the SLO with
// (almost) no errors, plus what was observed there, so an operator can size and configure for it.

import { primaryMean } from './metrics_scrape.js';
import type { LevelResult } from './runner.js';

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
  batchSizeMean: number | null;
  queueTimeMean: number | null;
  /** One sentence for the report. */
  text: string;
}

export function meetsSlo(r: LevelResult): boolean {
  const total = r.responses + r.errorCount;
  return r.responses > 0 && r.latencyUs.p99 <= r.sloMs * 1000 && r.errorCount / total <= kErrorShareMax;
}

/** Best level of one target's sweep, or null when no level met the SLO. */
export function recommend(levels: LevelResult[]): Recommendation | null {
  let best: LevelResult | null = null;
  for (const r of levels) if (meetsSlo(r) && (best === null || r.level > best.level)) best = r;
  if (best === null) return null;
  const unit = best.mode === 'open' ? 'req/s offered' : 'concurrent requests';
  const batchSizeMean = primaryMean(best.metrics?.batchSize);
  const queueTimeMean = primaryMean(best.metrics?.queueTime);
  let text = `${best.label}: highest level with p99 <= ${best.sloMs} ms is ${best.level} ${unit} `
    + `(${best.throughputRps.toFixed(0)} req/s, p99 ${(best.latencyUs.p99 / 1000).toFixed(2)} ms, `
    + `${best.connections} connections`;
  if (batchSizeMean !== null) text += `, mean batch size ${batchSizeMean.toFixed(2)}`;
  if (queueTimeMean !== null) text += `, mean queue time ${queueTimeMean.toPrecision(3)}`;
  text += ')';
  return {
    label: best.label, mode: best.mode, level: best.level, throughputRps: best.throughputRps,
    p99Ms: best.latencyUs.p99 / 1000, sloMs: best.sloMs, connections: best.connections,
    withinSloShare: best.withinSloShare, defaultShare: best.defaultShare, batchSizeMean, queueTimeMean, text,
  };
}
