// Discrete-event simulation of a whole pipeline under a workload, on a SimClock: the planner's
// estimate of what a configuration (per model: batch size and replicas) does to end-to-end latency.
// Each query arrives (workload.ts, seeded), gets one deadline (arrival + SLO) and runs through the
// stages (sim_query.ts); each model is its real ModelScheduler in front of simulated replicas
// (sim_model.ts). A query that fails a stage (a call dropped by a scheduler or answered after its
// budget, a cascade's only once no next level can be asked) misses the SLO and counts with latency
// SLO + 1 µs. An answered query's latency is its time in the server plus the profile's edge overhead
// (the HTTP parse and answer, once per query). Outcomes count the queries arriving in
// [warmupMs, durationMs); the run goes on until every query has ended.
//
// Seeds: the arrivals use `seed`; the cascade draws and each model's latency noise have streams of
// their own derived from it, so a configuration change leaves the arrivals and the draws as they were.

import { ClipperError } from '../errors.js';
import { createPrng } from '../lib/prng.js';
import { SimClock } from '../lib/sim_clock.js';
import type { PipelineSpec, WorkloadSpec } from '../pipeline_spec.js';
import type { PipelineProfile } from './profile.js';
import { compileSimGraph, type SimGraph } from './sim_graph.js';
import { type CallEnd, SimModel } from './sim_model.js';
import { type QueryHost, SimQuery } from './sim_query.js';
import { arrivalTimesMs } from './workload.js';

export interface PipelineConfig {
  /** Per model: a fixed maximum batch size, or -1 adaptive (AIMD); and its replica count. */
  models: Map<string, { batchSize: number; replicas: number }>;
}

export interface SimOutcome {
  p50Us: number;
  p99Us: number;
  /** Queries answered within the SLO per second. */
  throughputQps: number;
  sloMissRatio: number;
  offered: number;
  /** Queries answered within the SLO. */
  completed: number;
  /** Per model, the mean size of the batches it was sent. */
  meanBatch: Map<string, number>;
  /** Per model, the misses whose failing call was to that model. */
  missesByModel: Map<string, number>;
  /** Per model, the share of its replicas' time spent on batches. */
  utilization: Map<string, number>;
  /** Per model, the calls it was sent over the whole run (warmup included). */
  callsByModel: Map<string, number>;
}

export interface SimOptions {
  seed: number;
  durationMs: number;
  warmupMs: number;
}

/** A 32-bit FNV-1a hash of a name: a per-model seed offset. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function checkOptions(sloUs: number, options: SimOptions): void {
  const bad = (field: string, value: number): never => {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `pipeline simulation: ${field} out of range (got ${value})`);
  };
  if (!(sloUs > 0) || !Number.isFinite(sloUs)) bad('sloUs', sloUs);
  if (!Number.isInteger(options.seed)) bad('seed', options.seed);
  if (!(options.durationMs > 0) || !Number.isFinite(options.durationMs)) bad('durationMs', options.durationMs);
  if (!(options.warmupMs >= 0 && options.warmupMs < options.durationMs)) bad('warmupMs', options.warmupMs);
}

class PipelineSimulation implements QueryHost {
  readonly graph: SimGraph;
  readonly #clock = new SimClock();
  readonly #models = new Map<string, SimModel>();
  readonly #sloUs: number;
  readonly #options: SimOptions;
  readonly #latenciesUs: number[] = [];
  readonly #misses = new Map<string, number>();
  readonly #edgeUs: number;
  #open = 0;
  #completed = 0;

  constructor(graph: SimGraph, profile: PipelineProfile, config: PipelineConfig, sloUs: number, options: SimOptions) {
    this.graph = graph;
    this.#sloUs = sloUs;
    this.#options = options;
    this.#edgeUs = profile.edgeOverheadUs ?? 0;
    for (const name of graph.models) {
      const c = config.models.get(name);
      if (c === undefined) throw new ClipperError('CLP_ERR_INVALID_ARG', `pipeline simulation: no configuration for model '${name}'`);
      if (!(Number.isInteger(c.replicas) && c.replicas >= 1)) {
        throw new ClipperError('CLP_ERR_INVALID_ARG', `pipeline simulation: model '${name}' replicas must be an integer >= 1`);
      }
      const prng = createPrng((options.seed ^ hashName(name)) | 0);
      this.#models.set(name, new SimModel(profile.models.get(name)!, c, this.#clock, prng));
      this.#misses.set(name, 0);
    }
  }

  nowMs(): number {
    return this.#clock.nowMs();
  }

  call(model: string, deadlineMs: number, done: (end: CallEnd) => void): () => void {
    const m = this.#models.get(model)!;
    const token = m.submit(deadlineMs, done);
    return () => m.cancel(token);
  }

  at(atMs: number, fn: () => void): () => void {
    const timer = this.#clock.setTimer(atMs - this.#clock.nowMs(), fn);
    return () => this.#clock.clearTimer(timer);
  }

  finish(query: SimQuery, atMs: number, failedModel: string | null): void {
    this.#open--;
    if (query.arrivalMs < this.#options.warmupMs) return;
    const latencyUs = (atMs - query.arrivalMs) * 1000 + this.#edgeUs;
    if (failedModel === null && latencyUs <= this.#sloUs) {
      this.#completed++;
      this.#latenciesUs.push(latencyUs);
      return;
    }
    this.#latenciesUs.push(this.#sloUs + 1);
    if (failedModel !== null) this.#misses.set(failedModel, this.#misses.get(failedModel)! + 1);
  }

  run(workload: WorkloadSpec): SimOutcome {
    const { seed, durationMs, warmupMs } = this.#options;
    const arrivals = arrivalTimesMs(workload, durationMs, seed);
    const fallthroughPrng = createPrng((seed ^ 0x2545f491) | 0);
    const clock = this.#clock;
    let next = 0;
    const arrive = (): void => {
      const query = new SimQuery(this, clock.nowMs(), this.#sloUs / 1000, fallthroughPrng);
      this.#open++;
      next++;
      if (next < arrivals.length) clock.setTimer(arrivals[next]! - clock.nowMs(), arrive);
      query.start();
    };
    if (arrivals.length > 0) clock.setTimer(arrivals[0]!, arrive);
    clock.runUntil(Number.POSITIVE_INFINITY);
    let stuck = this.#open;
    for (const m of this.#models.values()) stuck += m.openCount;
    if (stuck !== 0) throw new Error(`pipeline simulation (seed ${seed}): ${stuck} queries or calls never ended`);
    const runMs = clock.nowMs();
    for (const m of this.#models.values()) m.close();
    const sorted = this.#latenciesUs.sort((a, b) => a - b);
    const offered = sorted.length;
    const pick = <T>(f: (m: SimModel) => T): Map<string, T> => new Map([...this.#models].map(([name, m]) => [name, f(m)]));
    return {
      p50Us: quantile(sorted, 0.5),
      p99Us: quantile(sorted, 0.99),
      throughputQps: (this.#completed / (durationMs - warmupMs)) * 1000,
      sloMissRatio: offered > 0 ? (offered - this.#completed) / offered : 0,
      offered,
      completed: this.#completed,
      meanBatch: pick((m) => m.meanBatch),
      missesByModel: new Map(this.#misses),
      utilization: pick((m) => m.utilization(runMs)),
      callsByModel: pick((m) => m.callCount),
    };
  }
}

/**
 * Simulates `spec` under `workload` with `config`: a pure function of its arguments (same inputs and
 * seed, same outcome). Throws ClipperError 400 for a model without profile or configuration.
 */
export function simulatePipeline(
  spec: PipelineSpec,
  profile: PipelineProfile,
  config: PipelineConfig,
  workload: WorkloadSpec,
  sloUs: number,
  options: SimOptions,
): SimOutcome {
  checkOptions(sloUs, options);
  return new PipelineSimulation(compileSimGraph(spec, profile, sloUs), profile, config, sloUs, options).run(workload);
}
