import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recommend, meetsSlo } from '../../tools/loadgen/recommend.js';
import type { FigureSpec } from '../../src/dashboard/ui/types.js';
import { formatTable, kCsvColumns, toCsv, toHtml, writeReports, type BenchResults } from '../../tools/loadgen/report.js';
import { type ChartAssets, inlineJson, inlineScript, readChartAssets } from '../../tools/loadgen/report_assets.js';
import type { LevelResult } from '../../tools/loadgen/runner.js';
import { linePlot, niceTicks } from '../../tools/loadgen/svg.js';

/** A level of `lvl` (open loop) with p99 `p99Ms`; errorShare follows okCount and errorCount unless given. */
function level(lvl: number, p99Ms: number, extra: Partial<LevelResult> = {}): LevelResult {
  const r: LevelResult = {
    label: 'srv',
    mode: 'open',
    level: lvl,
    offeredRps: lvl,
    connections: 8,
    durationS: 2,
    sent: lvl * 2,
    responses: lvl * 2,
    okCount: lvl * 2,
    throughputRps: lvl,
    latencyUs: { count: lvl * 2, min: 100, mean: 500, p50: 400, p90: 800, p99: p99Ms * 1000, p999: p99Ms * 1200, max: p99Ms * 1500 },
    sloMs: 10,
    withinSloShare: 0.995,
    defaultShare: 0,
    errorCount: 0,
    errorShare: 0,
    errors: {},
    statusCounts: { 200: lvl * 2 },
    sendLagP99Us: 300,
    generatorCpuPct: 40,
    generatorBottleneck: null,
    metrics: { batchSize: { clipper_batch_size: { count: 10, mean: lvl / 100, p50: 1, p99: 4 } }, queueTime: {} },
    ...extra,
  };
  if (extra.errorShare === undefined) r.errorShare = r.errorCount / (r.okCount + r.errorCount);
  return r;
}

const results = (levels: LevelResult[]): BenchResults => ({
  startedAt: '2026-01-01T00:00:00.000Z',
  config: { sloMs: 10, note: 'a "quoted", <tag>' },
  generatorCpuPct: 55,
  targets: [{ label: 'srv', description: 'http://127.0.0.1:1/a/predict (clipper)', levels, recommendation: recommend(levels) }],
});

/** Minimal CSV reader (quoted cells with doubled quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  for (const line of text.trimEnd().split('\n')) {
    const cells: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') {
        cells.push(cur);
        cur = '';
      } else cur += ch;
    }
    cells.push(cur);
    rows.push(cells);
  }
  return rows;
}

test('recommendation: highest level whose p99 meets the SLO with few errors', () => {
  const levels = [level(1000, 2), level(2000, 6), level(3000, 12), level(4000, 9, { errorCount: 500, errors: { timeout: 500 } })];
  const rec = recommend(levels)!;
  assert.equal(rec.level, 2000);
  assert.equal(rec.p99Ms, 6);
  assert.equal(rec.batchSizeMean, 20);
  assert.match(
    rec.text,
    /2000 req\/s offered \(2000 successful req\/s, p99 6\.00 ms, 0\.00% errors, 8 connections, mean batch size 20\.00 queries\)/,
  );
  assert.equal(meetsSlo(levels[3]!), false); // 500 errors of 8500 > 1%
  assert.equal(recommend([level(1000, 11)]), null);
  assert.equal(recommend([level(1000, 1, { okCount: 0 })]), null);
});

test('recommendation: a level of 404s or default outputs, however fast, is never recommended', () => {
  // the old bug: 100% HTTP 404 answered in 0.2 ms counted as "errors=0" and was recommended
  const notFound = level(5000, 0.2, { okCount: 0, errorCount: 10_000, errors: { 'HTTP 404': 10_000 }, statusCounts: { 404: 10_000 } });
  assert.equal(meetsSlo(notFound), false);
  assert.equal(recommend([notFound]), null);
  const defaults = level(5000, 0.2, { okCount: 5000, errorCount: 5000, errors: { 'default output': 5000 }, defaultShare: 0.5 });
  assert.equal(defaults.errorShare, 0.5);
  assert.equal(recommend([level(1000, 2), defaults])!.level, 1000, 'the level with half default outputs is skipped');
  assert.equal(
    recommend([level(1000, 2, { okCount: 990, errorCount: 10, errors: { 'HTTP 503': 10 } })])!.level,
    1000,
    '1% errors is allowed',
  );
  assert.equal(recommend([level(1000, 2, { okCount: 989, errorCount: 11, errors: { 'HTTP 503': 11 } })]), null, 'over 1% is not');
  const table = formatTable(results([notFound]));
  assert.match(table, /srv: nothing recommended: no level had p99 <= 10 ms with <= 1% errors \(errors: 10000 HTTP 404\)/);
  assert.match(table, /srv errors by kind: 10000 HTTP 404/);
  assert.match(table, /10000\s+100\.0/, 'the errors and error % columns count the 404s');
  assert.doesNotMatch(table, /recommendation:/);
});

test('queue time in the recommendation carries its unit from the metric family name', () => {
  const withQueue = (name: string, mean: number): LevelResult =>
    level(1000, 2, {
      metrics: { batchSize: {}, queueTime: { [name]: { count: 5, mean, p50: mean, p99: mean } } },
    });
  assert.match(recommend([withQueue('clipper_model_queue_seconds', 0.00052)])!.text, /mean queue time 0\.520 ms\)/);
  assert.match(recommend([withQueue('x_queue_us', 520)])!.text, /mean queue time 520 µs\)/);
  assert.match(recommend([withQueue('x_queue_depth', 3)])!.text, /mean queue time 3\.00 \(unit of x_queue_depth\)\)/);
});

test('CSV and JSON parse back with one row per level', () => {
  const r = results([
    level(1000, 2),
    level(2000, 12, { errors: { ECONNRESET: 2, timeout: 1 }, errorCount: 3, generatorBottleneck: 'generator CPU 95% of a core' }),
  ]);
  const rows = parseCsv(toCsv(r));
  assert.deepEqual(rows[0], [...kCsvColumns]);
  assert.equal(rows.length, 3);
  const col = (name: string, row: number): string => rows[row]![kCsvColumns.indexOf(name as (typeof kCsvColumns)[number])]!;
  assert.equal(col('level', 2), '2000');
  assert.equal(col('p99_ms', 1), '2');
  assert.equal(col('errors', 2), 'ECONNRESET=2;timeout=1');
  assert.equal(col('generator_bottleneck', 2), 'generator CPU 95% of a core');
  assert.equal(col('batch_size_mean', 1), '10');
  assert.equal(col('queue_time_mean', 1), '');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-report-'));
  try {
    const files = writeReports(r, dir);
    const back = JSON.parse(readFileSync(files.json, 'utf8')) as BenchResults;
    assert.deepEqual(back, JSON.parse(JSON.stringify(r)));
    assert.equal(readFileSync(files.csv, 'utf8'), toCsv(r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The figures JSON a report carries (the data the inlined chart code draws). */
function reportFigures(html: string): FigureSpec[] {
  const m = /<script type="application\/json" id="figures">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'the report carries its figures as JSON');
  return JSON.parse(m[1]!) as FigureSpec[];
}

test('HTML report: one offline file with uPlot, the chart code and three figures of aligned data', () => {
  const r = results([level(1000, 2), level(2000, 12, { generatorBottleneck: 'could not send at 2000 req/s' })]);
  r.targets.push({ ...r.targets[0]!, label: 'other <b>', levels: [level(1500, 3)] });
  const assets = readChartAssets();
  assert.equal(typeof assets, 'object', `the chart assets are built: ${String(assets)}`);
  const html = toHtml(r);
  // Nothing is fetched: no src= and no link but the empty data: icon.
  assert.doesNotMatch(html, /\ssrc=/);
  assert.deepEqual(html.match(/\shref="[^"]*"/g), [' href="data:,"']);
  assert.ok(html.includes((assets as ChartAssets).uplotCss), 'uPlot.min.css is inlined');
  assert.match(html, /<script>[\s\S]*var uPlot[\s\S]*<\/script>/, 'uPlot.iife.min.js is inlined');
  assert.match(html, /<script type="module">[\s\S]*export function renderFigures[\s\S]*renderFigures\(document\.getElementById\('plots'\)/);
  assert.doesNotMatch(html, /sourceMappingURL/);
  const figs = reportFigures(html);
  assert.deepEqual(
    figs.map((f) => f.title),
    ['Latency vs throughput', 'SLO attainment', 'Server batch size'],
  );
  assert.deepEqual(figs[0]!.series, ['srv p50', 'srv p99', 'other <b> p50', 'other <b> p99']);
  assert.deepEqual(figs[0]!.columns[0], [1000, 1500, 2000], 'x: every level of every target, sorted');
  assert.deepEqual(figs[0]!.columns[2], [2, null, 12]);
  assert.equal(figs[1]!.percent, true);
  assert.deepEqual(figs[1]!.columns[1], [99.5, null, 99.5]);
  assert.deepEqual(figs[2]!.columns[1], [10, null, 20], 'mean batch size per level');
  for (const f of figs) {
    for (const col of f.columns) assert.equal(col.length, f.columns[0].length);
    assert.equal(f.columns.length, f.series.length + 1);
  }
  assert.match(html, /highest level with p99 &lt;= 10 ms and &lt;= 1% errors is 1000 req\/s offered/);
  assert.match(html, /load generator was the bottleneck \(could not send at 2000 req\/s\)/);
  assert.match(html, /a \\&quot;quoted\\&quot;, &lt;tag&gt;/);
  assert.ok(html.trimEnd().endsWith('</html>'));
});

test('HTML report: data and code cannot close their script early; without the chart build it says why', () => {
  assert.equal(inlineScript('a("</script>");\n//# sourceMappingURL=charts.js.map'), 'a("<\\/script>");\n');
  assert.equal(inlineJson({ s: '</script><!--' }), '{"s":"\\u003c/script>\\u003c!--"}');
  const withTag = results([level(1000, 2)]);
  withTag.targets[0]!.label = '</script><script>alert(1)</script>';
  const html = toHtml(withTag);
  assert.equal((html.match(/<\/script>/g) ?? []).length, 3, 'only the three scripts of the report close');
  assert.equal(reportFigures(html)[0]!.series[0], '</script><script>alert(1)</script> p50');
  const missing = toHtml(
    results([level(1000, 2)]),
    'cannot read dist/src/dashboard/ui/charts.js (ENOENT): build the dashboard code first (npm run build)',
  );
  assert.match(missing, /Charts unavailable: cannot read .*charts\.js \(ENOENT\): build the dashboard code first/);
  assert.doesNotMatch(missing, /<script/);
  assert.match(missing, /<td>1000 req\/s<\/td>/, 'the tables are still there');
  assert.match(
    readChartAssets('/nonexistent/charts.js') as string,
    /cannot read \/nonexistent\/charts\.js \(ENOENT\): build the dashboard code first \(npm run build\)/,
  );
});

test('table lists every level, the recommendation and generator CPU', () => {
  const table = formatTable(results([level(1000, 2), level(2000, 12)]));
  const [header, first, second] = table.split('\n');
  for (const unit of ['ok req/s', 'p50 ms', 'p99 ms', 'max ms', 'ok in SLO %', 'default %', 'error %', 'gen CPU %']) {
    assert.ok(header!.includes(unit), `header names ${unit}: ${header}`);
  }
  assert.match(first!, /^srv\s+1000 req\/s\s/);
  assert.match(second!, /^srv\s+2000 req\/s\s.*20\.00 q\s/);
  assert.match(table, /recommendation: srv: highest level/);
  assert.match(table, /generator CPU over the run: 55% of one core/);
});

test('svg: nice ticks cover the range; empty plots say so', () => {
  assert.deepEqual(niceTicks(0, 97), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const empty = linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [] }] });
  assert.match(empty, /no data/);
  assert.match(empty, /<\/svg>$/);
});
