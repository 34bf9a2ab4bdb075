// One model version's card: its figures for the last interval, charts of the last five minutes
// (throughput, mean batch size, queue time vs model time) and of the latest interval's batch sizes
// (bars), the replica table, and the actions: replica count and batch mode (adaptive or fixed N).

import { actionForm, type AdminActions, field, readNumber } from './actions.js';
import { barChart, type Chart, lineChart } from './charts.js';
import { h, setText, stat } from './dom.js';
import { formatMs, formatNumber } from './format.js';
import { histogramBars, type ModelColumns } from './series.js';
import type { ModelSnapshot, ReplicaSnapshot } from './types.js';

interface ModelCharts {
  throughput: Chart;
  batchSize: Chart;
  histogram: Chart;
  times: Chart;
}

const kStats = [
  ['qps', 'throughput'],
  ['batchMean', 'mean batch'],
  ['batchMode', 'batch mode'],
  ['queue', 'queue time'],
  ['model', 'model time'],
  ['replicas', 'replicas up / wanted'],
] as const;

export class ModelCard {
  readonly root: HTMLElement;
  readonly #badge: HTMLElement;
  readonly #stats = new Map<string, HTMLElement>();
  readonly #chartGrid: HTMLElement;
  readonly #replicaRows: HTMLTableSectionElement;
  #charts: ModelCharts | null = null;
  /** Shows the server's values in the action controls the user has not touched. */
  readonly #syncForms: Array<(model: ModelSnapshot) => void> = [];

  constructor(name: string, version: string, actions: AdminActions) {
    this.#badge = h('span', { class: 'badge', text: 'current version', attrs: { hidden: '' } });
    const stats = h('div', { class: 'stats' });
    for (const [key, label] of kStats) this.#stats.set(key, stat(stats, label, key));
    this.#chartGrid = h('div', { class: 'charts' });
    this.#replicaRows = h('tbody');
    const head = h('tr', {}, ...['replica', 'address', 'state', 'health', 'connected', 'restarts'].map((t) => h('th', { text: t })));
    const table = h('table', { class: 'replicas' }, h('thead', {}, head), this.#replicaRows);
    this.root = h(
      'section',
      { class: 'card model-card', attrs: { 'data-model': name, 'data-version': version } },
      h('h3', {}, h('span', { class: 'kind', text: 'model' }), ` ${name}:${version} `, this.#badge),
      stats,
      this.#chartGrid,
      table,
      h('div', { class: 'actions' }, this.#form(replicasForm(name, version, actions)), this.#form(batchForm(name, version, actions))),
    );
  }

  #form(f: ActionControls): HTMLFormElement {
    this.#syncForms.push(f.sync);
    return f.form;
  }

  /** Call once the card is in the document (the charts take its width). */
  update(model: ModelSnapshot, cols: ModelColumns): void {
    const s = (key: string, text: string): void => setText(this.#stats.get(key)!, text);
    s('qps', `${formatNumber(model.qps)} q/s`);
    s('batchMean', formatNumber(model.batchSizeMean));
    s('batchMode', model.batchMode === 'adaptive' ? 'adaptive' : `fixed ≤ ${model.batchMode}`);
    s('queue', formatMs(model.queueMsMean));
    s('model', formatMs(model.modelMsMean));
    s('replicas', `${model.replicas.filter((r) => r.connected).length} / ${model.numReplicas}`);
    this.root.classList.toggle('current', model.current);
    this.#badge.hidden = !model.current;
    this.#replicaRows.replaceChildren(...model.replicas.map(replicaRow));
    for (const sync of this.#syncForms) sync(model);
    this.#draw(model, cols);
  }

  #draw(model: ModelSnapshot, cols: ModelColumns): void {
    const bars = histogramBars(model.batchSizeHistogram);
    if (this.#charts !== null) {
      this.#charts.throughput.update(cols.throughput);
      this.#charts.batchSize.update(cols.batchSize);
      this.#charts.histogram.update(bars.columns, bars.labels);
      this.#charts.times.update(cols.times);
      return;
    }
    const cell = (): HTMLElement => this.#chartGrid.appendChild(h('div', { class: 'chart-cell' }));
    this.#charts = {
      throughput: lineChart(cell(), { title: 'Throughput', yLabel: 'queries/s', series: [{ name: 'q/s' }] }, cols.throughput),
      batchSize: lineChart(cell(), { title: 'Mean batch size', yLabel: 'queries', series: [{ name: 'mean batch' }] }, cols.batchSize),
      histogram: barChart(
        cell(),
        { title: 'Batch sizes (last interval)', xLabel: 'batch size', yLabel: 'batches', series: 'batches' },
        bars.columns,
        bars.labels,
      ),
      times: lineChart(cell(), { title: 'Queue vs model time', yLabel: 'ms', series: [{ name: 'queue' }, { name: 'model' }] }, cols.times),
    };
  }

  resize(): void {
    if (this.#charts !== null) for (const c of Object.values(this.#charts)) c.resize();
  }

  destroy(): void {
    if (this.#charts !== null) for (const c of Object.values(this.#charts)) c.destroy();
    this.root.remove();
  }
}

function replicaRow(r: ReplicaSnapshot): HTMLTableRowElement {
  const cells = [String(r.id), `${r.host}:${r.port}`, r.state, r.health, r.connected ? 'yes' : 'no', String(r.restarts)];
  const row = h('tr', { attrs: { 'data-replica': String(r.id) } }, ...cells.map((t) => h('td', { text: t })));
  row.classList.toggle('bad', !r.connected || r.health === 'unhealthy');
  return row;
}

/** An action's form and how it shows the server's current value. */
interface ActionControls {
  form: HTMLFormElement;
  sync(model: ModelSnapshot): void;
}

function replicasForm(name: string, version: string, actions: AdminActions): ActionControls {
  const input = h('input', { attrs: { type: 'number', name: 'num_replicas', min: '0', step: '1' } });
  const form = actionForm('replicas', [field('Replicas', input)], 'Set replicas', () => {
    const n = readNumber(input, 'a whole number of replicas', true);
    return typeof n === 'string' ? n : actions.setReplicas(name, version, n);
  });
  const sync = (m: ModelSnapshot): void => {
    input.placeholder = String(m.numReplicas);
  };
  return { form, sync };
}

function batchForm(name: string, version: string, actions: AdminActions): ActionControls {
  const mode = h('select', { attrs: { name: 'batch_mode' } }, h('option', { text: 'adaptive', attrs: { value: 'adaptive' } }));
  mode.append(h('option', { text: 'fixed', attrs: { value: 'fixed' } }));
  const size = h('input', { attrs: { type: 'number', name: 'batch_size', min: '1', step: '1', placeholder: 'N' } });
  size.disabled = true;
  let touched = false;
  mode.addEventListener('change', () => {
    touched = true;
    size.disabled = mode.value !== 'fixed';
  });
  const sync = (m: ModelSnapshot): void => {
    size.placeholder = m.batchMode === 'adaptive' ? 'N' : String(m.batchMode);
    if (touched) return; // the user's choice stays until they apply it
    mode.value = m.batchMode === 'adaptive' ? 'adaptive' : 'fixed';
    size.disabled = mode.value !== 'fixed';
  };
  const form = actionForm('batch', [field('Batch mode', mode), field('max', size)], 'Set batch mode', () => {
    if (mode.value === 'adaptive') return actions.setBatchSize(name, version, -1);
    const n = readNumber(size, 'the fixed maximum batch size (a whole number ≥ 1)', true);
    return typeof n === 'string' ? n : actions.setBatchSize(name, version, n);
  });
  return { form, sync };
}
