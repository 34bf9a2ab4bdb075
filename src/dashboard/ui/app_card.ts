// One application's card: its figures for the last interval, charts of the last five minutes
// (throughput; p50/p99 latency with the SLO as a dashed line; SLO attainment and default share;
// the selection policy's weights per model for multi-model apps) and the SLO action.

import { actionForm, type AdminActions, field, readNumber } from './actions.js';
import { type Chart, lineChart } from './charts.js';
import { h, setText, stat } from './dom.js';
import { formatMs, formatNumber, formatReasons, formatShare } from './format.js';
import type { AppColumns } from './series.js';
import type { AppSnapshot } from './types.js';

interface AppCharts {
  throughput: Chart;
  latency: Chart;
  quality: Chart;
  /** Rebuilt when the set of models changes. */
  selection: { models: string; chart: Chart } | null;
}

const kStats = [
  ['qps', 'throughput'],
  ['p50', 'p50'],
  ['p99', 'p99'],
  ['slo', 'SLO'],
  ['attainment', 'within SLO'],
  ['defaultShare', 'default outputs'],
  ['shed', 'shed'],
  ['cache', 'cache hits'],
] as const;

export class AppCard {
  readonly root: HTMLElement;
  readonly #meta: HTMLElement;
  readonly #reasons: HTMLElement;
  readonly #stats = new Map<string, HTMLElement>();
  readonly #chartGrid: HTMLElement;
  #charts: AppCharts | null = null;
  readonly #sloInput: HTMLInputElement;

  constructor(name: string, actions: AdminActions) {
    this.#meta = h('p', { class: 'card-meta' });
    this.#reasons = h('p', { class: 'card-meta', attrs: { 'data-stat': 'defaultReasons' } });
    const stats = h('div', { class: 'stats' });
    for (const [key, label] of kStats) this.#stats.set(key, stat(stats, label, key));
    this.#chartGrid = h('div', { class: 'charts' });
    const sloInput = h('input', { attrs: { type: 'number', name: 'slo_ms', min: '0.001', step: 'any', placeholder: 'ms' } });
    this.#sloInput = sloInput;
    const form = actionForm('slo', [field('SLO (ms)', sloInput)], 'Set SLO', () => {
      const ms = readNumber(sloInput, 'the SLO in milliseconds', false);
      if (typeof ms === 'string') return ms;
      return actions.setSlo(name, Math.round(ms * 1000));
    });
    this.root = h(
      'section',
      { class: 'card app-card', attrs: { 'data-app': name } },
      h('h3', {}, h('span', { class: 'kind', text: 'app' }), ` ${name}`),
      this.#meta,
      stats,
      this.#reasons,
      this.#chartGrid,
      h('div', { class: 'actions' }, form),
    );
  }

  /** Call once the card is in the document (the charts take its width). */
  update(app: AppSnapshot, cols: AppColumns): void {
    const s = (key: string, text: string): void => setText(this.#stats.get(key)!, text);
    s('qps', `${formatNumber(app.qps)} q/s`);
    s('p50', formatMs(app.latencyMsP50));
    s('p99', formatMs(app.latencyMsP99));
    s('slo', formatMs(app.sloMicros / 1000));
    this.#sloInput.placeholder = String(app.sloMicros / 1000);
    s('attainment', formatShare(app.sloAttainment));
    s('defaultShare', formatShare(app.defaultShare));
    s('shed', formatNumber(app.shed));
    s('cache', formatShare(app.cacheHitRatio));
    const models = app.linkedModels.length === 0 ? 'no linked model' : `models ${app.linkedModels.join(', ')}`;
    setText(this.#meta, `policy ${app.policy} · ${models} · default output ${JSON.stringify(app.defaultOutput)}`);
    setText(this.#reasons, `default outputs by reason (last interval): ${formatReasons(app.defaultReasons)}`);
    this.#draw(cols);
  }

  #draw(cols: AppColumns): void {
    if (this.#charts === null) {
      const cell = (): HTMLElement => this.#chartGrid.appendChild(h('div', { class: 'chart-cell' }));
      this.#charts = {
        throughput: lineChart(cell(), { title: 'Throughput', yLabel: 'queries/s', series: [{ name: 'q/s' }] }, cols.throughput),
        latency: lineChart(
          cell(),
          {
            title: 'Latency',
            yLabel: 'ms (log)',
            log: true,
            series: [{ name: 'p50' }, { name: 'p99' }, { name: 'SLO', colour: '#374151', dashed: true }],
          },
          cols.latency,
        ),
        quality: lineChart(
          cell(),
          { title: 'SLO attainment', yLabel: '%', percent: true, series: [{ name: 'within SLO' }, { name: 'default output' }] },
          cols.quality,
        ),
        selection: null,
      };
    } else {
      this.#charts.throughput.update(cols.throughput);
      this.#charts.latency.update(cols.latency);
      this.#charts.quality.update(cols.quality);
    }
    this.#drawSelection(this.#charts, cols);
  }

  /** Selection weights: only for apps with several models; a new set of models gets a new chart. */
  #drawSelection(charts: AppCharts, cols: AppColumns): void {
    const models = cols.selectionModels.join('\n');
    if (charts.selection !== null && charts.selection.models === models) return charts.selection.chart.update(cols.selection);
    if (charts.selection !== null) {
      charts.selection.chart.destroy();
      charts.selection.chart.host.remove();
      charts.selection = null;
    }
    if (cols.selectionModels.length < 2) return;
    const host = this.#chartGrid.appendChild(h('div', { class: 'chart-cell' }));
    const series = cols.selectionModels.map((name) => ({ name }));
    const chart = lineChart(host, { title: 'Selection weights', yLabel: '% of weight', percent: true, series }, cols.selection);
    charts.selection = { models, chart };
  }

  resize(): void {
    if (this.#charts === null) return;
    for (const c of [this.#charts.throughput, this.#charts.latency, this.#charts.quality, this.#charts.selection?.chart]) c?.resize();
  }

  destroy(): void {
    if (this.#charts !== null) {
      for (const c of [this.#charts.throughput, this.#charts.latency, this.#charts.quality, this.#charts.selection?.chart]) c?.destroy();
    }
    this.root.remove();
  }
}
