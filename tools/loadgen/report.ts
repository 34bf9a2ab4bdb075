// Result files: a text table for the terminal, JSON (everything), CSV (one row per level) and a
// self-contained HTML report with inline SVG plots.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { primaryMean } from './metrics_scrape.js';
import { noRecommendationText, type Recommendation } from './recommend.js';
import { levelText, type LevelResult } from './runner.js';
import { describeErrors, totalFailures } from './summary.js';
import { escapeXml, linePlot, type Series } from './svg.js';

export interface TargetResult {
  label: string;
  description: string;
  levels: LevelResult[];
  recommendation: Recommendation | null;
}

export interface BenchResults {
  startedAt: string;
  config: Record<string, unknown>;
  targets: TargetResult[];
  /** Generator CPU over the whole run, % of one core. */
  generatorCpuPct: number;
}

const ms = (us: number): string => (us / 1000).toFixed(2);
const pct = (share: number): string => (share * 100).toFixed(1);

/** Lines saying where the generator itself limited the measurement. */
export function bottleneckNotes(results: BenchResults): string[] {
  const notes: string[] = [];
  for (const t of results.targets) {
    for (const r of t.levels) {
      if (r.generatorBottleneck !== null)
        notes.push(`[${t.label}] level ${r.level}: load generator was the bottleneck (${r.generatorBottleneck})`);
    }
  }
  return notes;
}

/** The recommendation line of a target, or why there is none. */
export function recommendationLine(t: TargetResult): string {
  return t.recommendation === null ? noRecommendationText(t.label, t.levels) : `recommendation: ${t.recommendation.text}`;
}

/** The terminal table: every column header names its unit; errors include non-2xx and default outputs. */
export function formatTable(results: BenchResults): string {
  const header = [
    'target',
    'level',
    'ok req/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'p99.9 ms',
    'max ms',
    'ok in SLO %',
    'default %',
    'errors',
    'error %',
    'batch size',
    'gen CPU %',
  ];
  const rows: string[][] = [header];
  for (const t of results.targets) {
    for (const r of t.levels) {
      const batch = primaryMean(r.metrics?.batchSize);
      rows.push([
        t.label,
        levelText(r.mode, r.level),
        r.throughputRps.toFixed(0),
        ms(r.latencyUs.p50),
        ms(r.latencyUs.p90),
        ms(r.latencyUs.p99),
        ms(r.latencyUs.p999),
        ms(r.latencyUs.max),
        pct(r.withinSloShare),
        pct(r.defaultShare),
        String(r.errorCount),
        pct(r.errorShare),
        batch === null ? '-' : `${batch.toFixed(2)} q`,
        r.generatorCpuPct.toFixed(0),
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  lines.push('errors: non-2xx answers, default outputs and requests without an answer; latency: every answer, whatever its status');
  for (const t of results.targets) {
    lines.push(recommendationLine(t));
    const errors = sumErrors(t.levels);
    if (Object.keys(errors).length > 0) lines.push(`${t.label} errors by kind: ${describeErrors(errors)}`);
  }
  lines.push(`generator CPU over the run: ${results.generatorCpuPct.toFixed(0)}% of one core`);
  lines.push(...bottleneckNotes(results));
  return lines.join('\n');
}

/** Failures by kind over a target's levels. */
export function sumErrors(levels: readonly LevelResult[]): Record<string, number> {
  return totalFailures(levels).errors;
}

export const kCsvColumns = [
  'label',
  'mode',
  'level',
  'offered_rps',
  'connections',
  'duration_s',
  'sent',
  'responses',
  'ok_count',
  'throughput_rps',
  'p50_ms',
  'p90_ms',
  'p99_ms',
  'p999_ms',
  'max_ms',
  'mean_ms',
  'slo_ms',
  'within_slo_share',
  'default_share',
  'error_count',
  'error_share',
  'errors',
  'status_counts',
  'send_lag_p99_ms',
  'generator_cpu_pct',
  'generator_bottleneck',
  'batch_size_mean',
  'queue_time_mean',
] as const;

function csvCell(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const kv = (o: Record<string, number>): string =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');

export function toCsv(results: BenchResults): string {
  const lines = [kCsvColumns.join(',')];
  for (const t of results.targets) {
    for (const r of t.levels) {
      const l = r.latencyUs;
      lines.push(
        [
          r.label,
          r.mode,
          r.level,
          r.offeredRps,
          r.connections,
          r.durationS,
          r.sent,
          r.responses,
          r.okCount,
          Number(r.throughputRps.toFixed(2)),
          l.p50 / 1000,
          l.p90 / 1000,
          l.p99 / 1000,
          l.p999 / 1000,
          l.max / 1000,
          Number((l.mean / 1000).toFixed(4)),
          r.sloMs,
          Number(r.withinSloShare.toFixed(6)),
          Number(r.defaultShare.toFixed(6)),
          r.errorCount,
          Number(r.errorShare.toFixed(6)),
          kv(r.errors),
          kv(r.statusCounts),
          r.sendLagP99Us === null ? null : r.sendLagP99Us / 1000,
          Number(r.generatorCpuPct.toFixed(1)),
          r.generatorBottleneck,
          primaryMean(r.metrics?.batchSize),
          primaryMean(r.metrics?.queueTime),
        ]
          .map(csvCell)
          .join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export function toJson(results: BenchResults): string {
  return `${JSON.stringify(results, null, 2)}\n`;
}

/** x for "vs rate" plots: the offered rate in the open loop, achieved throughput in the closed loop. */
const rateOf = (r: LevelResult): number => r.offeredRps ?? r.throughputRps;

export function plots(results: BenchResults): string[] {
  const latency: Series[] = [];
  const slo: Series[] = [];
  const batch: Series[] = [];
  for (const t of results.targets) {
    latency.push({ name: `${t.label} p50`, points: t.levels.map((r) => [r.throughputRps, r.latencyUs.p50 / 1000]) });
    latency.push({ name: `${t.label} p99`, points: t.levels.map((r) => [r.throughputRps, r.latencyUs.p99 / 1000]) });
    slo.push({ name: t.label, points: t.levels.map((r) => [rateOf(r), r.withinSloShare * 100]) });
    const b = t.levels.flatMap((r): [number, number][] => {
      const mean = primaryMean(r.metrics?.batchSize);
      return mean === null ? [] : [[rateOf(r), mean]];
    });
    batch.push({ name: t.label, points: b });
  }
  const open = results.targets.every((t) => t.levels.every((r) => r.offeredRps !== null));
  const rateLabel = open ? 'offered rate (req/s)' : 'throughput (req/s)';
  return [
    linePlot({ title: 'Latency vs throughput', xLabel: 'throughput (req/s)', yLabel: 'latency (ms)', series: latency }),
    linePlot({ title: 'SLO attainment', xLabel: rateLabel, yLabel: '% within SLO', series: slo }),
    linePlot({ title: 'Server batch size', xLabel: rateLabel, yLabel: 'mean batch size', series: batch }),
  ];
}

export function toHtml(results: BenchResults): string {
  const e = escapeXml;
  const rows = results.targets.flatMap((t) =>
    t.levels.map(
      (r) =>
        `<tr><td>${e(t.label)}</td><td>${e(levelText(r.mode, r.level))}</td>` +
        `<td>${r.throughputRps.toFixed(0)}</td><td>${ms(r.latencyUs.p50)}</td><td>${ms(r.latencyUs.p90)}</td>` +
        `<td>${ms(r.latencyUs.p99)}</td><td>${ms(r.latencyUs.p999)}</td><td>${ms(r.latencyUs.max)}</td>` +
        `<td>${pct(r.withinSloShare)}</td><td>${pct(r.defaultShare)}</td><td>${r.errorCount}</td><td>${pct(r.errorShare)}</td>` +
        `<td>${e(kv(r.statusCounts))}</td><td>${r.generatorCpuPct.toFixed(0)}</td></tr>`,
    ),
  );
  const recs = results.targets.map((t) => `<li>${e(recommendationLine(t))}</li>`);
  const notes = bottleneckNotes(results).map((n) => `<li class="warn">${e(n)}</li>`);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>clipper bench ${e(results.startedAt)}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
.warn{color:#b00}.plots{display:flex;flex-wrap:wrap;gap:1em}pre{background:#f6f6f6;padding:1em}</style></head>
<body><h1>clipper bench</h1><p>Started ${e(results.startedAt)}. Generator CPU ${results.generatorCpuPct.toFixed(0)}% of one core.</p>
<h2>Recommendation</h2><ul>${recs.join('')}</ul>${notes.length > 0 ? `<h2>Generator limits</h2><ul>${notes.join('')}</ul>` : ''}
<h2>Plots</h2><div class="plots">${plots(results).join('\n')}</div>
<h2>Levels</h2><p>Errors: non-2xx answers, default outputs and requests without an answer.</p><table><tr><th>target</th><th>level</th><th>ok req/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>% ok in SLO</th><th>% default</th><th>errors</th><th>% errors</th><th>status</th><th>gen CPU %</th></tr>
${rows.join('\n')}</table>
<h2>Targets</h2><ul>${results.targets.map((t) => `<li>${e(t.label)}: ${e(t.description)}</li>`).join('')}</ul>
<h2>Configuration</h2><pre>${e(JSON.stringify(results.config, null, 2))}</pre>
</body></html>
`;
}

/** Write results.json, results.csv and report.html into `outDir`; returns their paths. */
export function writeReports(results: BenchResults, outDir: string): { json: string; csv: string; html: string } {
  mkdirSync(outDir, { recursive: true });
  const files = { json: path.join(outDir, 'results.json'), csv: path.join(outDir, 'results.csv'), html: path.join(outDir, 'report.html') };
  writeFileSync(files.json, toJson(results));
  writeFileSync(files.csv, toCsv(results));
  writeFileSync(files.html, toHtml(results));
  return files;
}
