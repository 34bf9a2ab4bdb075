// What the planner knows of a pipeline's models: each model's measured batch latency t(n) (median
// and spread per batch size), the per-call overhead inside the server outside the model (the
// replica hop beyond t(n)), the per-query overhead at the HTTP edge (parse, answer: paid once per
// query), and each cascade's measured fall-through shares with the sample counts they rest on (their
// standard error: fallthroughStdError). The profiler (profiler.ts) measures it;
// `clipper plan --save-profile` writes it as JSON (profileToJson) and `--profile` reads it back
// (profileFromJson), so a plan can be replayed without replicas.

import { ClipperError } from '../errors.js';

export interface ModelProfile {
  model: string;
  version: string;
  /** Mean batch latency: [batch size, µs], batch sizes ascending. */
  latencyUs: Array<[number, number]>;
  /** Standard deviation of the batch latency: [batch size, µs], batch sizes ascending (may be empty). */
  latencyStdUs: Array<[number, number]>;
  /** Time a call spends inside the server outside the model (the replica hop beyond t(n)), per batch (µs). */
  hopOverheadUs: number;
}

export interface PipelineProfile {
  models: Map<string, ModelProfile>;
  /** Per cascade stage: the share of queries that fall through after each of its models but the last. */
  fallthrough: Map<string, number[]>;
  /** Per cascade stage: the samples each share was measured on (absent: not known). */
  fallthroughSamples?: Map<string, number[]>;
  /** Per query, once: the HTTP edge (request parse, answer, client) beyond the server's calls (µs); absent: 0. */
  edgeOverheadUs?: number;
}

/** A profile as JSON (Maps as objects). */
export interface PipelineProfileJson {
  models: Record<string, ModelProfile>;
  fallthrough: Record<string, number[]>;
  fallthroughSamples?: Record<string, number[]>;
  edgeOverheadUs?: number;
}

/** Above this standard error a fall-through share is flagged: more samples are needed. */
export const kFallthroughStdErrorMax = 0.02;

/** The standard error of a share p measured on n samples: √(p(1−p)/n) (Infinity without samples). */
export function shareStdError(share: number, samples: number): number {
  return samples > 0 ? Math.sqrt((share * (1 - share)) / samples) : Number.POSITIVE_INFINITY;
}

/** The samples a share near p needs for a standard error of at most `stdError`: p(1−p)/se², at least 1. */
export function samplesForStdError(share: number, stdError: number): number {
  return Math.max(1, Math.ceil((share * (1 - share)) / (stdError * stdError)));
}

/**
 * Piecewise-linear interpolation of `points` (x ascending) at x, extrapolated linearly beyond both
 * ends (the slope of the end segment, never below 0 beyond the last point). One point: that value
 * below it, proportional to x above it. No point: 0.
 */
export function interpolatePoints(points: ReadonlyArray<readonly [number, number]>, x: number): number {
  if (points.length === 0) return 0;
  const first = points[0]!;
  if (points.length === 1) return x <= first[0] ? first[1] : (first[1] * x) / first[0];
  let lo = 0;
  while (lo < points.length - 2 && x > points[lo + 1]![0]) lo++;
  const [x0, y0] = points[lo]!;
  const [x1, y1] = points[lo + 1]!;
  let slope = (y1 - y0) / (x1 - x0);
  if (x > x1) slope = Math.max(0, slope);
  return Math.max(0, y0 + slope * (x - x0));
}

/** Mean latency (µs) of a batch of n on this model: piecewise linear in the profiled points, extrapolated linearly. */
export function interpolateLatencyUs(profile: ModelProfile, n: number): number {
  return interpolatePoints(profile.latencyUs, n);
}

/** Standard deviation (µs) of a batch of n's latency (0 when none was measured). */
export function interpolateLatencyStdUs(profile: ModelProfile, n: number): number {
  return interpolatePoints(profile.latencyStdUs, n);
}

/** The cost of one call of this model on the critical path: t(1) plus the hop overhead (µs). */
export function callWeightUs(profile: ModelProfile): number {
  return interpolateLatencyUs(profile, 1) + profile.hopOverheadUs;
}

const bad = (where: string, what: string): ClipperError => new ClipperError('CLP_ERR_INVALID_ARG', `profile ${where}: ${what}`);

function checkPoints(value: unknown, where: string, positive: boolean): Array<[number, number]> {
  if (!Array.isArray(value)) throw bad(where, 'must be an array of [batch size, µs] pairs');
  const points: Array<[number, number]> = [];
  for (const [i, point] of value.entries()) {
    const ok = Array.isArray(point) && point.length === 2 && point.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (!ok) throw bad(`${where}[${i}]`, 'must be a pair of finite numbers');
    const [n, us] = point as [number, number];
    if (!Number.isInteger(n) || n < 1) throw bad(`${where}[${i}]`, `batch size must be an integer >= 1 (got ${n})`);
    if (positive ? !(us > 0) : us < 0) throw bad(`${where}[${i}]`, `µs must be ${positive ? '> 0' : '>= 0'} (got ${us})`);
    if (i > 0 && !(n > points[i - 1]![0])) throw bad(`${where}[${i}]`, 'batch sizes must be strictly ascending');
    points.push([n, us]);
  }
  return points;
}

function checkModelProfile(name: string, value: unknown): ModelProfile {
  const where = `model '${name}'`;
  if (typeof value !== 'object' || value === null) throw bad(where, 'must be an object');
  const v = value as Record<string, unknown>;
  const version = v.version;
  if (typeof version !== 'string' || version === '') throw bad(`${where} version`, 'must be a non-empty string');
  const latencyUs = checkPoints(v.latencyUs, `${where} latencyUs`, true);
  if (latencyUs.length === 0) throw bad(`${where} latencyUs`, 'needs at least one point');
  const latencyStdUs = checkPoints(v.latencyStdUs ?? [], `${where} latencyStdUs`, false);
  const hop = v.hopOverheadUs ?? 0;
  if (typeof hop !== 'number' || !Number.isFinite(hop) || hop < 0) throw bad(`${where} hopOverheadUs`, 'must be a number >= 0');
  return { model: name, version, latencyUs, latencyStdUs, hopOverheadUs: hop };
}

/** Per cascade stage, arrays of numbers each accepted by `ok` (the fall-through shares or their sample counts). */
function checkStageArrays(value: unknown, field: string, what: string, ok: (x: unknown) => boolean): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(field, 'must be an object');
  for (const [stage, xs] of Object.entries(value)) {
    if (!Array.isArray(xs) || !xs.every(ok)) throw bad(`${field} '${stage}'`, `must be an array of ${what}`);
    out.set(stage, [...(xs as number[])]);
  }
  return out;
}

/** The note for a saved profile without the edge overhead (one saved before it was measured apart). */
export const kNoEdgeOverheadNote =
  'the profile has no edgeOverheadUs (saved before the HTTP edge was measured apart): taken as 0; ' +
  'its hopOverheadUs may include that edge on every call, an over-estimate: profile again for a sharper plan';

/**
 * A profile read from JSON (`--profile FILE`); throws ClipperError 400 naming the model or stage.
 * Profiles saved before edgeOverheadUs existed are read with it absent (0), and a note says so.
 */
export function profileFromJson(value: unknown, notes?: string[]): PipelineProfile {
  if (typeof value !== 'object' || value === null) throw bad('', 'must be an object {"models", "fallthrough"}');
  const v = value as Record<string, unknown>;
  const models = new Map<string, ModelProfile>();
  if (typeof v.models !== 'object' || v.models === null || Array.isArray(v.models)) throw bad('models', 'must be an object');
  for (const [name, m] of Object.entries(v.models)) models.set(name, checkModelProfile(name, m));
  const share = (s: unknown): boolean => typeof s === 'number' && s >= 0 && s <= 1;
  const fallthrough = checkStageArrays(v.fallthrough ?? {}, 'fallthrough', 'shares in [0, 1]', share);
  const profile: PipelineProfile = { models, fallthrough };
  if (v.fallthroughSamples !== undefined) {
    const count = (n: unknown): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 0;
    profile.fallthroughSamples = checkStageArrays(v.fallthroughSamples, 'fallthroughSamples', 'integers >= 0', count);
  }
  const edge = v.edgeOverheadUs;
  if (edge === undefined) notes?.push(kNoEdgeOverheadNote);
  else if (typeof edge !== 'number' || !Number.isFinite(edge) || edge < 0) throw bad('edgeOverheadUs', 'must be a number >= 0');
  else profile.edgeOverheadUs = edge;
  return profile;
}

export function profileToJson(profile: PipelineProfile): PipelineProfileJson {
  const json: PipelineProfileJson = { models: Object.fromEntries(profile.models), fallthrough: Object.fromEntries(profile.fallthrough) };
  if (profile.fallthroughSamples !== undefined) json.fallthroughSamples = Object.fromEntries(profile.fallthroughSamples);
  if (profile.edgeOverheadUs !== undefined) json.edgeOverheadUs = profile.edgeOverheadUs;
  return json;
}

/** One cascade level's fall-through share with its sample count and standard error (NaN/Infinity when unknown). */
export interface ShareUncertainty {
  stage: string;
  /** The model after which the share falls through. */
  model: string;
  share: number;
  samples: number;
  stdError: number;
}

/** Every measured fall-through share of the pipeline's cascades, in `stages` order, with its standard error. */
export function fallthroughUncertainty(
  profile: PipelineProfile,
  stages: ReadonlyArray<{ name: string; kind: string; models?: string[] }>,
): ShareUncertainty[] {
  const out: ShareUncertainty[] = [];
  for (const s of stages) {
    if (s.kind !== 'cascade') continue;
    const shares = profile.fallthrough.get(s.name) ?? [];
    const counts = profile.fallthroughSamples?.get(s.name);
    shares.forEach((share, i) => {
      const samples = counts?.[i] ?? Number.NaN;
      const stdError = Number.isNaN(samples) ? Number.NaN : shareStdError(share, samples);
      out.push({ stage: s.name, model: s.models?.[i] ?? `level ${i}`, share, samples, stdError });
    });
  }
  return out;
}
