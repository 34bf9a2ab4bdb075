// How the page writes numbers: fixed, short and with units, so a card's figures line up and never
// read "NaN" or "null" (a value with nothing measured shows as a dash). Pure; tested under Node.

/** Shown where there was nothing to measure. */
export const kNone = '–';

/** A rate or a count: 0–3 decimals by size, thousands as "12.3k". */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return kNone;
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(v)) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Milliseconds, e.g. "4.21 ms". */
export function formatMs(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? kNone : `${formatNumber(v)} ms`;
}

/** A share 0..1 as a percentage, e.g. "99.5%". */
export function formatShare(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? kNone : `${(v * 100).toFixed(1)}%`;
}

/** Default outputs by reason, most frequent first: "12 slo, 3 queue full"; "none" when empty. */
export function formatReasons(reasons: Record<string, number>): string {
  const parts = Object.entries(reasons)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, n]) => `${n} ${reason}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** An admin API answer for the action's status line: the JSON error's cause, else the body. */
export function describeAnswer(status: number, body: string): string {
  if (status >= 200 && status < 300) return body.trim() === '' ? `${status} OK` : body.trim();
  try {
    const parsed = JSON.parse(body) as { error?: unknown; cause?: unknown };
    if (typeof parsed.cause === 'string') return `${status} ${String(parsed.error ?? 'error')}: ${parsed.cause}`;
  } catch {
    // not JSON: show the text as it came
  }
  return `${status}: ${body.trim() || 'no message'}`;
}
