// The project's charts, drawn with uPlot: a line chart (time series on the dashboard, x/y series in
// the bench report) and a bar chart (a batch-size distribution), in one look: system font, light
// grid, the accent blue first. Shared by the dashboard page and tools/loadgen/report.ts, which
// inlines this compiled file into its one-file HTML report; so it imports nothing at run time and
// finds uPlot as the global its bundled script (uPlot.iife.min.js) defines.

import type uPlot from 'uplot';
import type { Columns, FigureSpec } from './types.js';

/** Series colours: the accent first. */
export const kPalette = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

const kFont = '11px system-ui, -apple-system, "Segoe UI", sans-serif';
const kLabelFont = '12px system-ui, -apple-system, "Segoe UI", sans-serif';

/**
 * The look of a chart's frame, added to the page once as a <style> (the report has no stylesheet of
 * ours). The dashboard has the same rules in dashboard.css, since its CSP refuses inline styles.
 */
export const kChartCss = `
.clp-chart{min-width:0;background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:4px 6px}
.clp-chart .u-title{font:600 13px system-ui,-apple-system,"Segoe UI",sans-serif;color:#111827;text-align:left;padding:2px 4px}
.clp-chart .u-legend{font:12px system-ui,-apple-system,"Segoe UI",sans-serif;color:#374151}
.clp-chart .u-legend .u-marker{width:10px;height:10px}
.clp-chart .u-legend th,.clp-chart .u-legend td{border:0;padding:0 4px;text-align:left;background:none}
.clp-chart-empty{font:12px system-ui,sans-serif;color:#6b7280;padding:6px}
`;

export interface SeriesStyle {
  name: string;
  /** Defaults to the palette colour of its position. */
  colour?: string;
  /** A dashed line (a limit such as the SLO). */
  dashed?: boolean;
}

export interface LineSpec {
  title: string;
  yLabel: string;
  /** Absent: a time axis (x in seconds since the epoch). */
  xLabel?: string;
  series: SeriesStyle[];
  /** y from 0 to 100 (shares in percent); else from 0 to a little above the largest value. */
  percent?: boolean;
  /** A logarithmic y axis (latency from a fraction of a millisecond up to the SLO). */
  log?: boolean;
  /** Markers on each point (few points, as in the report). */
  points?: boolean;
  /** The legend shows the values under the cursor (else only the series names). */
  liveLegend?: boolean;
  height?: number;
}

export interface BarSpec {
  title: string;
  yLabel: string;
  xLabel: string;
  series: string;
  height?: number;
}

export interface Chart {
  readonly host: HTMLElement;
  /** New data; `labels` renames the bars of a bar chart. */
  update(columns: Columns, labels?: string[]): void;
  /** Follows the host's width (call on window resize). */
  resize(): void;
  destroy(): void;
}

interface UPlotGlobal {
  uPlot?: typeof uPlot;
}

function uPlotClass(): typeof uPlot {
  const ctor = (globalThis as UPlotGlobal).uPlot;
  if (ctor === undefined) throw new Error('uPlot is not loaded: the page must load uPlot.iife.min.js before the charts');
  return ctor;
}

/** Adds kChartCss, unless the page has it already: a <style> added before, or a <link> with that id (dashboard.html). */
function ensureStyle(): void {
  if (document.getElementById('clp-chart-style') !== null) return;
  const style = document.createElement('style');
  style.id = 'clp-chart-style';
  style.textContent = kChartCss;
  document.head.appendChild(style);
}

/** From 0 (or the lowest value, when negative) to a little above the largest; 0..1 when there is no data. */
function zeroBased(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  const lo = min !== null && Number.isFinite(min) ? Math.min(0, min) : 0;
  const hi = max !== null && Number.isFinite(max) && max > lo ? max * 1.1 : lo + 1;
  return [lo, hi];
}

function yScale(spec: LineSpec): uPlot.Scale {
  if (spec.log === true) return { distr: 3, log: 10 };
  return { range: spec.percent === true ? [0, 100] : zeroBased };
}

/** Powers of ten across a log scale: a grid line per decade, not per 2, 3, … 9 × 10^n. */
function decades(_u: uPlot, _axis: number, min: number, max: number): number[] {
  const out: number[] = [];
  for (let e = Math.ceil(Math.log10(min) - 1e-9); e <= Math.floor(Math.log10(max) + 1e-9); e++) out.push(10 ** e);
  return out.length > 0 ? out : [min, max];
}

const two = (n: number): string => String(n).padStart(2, '0');

/** Time ticks as local wall-clock time, "14:05:30": the last minutes fit one line, no date. */
function clockTimes(_u: uPlot, splits: number[]): string[] {
  return splits.map((s) => {
    const d = new Date(s * 1000);
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  });
}

function axis(label: string | undefined): uPlot.Axis {
  return {
    stroke: '#4b5563',
    font: kFont,
    labelFont: kLabelFont,
    grid: { stroke: '#eef0f3', width: 1 },
    ticks: { stroke: '#d1d5db', width: 1, size: 4 },
    ...(label === undefined ? {} : { label, labelSize: 18 }),
  };
}

function widthOf(host: HTMLElement): number {
  return Math.max(200, Math.floor(host.clientWidth - 14));
}

function seriesOf(spec: LineSpec): uPlot.Series[] {
  return spec.series.map((s, i) => ({
    label: s.name,
    stroke: s.colour ?? kPalette[i % kPalette.length],
    width: s.dashed === true ? 1.5 : 2,
    ...(s.dashed === true ? { dash: [6, 4] } : {}),
    // Markers always in the report; on the dashboard uPlot shows them only where points are sparse.
    ...(spec.points === true ? { points: { show: true, size: 6 } } : {}),
    spanGaps: spec.points === true,
  }));
}

/** A line chart in `host`; x is time unless the spec names an x label. */
export function lineChart(host: HTMLElement, spec: LineSpec, columns: Columns): Chart {
  ensureStyle();
  host.classList.add('clp-chart');
  const time = spec.xLabel === undefined;
  const opts: uPlot.Options = {
    title: spec.title,
    width: widthOf(host),
    height: spec.height ?? 160,
    scales: { x: { time }, y: yScale(spec) },
    axes: [
      time ? { ...axis(undefined), space: 70, values: clockTimes } : axis(spec.xLabel),
      { ...axis(spec.yLabel), size: 52, ...(spec.log === true ? { splits: decades } : {}) },
    ],
    series: [{ label: time ? 'time' : (spec.xLabel ?? 'x') }, ...seriesOf(spec)],
    cursor: { drag: { x: false, y: false, setScale: false } },
    legend: { show: true, live: spec.liveLegend === true },
  };
  return wrap(host, new (uPlotClass())(opts, columns as uPlot.AlignedData, host));
}

/** Bar names, every k-th one when they would not fit (about 30 px each). */
function thinned(u: uPlot, splits: number[], names: string[]): string[] {
  const step = Math.max(1, Math.ceil((splits.length * 30) / Math.max(1, u.bbox.width / devicePixelRatio)));
  return splits.map((i) => (i % step === 0 ? (names[i] ?? '') : ''));
}

/** A bar chart in `host`: x is the bar's index, `labels` its names on the axis. */
export function barChart(host: HTMLElement, spec: BarSpec, columns: Columns, labels: string[]): Chart {
  ensureStyle();
  host.classList.add('clp-chart');
  const U = uPlotClass();
  let names = labels;
  const bars = U.paths.bars?.({ size: [0.7, 48], align: 0 });
  const opts: uPlot.Options = {
    title: spec.title,
    width: widthOf(host),
    height: spec.height ?? 160,
    scales: {
      x: { time: false, range: (u) => [-0.5, Math.max(0.5, (u.data[0]?.length ?? 1) - 0.5)] },
      y: { range: zeroBased },
    },
    axes: [
      {
        ...axis(spec.xLabel),
        splits: (u) => Array.from(u.data[0] ?? [], (_, i) => i),
        values: (u, splits) => thinned(u, splits, names),
      },
      { ...axis(spec.yLabel), size: 52 },
    ],
    series: [
      { label: spec.xLabel },
      {
        label: spec.series,
        stroke: kPalette[0],
        fill: `${kPalette[0]}99`,
        width: 1,
        ...(bars ? { paths: bars } : {}),
        points: { show: false },
      },
    ],
    cursor: { drag: { x: false, y: false, setScale: false } },
    legend: { show: false },
  };
  const chart = wrap(host, new U(opts, columns as uPlot.AlignedData, host));
  return {
    host,
    update(next: Columns, nextLabels?: string[]): void {
      if (nextLabels !== undefined) names = nextLabels;
      chart.update(next);
    },
    resize: () => chart.resize(),
    destroy: () => chart.destroy(),
  };
}

function wrap(host: HTMLElement, u: uPlot): Chart {
  return {
    host,
    update(columns: Columns): void {
      u.setData(columns as uPlot.AlignedData);
    },
    resize(): void {
      const width = widthOf(host);
      if (width !== u.width) u.setSize({ width, height: u.height });
    },
    destroy(): void {
      u.destroy();
    },
  };
}

/** The bench report's figures, one chart each, appended to `root`. */
export function renderFigures(root: HTMLElement, figures: FigureSpec[]): Chart[] {
  return figures.map((f) => {
    const host = document.createElement('div');
    host.className = 'clp-figure';
    root.appendChild(host);
    if (f.columns[0].length === 0) {
      ensureStyle();
      host.classList.add('clp-chart');
      host.innerHTML = `<div class="u-title"></div><div class="clp-chart-empty">no data</div>`;
      host.firstElementChild!.textContent = f.title;
      return { host, update: () => {}, resize: () => {}, destroy: () => host.remove() };
    }
    const spec: LineSpec = {
      title: f.title,
      xLabel: f.xLabel,
      yLabel: f.yLabel,
      series: f.series.map((name) => ({ name })),
      points: true,
      liveLegend: true,
      height: 260,
    };
    if (f.percent === true) spec.percent = true;
    return lineChart(host, spec, f.columns);
  });
}
