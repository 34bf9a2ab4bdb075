// Result files: a text table for the terminal, JSON (everything), CSV (one row per level) and an
// HTML report that opens offline from one file: tables plus charts drawn by the live dashboard's
// chart code (src/dashboard/ui/charts.ts), which it inlines with uPlot (report_assets.ts).

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alignPoints } from '../../src/dashboard/ui/series.js';
import type { FigureSpec } from '../../src/dashboard/ui/types.js';
import { primaryMean } from './metrics_scrape.js';
import { noRecommendationText, type Recommendation } from './recommend.js';
import { type ChartAssets, inlineJson, inlineScript, readChartAssets } from './report_assets.js';
import { levelText, type LevelResult } from './runner.js';
import { describeErrors, totalFailures } from './summary.js';
import { escapeXml } from './svg.js';

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

interface NamedPoints {
  name: string;
  points: [number, number][];
}

function figure(title: string, xLabel: string, yLabel: string, series: NamedPoints[], percent = false): FigureSpec {
  const spec: FigureSpec = { title, xLabel, yLabel, series: series.map((s) => s.name), columns: alignPoints(series) };
  if (percent) spec.percent = true;
  return spec;
}

/** The report's charts as data: latency vs throughput, SLO attainment and server batch size per level. */
export function figures(results: BenchResults): FigureSpec[] {
  const latency: NamedPoints[] = [];
  const slo: NamedPoints[] = [];
  const batch: NamedPoints[] = [];
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
    figure('Latency vs throughput', 'throughput (req/s)', 'latency (ms)', latency),
    figure('SLO attainment', rateLabel, '% within SLO', slo, true),
    figure('Server batch size', rateLabel, 'mean batch size', batch),
  ];
}

const kReportCss =
  'body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f6f7f9;margin:2em}' +
  'h1{color:#2563eb}table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}' +
  'td,th{border:1px solid #e5e7eb;padding:2px 8px;text-align:right}.warn{color:#b91c1c}' +
  '.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:1em}' +
  'pre{background:#fff;border:1px solid #e5e7eb;padding:1em}';

/** The charts: figure data in JSON, drawn by the inlined chart code; or why they cannot be drawn. */
function chartsHtml(results: BenchResults, assets: ChartAssets | string): { head: string; body: string } {
  if (typeof assets === 'string') return { head: '', body: `<p class="warn">Charts unavailable: ${escapeXml(assets)}</p>` };
  const draw =
    "const charts = renderFigures(document.getElementById('plots'), JSON.parse(document.getElementById('figures').textContent));\n" +
    "addEventListener('resize', () => { for (const c of charts) c.resize(); });";
  return {
    head: `<style>${assets.uplotCss}</style>\n<script>${inlineScript(assets.uplotJs)}</script>`,
    body:
      `<div class="plots" id="plots"></div>\n<script type="application/json" id="figures">${inlineJson(figures(results))}</script>\n` +
      `<script type="module">${inlineScript(assets.chartsJs)}\n${draw}</script>`,
  };
}

/** The HTML report; `assets` default to the files on disk (report_assets.ts). */
export function toHtml(results: BenchResults, assets: ChartAssets | string = readChartAssets()): string {
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
  const charts = chartsHtml(results, assets);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>clipper bench ${e(results.startedAt)}</title>
<link rel="icon" href="data:,">
<style>${kReportCss}</style>
${charts.head}</head>
<body><h1>clipper bench</h1><p>Started ${e(results.startedAt)}. Generator CPU ${results.generatorCpuPct.toFixed(0)}% of one core.</p>
<h2>Recommendation</h2><ul>${recs.join('')}</ul>${notes.length > 0 ? `<h2>Generator limits</h2><ul>${notes.join('')}</ul>` : ''}
<h2>Plots</h2>${charts.body}
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
