// Checking a pipeline plan (src/pipeline_spec.ts's PipelinePlan, what `clipper plan` computes and
// set_pipeline_plan stores) against the app's pipeline: every field's type and range, and one
// entry per model the pipeline calls, no other. A refused value is a ClipperError
// CLP_ERR_INVALID_ARG naming the field: `pipeline_plan.models[1].replicas must be ... (got 0)`.

import { OptionChecks } from './lib/options.js';
import { pipelineModels, type PipelinePlan, type PipelineSpec, type PlanModel, type WorkloadSpec } from './pipeline_spec.js';

type Fields = Record<string, unknown>;

/**
 * The most replicas per model a plan may give (its replicas_max): the bound `clipper plan
 * --replicas-max`, the planner (planner/search.ts) and set_pipeline_plan all apply, and the same
 * number set_num_replicas takes (admin_validate.ts kReplicasMax), so an applied plan's counts fit.
 */
export const kPlanReplicasMax = 64;

const kPlanFields = [
  'seed',
  'workload',
  'slo_micros',
  'models',
  'stage_budgets_micros',
  'predicted',
  'baseline',
  'envelope_qps',
  'replicas_max',
  'reactive',
];
const kModelFields = ['model', 'version', 'batch_size', 'replicas', 'latency_us', 'visit_fraction', 'capacity_qps_per_replica'];
const kPredictedFields = ['p99_micros', 'p50_micros', 'throughput_qps', 'replicas', 'slo_miss_ratio'];
const kBaselineFields = ['replicas', 'p99_micros', 'slo_miss_ratio'];
const kWorkloadFields: Readonly<Record<WorkloadSpec['kind'], readonly string[]>> = {
  poisson: ['kind', 'rate_qps'],
  constant: ['kind', 'rate_qps'],
  bursty: ['kind', 'rate_qps', 'burst_factor', 'on_mean_ms', 'off_mean_ms'],
  trace: ['kind', 'arrivals_ms', 'rate_qps'],
};

const checks: OptionChecks = new OptionChecks('pipeline_plan');

/** A finite number at least `min` (above it when `above`): OptionChecks.number lets Infinity pass without an upper bound. */
function finite(field: string, value: unknown, min: number, above = false): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (above && value === min)) {
    checks.fail(field, `must be a finite number ${above ? '>' : '>='} ${min}`, value);
  }
}

/** The object at `field`, with no keys but `allowed` and every one of `required`. */
function fieldsOf(value: unknown, field: string, allowed: readonly string[], required: readonly string[] = allowed): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) checks.fail(field, 'must be a JSON object', value);
  const o = value as Fields;
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) checks.fail(`${field}.${key}`, `is not a field of ${field} (it has ${allowed.join(', ')})`, o[key]);
  }
  for (const key of required) if (o[key] === undefined) checks.fail(`${field}.${key}`, 'is required', undefined);
  return o;
}

function arrayOf(value: unknown, field: string, minLength: number): unknown[] {
  if (!Array.isArray(value) || value.length < minLength) checks.fail(field, `must be a list of at least ${minLength}`, value);
  return value as unknown[];
}

/** A workload as a plan (or `clipper plan --workload`) gives it; `field` names it in errors. */
export function checkWorkload(value: unknown, field = 'workload'): WorkloadSpec {
  const kind = (value as Fields | null)?.kind;
  checks.oneOf(`${field}.kind`, kind, Object.keys(kWorkloadFields));
  const o = fieldsOf(value, field, kWorkloadFields[kind as WorkloadSpec['kind']]);
  finite(`${field}.rate_qps`, o.rate_qps, 0, true);
  if (o.kind === 'bursty') {
    finite(`${field}.burst_factor`, o.burst_factor, 1);
    finite(`${field}.on_mean_ms`, o.on_mean_ms, 0, true);
    finite(`${field}.off_mean_ms`, o.off_mean_ms, 0, true);
  }
  if (o.kind === 'trace') {
    const arrivals = arrayOf(o.arrivals_ms, `${field}.arrivals_ms`, 1);
    let previous = 0;
    arrivals.forEach((t, i) => {
      finite(`${field}.arrivals_ms[${i}]`, t, previous);
      previous = t as number;
    });
    return { kind: 'trace', arrivals_ms: [...(arrivals as number[])], rate_qps: o.rate_qps as number };
  }
  return structuredClone(o) as WorkloadSpec;
}

function checkPlanModel(value: unknown, field: string, replicasMax: number): PlanModel {
  const o = fieldsOf(value, field, kModelFields);
  if (typeof o.model !== 'string' || o.model === '') checks.fail(`${field}.model`, "must be the model's name", o.model);
  if (typeof o.version !== 'string' || o.version === '') checks.fail(`${field}.version`, "must be the model's version", o.version);
  if (o.batch_size !== -1) checks.int(`${field}.batch_size`, o.batch_size, 1);
  checks.int(`${field}.replicas`, o.replicas, 1, replicasMax);
  let previous = 0;
  arrayOf(o.latency_us, `${field}.latency_us`, 1).forEach((point, i) => {
    const at = `${field}.latency_us[${i}]`;
    if (!Array.isArray(point) || point.length !== 2) checks.fail(at, 'must be a pair [batch size, mean µs]', point);
    checks.int(`${at}[0]`, point[0], previous + 1);
    finite(`${at}[1]`, point[1], 0);
    previous = point[0] as number;
  });
  checks.number(`${field}.visit_fraction`, o.visit_fraction, 0, 1, '(]');
  finite(`${field}.capacity_qps_per_replica`, o.capacity_qps_per_replica, 0, true);
  return structuredClone(o) as unknown as PlanModel;
}

/** One entry per model the pipeline calls, in any order, no other. */
function checkPlanModels(value: unknown, spec: PipelineSpec, replicasMax: number): PlanModel[] {
  const models = arrayOf(value, 'models', 1).map((m, i) => checkPlanModel(m, `models[${i}]`, replicasMax));
  const wanted = pipelineModels(spec);
  const seen = new Set<string>();
  models.forEach((m, i) => {
    if (!wanted.includes(m.model)) checks.fail(`models[${i}].model`, `is not a model of the pipeline (${wanted.join(', ')})`, m.model);
    if (seen.has(m.model)) checks.fail(`models[${i}].model`, 'is listed twice', m.model);
    seen.add(m.model);
  });
  for (const name of wanted) if (!seen.has(name)) checks.fail('models', `has no entry for the pipeline's model '${name}'`, models.length);
  return models;
}

function checkBudgets(value: unknown, spec: PipelineSpec, sloMicros: number): Record<string, number> {
  const names = spec.stages.map((s) => s.name);
  const o = fieldsOf(value, 'stage_budgets_micros', names, []);
  let sum = 0;
  for (const [name, budget] of Object.entries(o)) {
    finite(`stage_budgets_micros.${name}`, budget, 0);
    sum += budget as number;
  }
  // Budgets computed in floating point may exceed the SLO by a rounding error, never by a microsecond.
  if (sum > sloMicros + 1) checks.fail('stage_budgets_micros', `must sum to at most slo_micros (${sloMicros})`, sum);
  return { ...(o as Record<string, number>) };
}

function checkOutcome<T>(value: unknown, field: string, allowed: readonly string[]): T {
  const o = fieldsOf(value, field, allowed);
  for (const key of allowed) {
    if (key === 'replicas') checks.int(`${field}.replicas`, o.replicas, 0);
    else if (key === 'slo_miss_ratio') checks.number(`${field}.slo_miss_ratio`, o.slo_miss_ratio, 0, 1);
    else finite(`${field}.${key}`, o[key], 0);
  }
  return { ...o } as T;
}

/**
 * A plan for the pipeline `spec`, checked whole and returned as a clean copy. Its models must be
 * exactly the pipeline's; its replica counts within its own replicas_max, itself at most kPlanReplicasMax.
 */
export function validatePlan(plan: unknown, spec: PipelineSpec): PipelinePlan {
  const o = fieldsOf(
    plan,
    'plan',
    kPlanFields,
    kPlanFields.filter((k) => k !== 'baseline'),
  );
  checks.int('seed', o.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  checks.int('slo_micros', o.slo_micros, 1);
  checks.int('replicas_max', o.replicas_max, 1, kPlanReplicasMax);
  if (typeof o.reactive !== 'boolean') checks.fail('reactive', 'must be true or false', o.reactive);
  const envelope = o.envelope_qps;
  if (!Array.isArray(envelope) || envelope.length !== 2) checks.fail('envelope_qps', 'must be a pair [low, high] of rates', envelope);
  finite('envelope_qps[0]', envelope[0], 0);
  finite('envelope_qps[1]', envelope[1], envelope[0] as number);
  const out: PipelinePlan = {
    seed: o.seed as number,
    workload: checkWorkload(o.workload),
    slo_micros: o.slo_micros as number,
    models: checkPlanModels(o.models, spec, o.replicas_max as number),
    stage_budgets_micros: checkBudgets(o.stage_budgets_micros, spec, o.slo_micros as number),
    predicted: checkOutcome(o.predicted, 'predicted', kPredictedFields),
    envelope_qps: [envelope[0] as number, envelope[1] as number],
    replicas_max: o.replicas_max as number,
    reactive: o.reactive as boolean,
  };
  if (o.baseline !== undefined) out.baseline = checkOutcome(o.baseline, 'baseline', kBaselineFields);
  return out;
}
