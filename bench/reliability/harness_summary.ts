// Figures of a run of the reliability harness (bench/reliability/harness.ts re-exports them): counts,
// latency quantiles, the share answered by the SLO, defaults and errors by reason, and the one JSON
// line each script ends with.

import type { QueryRecord } from './harness_load.js';

export interface RunSummary {
  sent: number;
  /** Got a response (any status) or a transport error within the timeout. */
  answered: number;
  /** No response within the timeout: a broken promise. */
  unanswered: number;
  /** 200 with a model prediction. */
  predictions: number;
  /** 200 with the default output. */
  defaults: number;
  /** Non-200 responses and transport errors. */
  errors: number;
  /** Predictions answered within sloMs, over all sent. */
  bySloShare: number;
  /** Answers of any kind (prediction, default, error) within sloMs, over all sent. */
  anyAnswerBySloShare: number;
  latencyMsP50: number;
  latencyMsP99: number;
  latencyMsMax: number;
  /** p99 of the generator's own send lag (QueryRecord.sendLagMs): high means the load machine was busy. */
  sendLagMsP99: number;
  defaultsByReason: Record<string, number>;
  errorsByReason: Record<string, number>;
}

/** The q-quantile (0..1) of sorted values, nearest rank; 0 for none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Summarize records against an SLO (latency quantiles over answered queries). */
export function summarize(records: readonly QueryRecord[], sloMs: number): RunSummary {
  const latencies: number[] = [];
  const lags = records.map((r) => r.sendLagMs ?? 0).sort((a, b) => a - b);
  const defaultsByReason: Record<string, number> = {};
  const errorsByReason: Record<string, number> = {};
  let unanswered = 0;
  let predictions = 0;
  let defaults = 0;
  let errors = 0;
  let bySlo = 0;
  let anyBySlo = 0;
  for (const r of records) {
    if (!r.answered) {
      unanswered++;
      continue;
    }
    latencies.push(r.latencyMs);
    if (r.latencyMs <= sloMs) anyBySlo++;
    if (r.status === 200 && r.isDefault) {
      defaults++;
      bump(defaultsByReason, r.reason);
    } else if (r.status === 200) {
      predictions++;
      if (r.latencyMs <= sloMs) bySlo++;
    } else {
      errors++;
      bump(errorsByReason, r.reason);
    }
  }
  latencies.sort((a, b) => a - b);
  const sent = records.length;
  return {
    sent,
    answered: sent - unanswered,
    unanswered,
    predictions,
    defaults,
    errors,
    bySloShare: sent === 0 ? 0 : round3(bySlo / sent),
    anyAnswerBySloShare: sent === 0 ? 0 : round3(anyBySlo / sent),
    latencyMsP50: round3(quantile(latencies, 0.5)),
    latencyMsP99: round3(quantile(latencies, 0.99)),
    latencyMsMax: round3(latencies.at(-1) ?? 0),
    sendLagMsP99: round3(quantile(lags, 0.99)),
    defaultsByReason,
    errorsByReason,
  };
}

/** Print the script's result as its last output line: one JSON object. */
export function printJson(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
