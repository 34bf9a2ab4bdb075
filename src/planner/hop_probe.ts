// The profiler's frontend probe: one query to a model version through the running query frontend,
// timed from here. It uses the Open Inference Protocol route of the model version
// (POST /v2/models/{m}/versions/{v}/infer, src/frontend/oip/oip_routes.ts), the least intrusive way
// in: no application is created, and the query takes the path a pipeline stage's call takes (the
// main thread, the ring, the model's batching worker, the replica and back). Around each probe the
// profiler reads the model version's statistics (GET .../stats, src/frontend/oip/stats.ts: the
// server's own batch round trips and queue waits), which split the round trip into the part inside
// the server, per call, and the HTTP edge, once per query (profiler.ts).

import type { InputType } from '../input_types.js';
import type { ProfiledModel, ServerCallTotals } from './profiler.js';

/** The OIP input tensor of one query of a model of `inputType` (one row). */
export function oipInputTensor(input: unknown, inputType: InputType): Record<string, unknown> {
  switch (inputType) {
    case 'strings':
      return { name: 'input0', shape: [1], datatype: 'BYTES', data: [input] };
    case 'bytes': {
      const bytes = [...Buffer.from(typeof input === 'string' ? input : '', 'base64')];
      return { name: 'input0', shape: [1, bytes.length], datatype: 'UINT8', data: bytes };
    }
    default: {
      const row = Array.isArray(input) ? input : [];
      const datatype = inputType === 'doubles' ? 'FP64' : inputType === 'floats' ? 'FP32' : 'INT32';
      return { name: 'input0', shape: [1, row.length], datatype, data: row };
    }
  }
}

function versionUrl(queryUrl: string, model: ProfiledModel): string {
  const base = queryUrl.endsWith('/') ? queryUrl.slice(0, -1) : queryUrl;
  return `${base}/v2/models/${encodeURIComponent(model.model)}/versions/${encodeURIComponent(model.version)}`;
}

/** The µs one OIP infer of `input` takes from here (fetch to body read); throws on a non-200 answer. */
export async function oipRoundTripUs(queryUrl: string, model: ProfiledModel, input: unknown, timeoutMs = 10_000): Promise<number> {
  const url = `${versionUrl(queryUrl, model)}/infer`;
  const body = JSON.stringify({ inputs: [oipInputTensor(input, model.inputType)] });
  const startMs = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  const elapsedUs = (performance.now() - startMs) * 1000;
  if (res.status !== 200) throw new Error(`POST ${url}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  return elapsedUs;
}

/** A {count, ns} duration of the statistics, checked. */
function durationOf(value: unknown, what: string): { count: number; ns: number } {
  const d = value as { count?: unknown; ns?: unknown } | undefined;
  if (typeof d?.count !== 'number' || typeof d.ns !== 'number') throw new Error(`statistics without ${what}`);
  return { count: d.count, ns: d.ns };
}

/** The model version's totals so far as the frontend serving `queryUrl` counts them (GET .../stats); throws when unreadable. */
export async function oipServerTotals(queryUrl: string, model: ProfiledModel, timeoutMs = 10_000): Promise<ServerCallTotals> {
  const url = `${versionUrl(queryUrl, model)}/stats`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  const stat = (JSON.parse(text) as { model_stats?: Array<{ inference_stats?: Record<string, unknown> }> }).model_stats?.[0];
  const compute = durationOf(stat?.inference_stats?.compute_infer, 'compute_infer');
  const queue = durationOf(stat?.inference_stats?.queue, 'queue');
  return { batches: compute.count, batchUs: compute.ns / 1000, queued: queue.count, queueUs: queue.ns / 1000 };
}
