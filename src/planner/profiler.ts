// The profiler behind `clipper plan` (docs/pipelines.md, "clipper plan"): for each model of a
// pipeline, t(n) measured on a real replica over a short sweep of batch sizes n = 1, 2, 4, … up to
// batchMax (the median of a few batches per size after warm-up ones, and a robust spread:
// robustSpread); each cascade's fall-through share per level from running the sample inputs through
// it (sample_flow.ts), with the samples it rests on; and the overheads, from probe queries through
// the running frontend, each bracketed by the server's statistics of the model version:
//   per call (hopOverheadUs)  the server's median batch round trip for the probes minus t(1): the
//                             replica hop beyond the model, paid by every model call;
//   per query (edgeOverheadUs) the probe's round trip minus the server's batch round trip and queue
//                             wait (HTTP parse, answer, the client), at a low percentile of every
//                             model's probes: paid once per pipeline query.
// The replicas, the frontend probe and its statistics are ports (profiler_replica.ts and hop_probe.ts
// in the command; fakes in tests), time is the injected clock.

import type { Clock } from '../lib/clock.js';
import { Prng } from '../lib/prng.js';
import type { InputType } from '../input_types.js';
import { pipelineModels, type PipelineSpec } from '../pipeline_spec.js';
import type { ModelProfile, PipelineProfile } from './profile.js';
import type { ReplicaPort } from './profiler_replica.js';
import { flowSamples } from './sample_flow.js';

export interface ProfiledModel {
  model: string;
  version: string;
  inputType: InputType;
}

export interface ProfilerPorts {
  /** A replica of the model to measure on (started or dialled); closed by the profiler. */
  open(model: ProfiledModel): Promise<ReplicaPort>;
  /** One query's round trip (µs) to the model through the running frontend; throws when it cannot be measured. */
  frontendRoundTripUs(model: ProfiledModel, input: unknown): Promise<number>;
  /** The server's totals for the model version (read around each probe); throws when they cannot be read. */
  serverTotals(model: ProfiledModel): Promise<ServerCallTotals>;
  clock: Clock;
}

/**
 * A model version's batching totals as the server counts them (its statistics): batches back from a
 * replica and their summed round trips, queries sent and their summed queue waits.
 */
export interface ServerCallTotals {
  batches: number;
  batchUs: number;
  queued: number;
  queueUs: number;
}

export interface ProfilerOptions {
  /** The largest batch size swept (1, 2, 4, … and this one). */
  batchMax: number;
  /** Measured batches per size (the median is kept). */
  reps: number;
  /** Batches per size sent first and not measured. */
  warmups: number;
  /** Measured frontend queries per model for the overheads (after kHopWarmups warm-ups). */
  hopQueries: number;
  seed: number;
}

export const kProfilerDefaults: ProfilerOptions = { batchMax: 32, reps: 5, warmups: 2, hopQueries: 20, seed: 1 };

/** Probe queries per model sent first and not measured (connections and caches warm). */
export const kHopWarmups = 2;
/** Per call, when the server cannot be asked (documented in docs/pipelines.md): a loopback hop on this VM. */
export const kDefaultHopOverheadUs = 300;
/** Per query, when no probe could be timed (documented in docs/pipelines.md): the HTTP edge on this VM. */
export const kDefaultEdgeOverheadUs = 1000;
/** The percentile the edge is taken at: a low one, robust to the stalls of a shared machine. */
const kEdgeQuantile = 0.25;
/** Probes the server's statistics must count alone for its per-call figure to be used. */
const kServerProbesMin = 3;

export interface ProfilerResult {
  profile: PipelineProfile;
  /** What did not go as planned (a hop overhead that fell back to the default), for the user. */
  notes: string[];
}

/** The sizes a sweep measures: powers of two below batchMax, then batchMax. */
export function sweepSizes(batchMax: number): number[] {
  const sizes: number[] = [];
  for (let n = 1; n < batchMax; n *= 2) sizes.push(n);
  sizes.push(batchMax);
  return sizes;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The value at quantile q of `values` (nearest rank below). */
export function lowQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

/**
 * A robust spread of repeated timings: 1.4826 × their median absolute deviation (the standard
 * deviation, for normal noise), the slowest repetition dropped first when there are 3 or more, so
 * that one stall on a shared machine does not become the model's noise.
 */
export function robustSpread(values: readonly number[]): number {
  const kept = values.length >= 3 ? [...values].sort((a, b) => a - b).slice(0, -1) : [...values];
  const center = median(kept);
  return 1.4826 * median(kept.map((v) => Math.abs(v - center)));
}

/** Times are kept to 0.1 µs: finer is clock noise, and the saved profile stays readable. */
function tenthUs(us: number): number {
  return Math.round(us * 10) / 10;
}

/** t(n) of one replica: per size, the median and robust spread (µs) of `reps` batches after `warmups`. */
export async function sweepLatency(
  port: ReplicaPort,
  inputs: readonly unknown[],
  options: Pick<ProfilerOptions, 'batchMax' | 'reps' | 'warmups'>,
  clock: Clock,
): Promise<{ latencyUs: Array<[number, number]>; latencyStdUs: Array<[number, number]> }> {
  const latencyUs: Array<[number, number]> = [];
  const latencyStdUs: Array<[number, number]> = [];
  let next = 0;
  const batchOf = (n: number): unknown[] => {
    const batch: unknown[] = [];
    for (let i = 0; i < n; i++) batch.push(inputs[next++ % inputs.length]);
    return batch;
  };
  for (const n of sweepSizes(options.batchMax)) {
    for (let i = 0; i < options.warmups; i++) await port.predict(batchOf(n));
    const times: number[] = [];
    for (let i = 0; i < options.reps; i++) {
      const batch = batchOf(n);
      const startMs = clock.nowMs();
      await port.predict(batch);
      times.push((clock.nowMs() - startMs) * 1000);
    }
    latencyUs.push([n, tenthUs(median(times))]);
    latencyStdUs.push([n, tenthUs(robustSpread(times))]);
  }
  return { latencyUs, latencyStdUs };
}

/**
 * An input unlike any the frontend has seen, so that its prediction cache cannot answer the probe:
 * a numeric input with its first element replaced by a random one; others as they are.
 */
function probeInput(input: unknown, inputType: InputType, prng: Prng): unknown {
  if (!Array.isArray(input) || input.length === 0) return input;
  const copy = [...input];
  copy[0] = inputType === 'integers' ? prng.nextInt(1 << 30) : prng.next();
  return copy;
}

interface Probe {
  roundTripUs: number;
  /** The server's batch round trip and queue wait for this probe, when its statistics counted it alone. */
  server: { batchUs: number; queueUs: number } | null;
}

/** Probes the model through the frontend, each bracketed by the server's totals; throws when a probe fails. */
async function probeModel(
  model: ProfiledModel,
  inputs: readonly unknown[],
  ports: ProfilerPorts,
  options: ProfilerOptions,
  prng: Prng,
): Promise<{ probes: Probe[]; statsError: string | null }> {
  const probe = (i: number): Promise<number> =>
    ports.frontendRoundTripUs(model, probeInput(inputs[i % inputs.length], model.inputType, prng));
  for (let i = 0; i < kHopWarmups; i++) await probe(i);
  let statsError: string | null = null;
  const totals = async (): Promise<ServerCallTotals | null> => {
    if (statsError !== null) return null;
    try {
      return await ports.serverTotals(model);
    } catch (err) {
      statsError = (err as Error).message;
      return null;
    }
  };
  let before = await totals();
  const probes: Probe[] = [];
  for (let i = 0; i < options.hopQueries; i++) {
    const roundTripUs = await probe(kHopWarmups + i);
    const after = await totals();
    const alone = before !== null && after !== null && after.batches - before.batches === 1 && after.queued - before.queued === 1;
    const server = alone ? { batchUs: after.batchUs - before!.batchUs, queueUs: after.queueUs - before!.queueUs } : null;
    probes.push({ roundTripUs, server });
    before = after;
  }
  return { probes, statsError };
}

/**
 * One model's per-call overhead (the server's median batch round trip minus t(1), at least 0) and
 * its probes' edge samples; defaults, with a note naming the model, when the frontend or the
 * server's statistics cannot be asked.
 */
async function callOverhead(
  model: ProfiledModel,
  inputs: readonly unknown[],
  t1Us: number,
  ports: ProfilerPorts,
  options: ProfilerOptions,
  prng: Prng,
  notes: string[],
): Promise<{ hopUs: number; edgeUs: number[] }> {
  let measured: Awaited<ReturnType<typeof probeModel>>;
  try {
    measured = await probeModel(model, inputs, ports, options, prng);
  } catch (err) {
    notes.push(
      `hop overhead of ${model.model}: the frontend could not be measured (${(err as Error).message}); ` +
        `using the default ${kDefaultHopOverheadUs} µs per call`,
    );
    return { hopUs: kDefaultHopOverheadUs, edgeUs: [] };
  }
  const split = measured.probes.filter((p) => p.server !== null);
  if (split.length >= kServerProbesMin) {
    const hopUs = Math.max(0, Math.round(median(split.map((p) => p.server!.batchUs)) - t1Us));
    return { hopUs, edgeUs: split.map((p) => Math.max(0, p.roundTripUs - p.server!.batchUs - p.server!.queueUs)) };
  }
  const why = measured.statsError ?? `it counted ${split.length} of ${measured.probes.length} probes alone (other traffic?)`;
  const aboveT1Us =
    lowQuantile(
      measured.probes.map((p) => p.roundTripUs),
      kEdgeQuantile,
    ) - t1Us;
  const hopUs = Math.max(0, Math.min(kDefaultHopOverheadUs, Math.round(aboveT1Us)));
  notes.push(
    `hop overhead of ${model.model}: the server's statistics could not split the round trip (${why}); ` +
      `using ${hopUs} µs per call (at most the default ${kDefaultHopOverheadUs} µs), the rest as the HTTP edge`,
  );
  return { hopUs, edgeUs: measured.probes.map((p) => Math.max(0, p.roundTripUs - t1Us - hopUs)) };
}

/** The per-query edge: a low percentile of every probe's, or the default (with a note) when none was timed. */
function edgeOverheadUs(samples: readonly number[], notes: string[]): number {
  if (samples.length > 0) return Math.round(lowQuantile(samples, kEdgeQuantile));
  notes.push(`edge overhead: no probe could be timed; using the default ${kDefaultEdgeOverheadUs} µs per query`);
  return kDefaultEdgeOverheadUs;
}

/** Profiles every model of the pipeline on `samples` (inputs of the app's input type). */
export async function profilePipeline(
  spec: PipelineSpec,
  models: ReadonlyMap<string, ProfiledModel>,
  samples: readonly unknown[],
  ports: ProfilerPorts,
  options: ProfilerOptions = kProfilerDefaults,
): Promise<ProfilerResult> {
  const names = pipelineModels(spec);
  const replicas = new Map<string, ReplicaPort>();
  const notes: string[] = [];
  const prng = new Prng(options.seed);
  try {
    for (const name of names) replicas.set(name, await ports.open(modelOf(models, name)));
    const inputTypes = new Map(names.map((name) => [name, modelOf(models, name).inputType]));
    const run = async (model: string, inputs: readonly unknown[]): Promise<unknown[]> => {
      const out: unknown[] = [];
      for (let i = 0; i < inputs.length; i += options.batchMax) {
        out.push(...(await replicas.get(model)!.predict(inputs.slice(i, i + options.batchMax))));
      }
      return out;
    };
    const flow = await flowSamples(spec, inputTypes, samples, run);
    const profiles = new Map<string, ModelProfile>();
    const edgeUs: number[] = [];
    for (const name of names) {
      const model = modelOf(models, name);
      const inputs = flow.modelInputs.get(name) ?? [...samples];
      const sweep = await sweepLatency(replicas.get(name)!, inputs, options, ports.clock);
      const t1Us = sweep.latencyUs[0]![1];
      const overhead = await callOverhead(model, inputs, t1Us, ports, options, prng, notes);
      edgeUs.push(...overhead.edgeUs);
      profiles.set(name, { model: name, version: model.version, ...sweep, hopOverheadUs: overhead.hopUs });
    }
    const profile: PipelineProfile = {
      models: profiles,
      fallthrough: flow.fallthrough,
      fallthroughSamples: flow.fallthroughSamples,
      edgeOverheadUs: edgeOverheadUs(edgeUs, notes),
    };
    return { profile, notes };
  } finally {
    await Promise.all([...replicas.values()].map((r) => r.close()));
  }
}

function modelOf(models: ReadonlyMap<string, ProfiledModel>, name: string): ProfiledModel {
  const model = models.get(name);
  if (model === undefined) throw new Error(`profilePipeline: no model record for '${name}'`);
  return model;
}
