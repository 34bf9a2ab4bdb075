// Metrics exposed by the query frontend: Prometheus text at GET /metrics (prom-client) and
// Clipper's JSON form at GET /metrics/json. Values are read from counters the hot path already
// keeps, at scrape time (collect callbacks), so serving queries costs nothing extra here.

import { Counter, Gauge, Registry } from 'prom-client';
import type { ReplicaStatus } from '../admin/admin_context.js';
import type { QueryCounters } from '../frontend/query_processor.js';

export class Metrics {
  readonly registry = new Registry();
  readonly #counters: QueryCounters;

  constructor(counters: QueryCounters, appCount: () => number, replicas: () => ReplicaStatus[]) {
    this.#counters = counters;
    const c = counters;
    const reg = [this.registry];
    new Counter({ name: 'clipper_queries_total', help: 'Queries received (each input of a batch counts)', registers: reg,
      collect() { this.reset(); this.inc(c.queries); } });
    new Counter({ name: 'clipper_default_outputs_total', help: 'Queries answered with the default output', registers: reg,
      collect() { this.reset(); this.inc(c.defaults); } });
    new Counter({ name: 'clipper_slo_misses_total', help: 'Queries answered with the default output at their deadline', registers: reg,
      collect() { this.reset(); this.inc(c.sloMisses); } });
    new Gauge({ name: 'clipper_applications', help: 'Registered applications', registers: reg,
      collect() { this.set(appCount()); } });
    new Gauge({ name: 'clipper_replicas', help: 'Replicas by model and connection state', labelNames: ['model', 'version', 'connected'],
      registers: reg,
      collect() {
        this.reset();
        for (const r of replicas()) this.inc({ model: r.model, version: r.version, connected: String(r.connected) });
      } });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Clipper's JSON shape (spec §8.1), with numbers as numbers (Clipper stringified them). */
  clipperJson(): string {
    const c = this.#counters;
    return JSON.stringify({
      counters: [
        { 'internal:aggregate_num_predictions': { count: c.queries } },
      ],
      ratio_counters: [
        { 'internal:default_prediction_ratio': { ratio: c.answered === 0 ? null : c.defaults / c.answered } },
      ],
      meters: [],
      histograms: [],
    });
  }
}
