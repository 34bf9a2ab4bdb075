// The tables bench/dashboard_cost.ts prints (Markdown, for docs/benchmarks.md): every run, then per
// variant the medians, their ratio to the runs without a dashboard, and the spread between rounds of
// the same variant, which is the noise any difference must be read against; then the same ratios
// paired within each round.

export interface CostRow {
  variant: string;
  round: number;
  requestsPerS: number;
  p50Us: number;
  p99Us: number;
  /** Server process CPU (frontend and batching threads, not replicas) per answered request. */
  serverCpuUsPerRequest: number;
  /** Server process CPU while no query came, with the variant open, in % of one core. */
  idleServerCpuPct: number;
  /** chromium's CPU (all its processes) during the wrk run, % of one core. */
  browserCpuPct: number;
  defaults: number;
  non2xx: number;
  /** Snapshots the dashboard or stream reader received during the run (null: none open). */
  snapshots: number | null;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const f0 = (v: number): string => v.toFixed(0);
const f1 = (v: number): string => v.toFixed(1);

function runTable(rows: readonly CostRow[]): string[] {
  const lines = [
    '| round | variant | req/s | p50 µs | p99 µs | server CPU µs/request | idle server CPU % | chromium CPU % | snapshots received | default outputs | non-2xx |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.round} | ${r.variant} | ${f0(r.requestsPerS)} | ${r.p50Us} | ${r.p99Us} | ${f1(r.serverCpuUsPerRequest)} | ${f1(r.idleServerCpuPct)} | ${f1(r.browserCpuPct)} | ${r.snapshots ?? '–'} | ${r.defaults} | ${r.non2xx} |`,
    );
  }
  return lines;
}

/** "median (min–max)" of one field over a variant's runs. */
function spread(rows: readonly CostRow[], field: (r: CostRow) => number, fmt: (v: number) => string): string {
  const values = rows.map(field);
  return `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
}

function summaryTable(rows: readonly CostRow[]): string[] {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const of = (v: string): CostRow[] => rows.filter((r) => r.variant === v);
  const baseline = of('none');
  const baseRps = baseline.length > 0 ? median(baseline.map((r) => r.requestsPerS)) : Number.NaN;
  const baseCpu = baseline.length > 0 ? median(baseline.map((r) => r.serverCpuUsPerRequest)) : Number.NaN;
  const lines = [
    '| variant | runs | req/s median (min–max) | vs none | p50 µs | p99 µs | server CPU µs/request | vs none | idle server CPU % | chromium CPU % |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const v of variants) {
    const rs = of(v);
    const rps = median(rs.map((r) => r.requestsPerS));
    const cpu = median(rs.map((r) => r.serverCpuUsPerRequest));
    lines.push(
      `| ${v} | ${rs.length} | ${spread(rs, (r) => r.requestsPerS, f0)} | ${(rps / baseRps).toFixed(3)} | ` +
        `${spread(rs, (r) => r.p50Us, f0)} | ${spread(rs, (r) => r.p99Us, f0)} | ${spread(rs, (r) => r.serverCpuUsPerRequest, f1)} | ` +
        `${(cpu / baseCpu).toFixed(3)} | ${spread(rs, (r) => r.idleServerCpuPct, f1)} | ${spread(rs, (r) => r.browserCpuPct, f1)} |`,
    );
  }
  return lines;
}

/**
 * Per round, each variant's figure over the same round's `none` run (adjacent in time, so slow drift
 * in the machine's other load cancels), as "median (min–max)" over the rounds.
 */
function pairedTable(rows: readonly CostRow[]): string[] {
  const lines = [
    '| variant | rounds | req/s ÷ none, same round: median (min–max) | server CPU µs/request ÷ none, same round |',
    '|---|---|---|---|',
  ];
  for (const v of new Set(rows.map((r) => r.variant))) {
    if (v === 'none') continue;
    const rps: number[] = [];
    const cpu: number[] = [];
    for (const r of rows.filter((x) => x.variant === v)) {
      const base = rows.find((x) => x.variant === 'none' && x.round === r.round);
      if (base === undefined) continue;
      rps.push(r.requestsPerS / base.requestsPerS);
      cpu.push(r.serverCpuUsPerRequest / base.serverCpuUsPerRequest);
    }
    if (rps.length === 0) continue;
    const f3 = (x: number): string => x.toFixed(3);
    const spreadOf = (xs: number[]): string => `${f3(median(xs))} (${f3(Math.min(...xs))}–${f3(Math.max(...xs))})`;
    lines.push(`| ${v} | ${rps.length} | ${spreadOf(rps)} | ${spreadOf(cpu)} |`);
  }
  return lines;
}

export function formatCostTables(rows: readonly CostRow[]): string {
  return `${[...runTable(rows), '', ...summaryTable(rows), '', ...pairedTable(rows)].join('\n')}\n`;
}

export interface QuietRow {
  variant: string;
  round: number;
  /** Server process CPU with no query, % of one core. */
  serverCpuPct: number;
  /** chromium's CPU (all its processes) meanwhile, % of one core. */
  browserCpuPct: number;
}

/** The server's CPU with no load, per variant: every run and the median. */
export function formatQuietTable(rows: readonly QuietRow[]): string {
  if (rows.length === 0) return '';
  const lines = [
    '| variant | server CPU with no query, % of one core, per run | median | chromium CPU meanwhile, % of one core, median |',
    '|---|---|---|---|',
  ];
  for (const v of new Set(rows.map((r) => r.variant))) {
    const rs = rows.filter((r) => r.variant === v);
    const pcts = rs.map((r) => r.serverCpuPct);
    const browser = median(rs.map((r) => r.browserCpuPct));
    lines.push(`| ${v} | ${pcts.map((p) => p.toFixed(2)).join(', ')} | ${median(pcts).toFixed(2)} | ${browser.toFixed(1)} |`);
  }
  return `${lines.join('\n')}\n`;
}
