// The flags of `clipper plan` (cli/plan.ts), checked with messages that name the flag, and the sample
// inputs it profiles with: a --samples file, or random inputs of --input-size (seeded).

import { ClipperError } from '../errors.js';
import type { InputType } from '../input_types.js';
import { Prng } from '../lib/prng.js';
import { kPlanReplicasMax } from '../pipeline_plan_check.js';
import type { WorkloadSpec } from '../pipeline_spec.js';
import { parseWorkload } from '../planner/workload.js';
import { intValue, stringValue, type Options, type Values } from './admin_args.js';

export const kPlanUsage = `  plan      profile a pipeline app's models, simulate, and choose each model's batch size and
            replicas for the SLO with the fewest replicas (docs/pipelines.md, "clipper plan")
            APP --rate R [--workload poisson|constant|bursty] [--burst-factor F] [--trace FILE]
            [--slo-micros N (default: the app's)] [--seed S (default 1)]
            [--replicas-max M (default 8, at most ${kPlanReplicasMax})]
            [--samples FILE (JSON array of inputs) | --input-size N (default 16) [--sample-count C (default 600)]]
            [--batch-max N (default 32)] [--reps N (default 5)] [--duration-ms N]
            [--profile FILE | --save-profile FILE] [--no-reactive] [--apply [--force]] [--json]
            and --admin-url, --query-url (the profiler's hop probe), --admin-token as above
`;

export const kPlanOptions: Options = {
  rate: { type: 'string' },
  workload: { type: 'string' },
  'burst-factor': { type: 'string' },
  trace: { type: 'string' },
  'slo-micros': { type: 'string' },
  seed: { type: 'string' },
  'replicas-max': { type: 'string' },
  samples: { type: 'string' },
  'input-size': { type: 'string' },
  'sample-count': { type: 'string' },
  'batch-max': { type: 'string' },
  reps: { type: 'string' },
  'duration-ms': { type: 'string' },
  profile: { type: 'string' },
  'save-profile': { type: 'string' },
  'no-reactive': { type: 'boolean', default: false },
  apply: { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
};

export interface PlanArgs {
  app: string;
  workload: { rate?: number; kind?: string; tracePath?: string; burstFactor?: number };
  /** null: the app's own SLO. */
  sloMicros: number | null;
  seed: number;
  replicasMax: number;
  samplesPath: string | null;
  inputSize: number;
  sampleCount: number;
  batchMax: number;
  reps: number;
  /** null: the planner's default simulated duration. */
  durationMs: number | null;
  profilePath: string | null;
  saveProfilePath: string | null;
  /** false with --no-reactive: the reactive tuner leaves the plan's replicas alone. */
  reactive: boolean;
  apply: boolean;
  /** With --apply: apply a plan that does not meet its SLO (refused without it). */
  force: boolean;
  json: boolean;
}

function invalid(message: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', message);
}

/** An integer flag in [min, max] (absent: `fallback`). */
function boundedInt(values: Values, name: string, fallback: number, min: number, max: number): number {
  const n = intValue(name, values[name], fallback);
  if (n < min || n > max) throw invalid(`--${name} must be an integer in [${min}, ${max}] (got ${n})`);
  return n;
}

function positiveNumber(values: Values, name: string): number | undefined {
  const text = stringValue(values[name]);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || !(n > 0)) throw invalid(`--${name} must be a number > 0 (got ${text})`);
  return n;
}

/** The parsed flags; every refusal names the flag. */
export function readPlanArgs(values: Values, positionals: readonly string[]): PlanArgs {
  if (positionals.length !== 1) {
    throw invalid(
      `usage: clipper plan APP --rate R ... (one application name, got ${positionals.length === 0 ? 'none' : positionals.join(' ')})`,
    );
  }
  const profilePath = stringValue(values.profile) ?? null;
  const samplesPath = stringValue(values.samples) ?? null;
  for (const flag of ['samples', 'input-size', 'sample-count', 'batch-max', 'reps', 'save-profile']) {
    if (profilePath !== null && values[flag] !== undefined)
      throw invalid(`--${flag} measures a profile: it cannot be combined with --profile`);
  }
  if (samplesPath !== null && (values['input-size'] !== undefined || values['sample-count'] !== undefined)) {
    throw invalid('--input-size and --sample-count make random samples: give them or --samples, not both');
  }
  const tracePath = stringValue(values.trace);
  if (tracePath !== undefined && values.rate !== undefined) throw invalid('--rate comes from the trace: give --rate or --trace, not both');
  if (values.force === true && values.apply !== true) throw invalid('--force applies a plan that misses its SLO: it needs --apply');
  const slo = values['slo-micros'] === undefined ? null : boundedInt(values, 'slo-micros', 0, 1, 3_600_000_000);
  return {
    app: positionals[0]!,
    workload: {
      rate: positiveNumber(values, 'rate'),
      kind: stringValue(values.workload),
      tracePath,
      burstFactor: positiveNumber(values, 'burst-factor'),
    },
    sloMicros: slo,
    seed: boundedInt(values, 'seed', 1, 0, 0x7fffffff),
    replicasMax: boundedInt(values, 'replicas-max', 8, 1, kPlanReplicasMax),
    samplesPath,
    inputSize: boundedInt(values, 'input-size', 16, 1, 1 << 20),
    sampleCount: boundedInt(values, 'sample-count', 600, 1, 100_000),
    batchMax: boundedInt(values, 'batch-max', 32, 1, 4096),
    reps: boundedInt(values, 'reps', 5, 1, 1000),
    durationMs: values['duration-ms'] === undefined ? null : boundedInt(values, 'duration-ms', 0, 100, 3_600_000),
    profilePath,
    saveProfilePath: stringValue(values['save-profile']) ?? null,
    reactive: values['no-reactive'] !== true,
    apply: values.apply === true,
    force: values.force === true,
    json: values.json === true,
  };
}

/** The workload of the flags (the trace file's text read by `readText`); errors name the flag. */
export function planWorkload(args: PlanArgs['workload'], readText: (file: string) => string): WorkloadSpec {
  const trace = args.tracePath === undefined ? undefined : readFlagFile('trace', args.tracePath, readText);
  try {
    return parseWorkload({ rate: args.rate, kind: args.kind, trace, burstFactor: args.burstFactor });
  } catch (err) {
    if (!(err instanceof ClipperError)) throw err;
    const flags: Record<string, string> = { rate: '--rate', kind: '--workload', trace: '--trace', burst_factor: '--burst-factor' };
    const message = err.message.replace(/^workload (\w+):/, (whole, field: string) =>
      flags[field] === undefined ? whole : `${flags[field]}:`,
    );
    throw invalid(message);
  }
}

export function readFlagFile(flag: string, file: string, readText: (file: string) => string): string {
  try {
    return readText(file);
  } catch (err) {
    throw invalid(`--${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A --samples file's inputs: a non-empty JSON array (each input is checked when it is sent). */
export function parseSamples(text: string, file: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(`--samples ${file} is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw invalid(`--samples ${file} must be a non-empty JSON array of inputs`);
  return parsed;
}

/** `count` random inputs of `size` elements (characters, bytes) of the app's input type, from `seed`. */
export function randomSamples(inputType: InputType, count: number, size: number, seed: number): unknown[] {
  const prng = new Prng(seed);
  const one = (): unknown => {
    switch (inputType) {
      case 'doubles':
      case 'floats':
        return Array.from({ length: size }, () => prng.next());
      case 'integers':
        return Array.from({ length: size }, () => prng.nextInt(256));
      case 'strings':
        return Array.from({ length: size }, () => String.fromCharCode(97 + prng.nextInt(26))).join('');
      case 'bytes':
        return Buffer.from(Array.from({ length: size }, () => prng.nextInt(256))).toString('base64');
    }
  };
  return Array.from({ length: count }, one);
}
