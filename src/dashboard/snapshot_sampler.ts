// The dashboard's sampler: every intervalMs, while at least one dashboard stream is open, it reads
// the cluster's counters (DashboardSources), builds a Snapshot of the interval (snapshot_builder.ts),
// keeps the last historyMax of them in a ring (a reload or a reconnect shows the last 5 minutes) and
// hands each new one to the subscribers. With no subscriber it keeps its ring and does nothing, so a
// server with no dashboard open does no extra work. Time and timers come from the injected Clock.

import { systemClock, type Clock } from '../lib/clock.js';
import { SnapshotBuilder } from './snapshot_builder.js';
import type { DashboardSources, Snapshot } from './snapshot_types.js';

export interface SamplerOptions {
  /** Time between snapshots (default 1000). */
  intervalMs?: number;
  /** Snapshots kept for a new stream's history (default 300: 5 minutes at 1 s). */
  historyMax?: number;
  /** nowMs() must be ms since the epoch (systemClock's is); default systemClock. */
  clock?: Clock;
}

export type SnapshotListener = (snapshot: Snapshot) => void;

export const kDefaultIntervalMs = 1000;
export const kDefaultHistoryMax = 300;

export class SnapshotSampler {
  readonly intervalMs: number;
  readonly historyMax: number;
  readonly #sources: DashboardSources;
  readonly #clock: Clock;
  readonly #builder = new SnapshotBuilder();
  readonly #ring: Snapshot[] = [];
  readonly #listeners = new Set<SnapshotListener>();
  /** The ring as a history event's JSON, encoded once per new snapshot however many streams open. */
  #historyJson: string | null = null;
  #timer: unknown = undefined;
  /** A sample is being gathered (the workers' stats are on their way): a tick meanwhile is skipped. */
  #busy = false;
  /** Bumped at every start and stop, so a sample that was started before is dropped. */
  #generation = 0;
  #closed = false;

  constructor(sources: DashboardSources, options: SamplerOptions = {}) {
    this.#sources = sources;
    this.intervalMs = options.intervalMs ?? kDefaultIntervalMs;
    this.historyMax = options.historyMax ?? kDefaultHistoryMax;
    this.#clock = options.clock ?? systemClock;
    if (!(Number.isFinite(this.intervalMs) && this.intervalMs > 0)) throw new RangeError('intervalMs must be a positive number');
    if (!(Number.isInteger(this.historyMax) && this.historyMax > 0)) throw new RangeError('historyMax must be a positive integer');
  }

  /** The snapshots kept, oldest first (a copy). */
  history(): Snapshot[] {
    return [...this.#ring];
  }

  /** `{"intervalMs", "snapshots"}` (HistoryEvent) as JSON: encoded when first asked after a new snapshot, then reused. */
  historyJson(): string {
    this.#historyJson ??= JSON.stringify({ intervalMs: this.intervalMs, snapshots: this.#ring });
    return this.#historyJson;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  get subscriberCount(): number {
    return this.#listeners.size;
  }

  /** Receive each new snapshot; the first subscriber starts the sampling. Returns the unsubscribe. */
  subscribe(listener: SnapshotListener): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      this.#stop();
    };
  }

  /** Stops sampling and drops every subscriber (the ring stays readable). */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#stop();
  }

  #start(): void {
    this.#generation++;
    this.#builder.reset();
    this.#busy = false;
    this.#tick(); // the baseline: the first snapshot covers the interval from here
  }

  #stop(): void {
    this.#generation++;
    this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    this.#timer = this.#clock.setTimer(this.intervalMs, () => this.#tick());
    if (this.#busy) return; // the workers have not answered the last request yet: skip this one
    this.#busy = true;
    const generation = this.#generation;
    this.#sources.modelStats().then(
      (modelStats) => {
        if (generation !== this.#generation) return;
        this.#busy = false;
        const s = this.#sources;
        const input = {
          state: s.state(),
          appStats: s.appStats(),
          modelStats,
          replicas: s.replicas(),
          selectionWeights: (app: string) => s.selectionWeights(app),
        };
        const snapshot = this.#builder.build(input, this.#clock.nowMs());
        if (snapshot !== null) this.#publish(snapshot);
      },
      () => {
        // The workers could not answer (shutting down): no snapshot this time.
        if (generation === this.#generation) this.#busy = false;
      },
    );
  }

  #publish(snapshot: Snapshot): void {
    this.#ring.push(snapshot);
    if (this.#ring.length > this.historyMax) this.#ring.splice(0, this.#ring.length - this.historyMax);
    this.#historyJson = null;
    for (const listener of [...this.#listeners]) listener(snapshot);
  }
}
