// The shape of a pipeline app (a small graph of model stages) and of the plan `clipper plan` stores
// for it: the one owner of both records, their validation and the confidence rule of an output (the
// executor in src/query and the planner both use it; how a query's deadline is split is in
// deadline_split.ts). docs/pipelines.md describes the format.

import type { InputType } from './input_types.js';
import { invalid, isObject, kPipelineInput, quoted, readStage } from './pipeline_stage_check.js';

export type StageKind = 'model' | 'ensemble' | 'cascade' | 'map' | 'combine';
export { kPipelineInput, kStageKinds } from './pipeline_stage_check.js';
// validatePlan(plan, spec) checks a PipelinePlan against its pipeline; it lives in its own file.
export { checkWorkload, validatePlan } from './pipeline_plan_check.js';

export interface StageSpec {
  /** Unique in the pipeline. */
  name: string;
  kind: StageKind;
  /** model, ensemble, cascade, map: '$input' (default) or another stage's name. */
  input?: string;
  /** combine only: two or more distinct stage names. */
  inputs?: string[];
  /** model: the model's name (its current version serves). */
  model?: string;
  /** ensemble: two or more; cascade: two or more, cheapest first; map: [featurizer, predictor]. */
  models?: string[];
  /** cascade: a model's answer is kept when its confidence is at least this (the last model's always). */
  threshold?: number;
  /** cascade: where an output's confidence is read (default 'confidence'). */
  confidence_field?: string;
  /** ensemble, combine: how member outputs merge (src/selection/policies/combine.ts). */
  combine?: 'auto' | 'mean' | 'vote';
  /** ensemble, combine: combine output[field] of each member; the stage output is {[field]: v, confidence}. */
  field?: string;
  /** ensemble, combine: one non-negative weight per member (default all 1). */
  weights?: number[];
  /** map: the featurizer's output type (the predictor's input type). */
  feature_type?: InputType;
  /** The stage's output type, required when another stage consumes it. */
  output_type?: InputType;
  /** A fixed budget for this stage; absent: a share of the time left (deadline_split.ts). */
  budget_micros?: number;
}

export interface PipelineSpec {
  stages: StageSpec[];
  /** The stage whose output answers the query. */
  output: string;
  /** When a stage cannot finish: the best answer so far (default) or the app's default output. */
  fallback?: 'best_so_far' | 'default';
}

/** What validation needs to know of a model. */
export interface ModelInfo {
  inputType: InputType;
}

export type WorkloadSpec =
  | { kind: 'poisson'; rate_qps: number }
  | { kind: 'constant'; rate_qps: number }
  | { kind: 'bursty'; rate_qps: number; burst_factor: number; on_mean_ms: number; off_mean_ms: number }
  | { kind: 'trace'; arrivals_ms: number[]; rate_qps: number };

export interface PlanModel {
  model: string;
  version: string;
  /** > 0 a fixed maximum batch size, -1 adaptive (as a model record's batch_size). */
  batch_size: number;
  replicas: number;
  /** Profiled t(n): [batch size, mean µs], batch sizes ascending. */
  latency_us: Array<[number, number]>;
  /** Share of the pipeline's queries that reach this model, in (0, 1]. */
  visit_fraction: number;
  /** Queries/s one replica sustains at the planned batch size within the SLO. */
  capacity_qps_per_replica: number;
}

export interface PipelinePlan {
  seed: number;
  workload: WorkloadSpec;
  slo_micros: number;
  models: PlanModel[];
  /** Per stage name: its share of the SLO. */
  stage_budgets_micros: Record<string, number>;
  predicted: { p99_micros: number; p50_micros: number; throughput_qps: number; replicas: number; slo_miss_ratio: number };
  /** The hand-tuned comparison: the same replica count for every model, sized for the slowest. */
  baseline?: { replicas: number; p99_micros: number; slo_miss_ratio: number };
  /** The reactive tuner acts when the observed arrival rate leaves this range. */
  envelope_qps: [number, number];
  /** Per model, the most replicas the tuner may set. */
  replicas_max: number;
  reactive: boolean;
}

/**
 * The confidence of a model's output (a cascade keeps an answer whose confidence reaches its
 * threshold): output[field] when the output is an object with a finite number there; the largest
 * element when it is a non-empty array of finite numbers; else 0.
 */
export function outputConfidence(output: unknown, field = 'confidence'): number {
  if (Array.isArray(output)) {
    if (output.length === 0) return 0;
    let max = -Infinity;
    for (const x of output) {
      if (typeof x !== 'number' || !Number.isFinite(x)) return 0;
      if (x > max) max = x;
    }
    return max;
  }
  if (output !== null && typeof output === 'object') {
    const c = (output as Record<string, unknown>)[field];
    return typeof c === 'number' && Number.isFinite(c) ? c : 0;
  }
  return 0;
}

/** The stages whose outputs a stage reads: its 'input' ('$input' by default) or its 'inputs'. */
export function stageSources(stage: StageSpec): string[] {
  return stage.inputs !== undefined ? [...stage.inputs] : [stage.input ?? kPipelineInput];
}

/** Every model a stage calls, in its order. */
export function stageModels(stage: StageSpec): string[] {
  if (stage.model !== undefined) return [stage.model];
  return stage.models === undefined ? [] : [...stage.models];
}

/** The stages that call `model`, in declared order. */
export function stagesUsingModel(spec: PipelineSpec, model: string): string[] {
  return spec.stages.filter((s) => stageModels(s).includes(model)).map((s) => s.name);
}

/** Every model name the pipeline calls, each once, in stage order. */
export function pipelineModels(spec: PipelineSpec): string[] {
  const out = new Set<string>();
  for (const stage of stageOrder(spec)) for (const m of stageModels(stage)) out.add(m);
  return [...out];
}

/** Stages in execution (topological) order, declared order among the ready ones, the output last. */
export function stageOrder(spec: PipelineSpec): StageSpec[] {
  const done = new Set<string>([kPipelineInput]);
  const order: StageSpec[] = [];
  let pending = [...spec.stages];
  while (pending.length > 0) {
    const ready = pending.filter((s) => s.name !== spec.output && stageSources(s).every((src) => done.has(src)));
    const next = ready.length > 0 ? ready : pending.filter((s) => stageSources(s).every((src) => done.has(src)));
    if (next.length === 0) break; // a cycle: validatePipeline refuses it
    for (const s of next) {
      done.add(s.name);
      order.push(s);
    }
    pending = pending.filter((s) => !done.has(s.name));
  }
  return order;
}

const kStagesMax = 16;
const kSpecFields = ['stages', 'output', 'fallback'];

function readSpec(spec: unknown): PipelineSpec {
  if (!isObject(spec)) throw invalid(null, 'must be a JSON object {"stages": [...], "output": <stage>, "fallback"?: ...}');
  for (const key of Object.keys(spec)) {
    if (!kSpecFields.includes(key)) throw invalid(null, `has no field '${key}' (it takes ${quoted(kSpecFields)})`);
  }
  const raw = spec.stages;
  if (!Array.isArray(raw) || raw.length < 1 || raw.length > kStagesMax) {
    throw invalid(null, `'stages' must be a list of 1 to ${kStagesMax} stages`);
  }
  if (typeof spec.output !== 'string' || spec.output === '') throw invalid(null, "'output' must name the stage that answers the query");
  const out: PipelineSpec = { stages: raw.map(readStage), output: spec.output };
  if (spec.fallback !== undefined) {
    if (spec.fallback !== 'best_so_far' && spec.fallback !== 'default')
      throw invalid(null, "'fallback' must be 'best_so_far' or 'default'");
    out.fallback = spec.fallback;
  }
  return out;
}

/** Unique names, known references, an output stage, no cycle, no stage that does not lead to the output. */
function checkGraph(spec: PipelineSpec): void {
  const byName = new Map<string, StageSpec>();
  for (const stage of spec.stages) {
    if (byName.has(stage.name)) throw invalid(stage.name, 'the name is used by another stage too');
    byName.set(stage.name, stage);
  }
  for (const stage of spec.stages) {
    for (const src of stageSources(stage)) {
      if (src !== kPipelineInput && !byName.has(src)) {
        throw invalid(stage.name, `reads stage '${src}', which does not exist (stages: ${quoted([...byName.keys()])})`);
      }
    }
  }
  if (!byName.has(spec.output)) throw invalid(null, `output names no stage '${spec.output}'`);
  checkCycles(spec);
  const live = new Set<string>();
  const visit = (name: string): void => {
    if (name === kPipelineInput || live.has(name)) return;
    live.add(name);
    for (const src of stageSources(byName.get(name)!)) visit(src);
  };
  visit(spec.output);
  for (const stage of spec.stages) {
    if (!live.has(stage.name))
      throw invalid(stage.name, `its output leads to no stage on the way to the output stage '${spec.output}' (a dead stage)`);
  }
}

/** A cycle along the data flow (a stage feeding itself through others), named as `a -> b -> a`. */
function checkCycles(spec: PipelineSpec): void {
  const consumers = new Map<string, string[]>();
  for (const stage of spec.stages) {
    for (const src of stageSources(stage)) consumers.set(src, [...(consumers.get(src) ?? []), stage.name]);
  }
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): void => {
    state.set(name, 'open');
    path.push(name);
    for (const next of consumers.get(name) ?? []) {
      if (state.get(next) === 'open') {
        const cycle = [...path.slice(path.indexOf(next)), next];
        throw invalid(name, `cycle through ${cycle.map((n) => `'${n}'`).join(' -> ')}`);
      }
      if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(name, 'done');
  };
  for (const stage of spec.stages) if (!state.has(stage.name)) visit(stage.name);
}

/** What a stage's models must take: the app's input type, or the output type its source stage declares. */
function sourceType(stage: StageSpec, byName: Map<string, StageSpec>, appInputType: InputType): { type: InputType; what: string } {
  const src = stage.input ?? kPipelineInput;
  if (src === kPipelineInput) return { type: appInputType, what: "the application's input_type is" };
  const type = byName.get(src)!.output_type;
  if (type === undefined) throw invalid(src, `'output_type' is required: stage '${stage.name}' reads its output`);
  return { type, what: `stage '${src}' outputs` };
}

function checkModelTakes(
  stage: string,
  model: string,
  type: InputType,
  what: string,
  lookup: (model: string) => ModelInfo | undefined,
): void {
  const info = lookup(model);
  if (info === undefined) throw invalid(stage, `no model named '${model}'`);
  if (info.inputType !== type) throw invalid(stage, `model '${model}' takes ${info.inputType} but ${what} ${type}`);
}

/** Types along every edge: each model takes what its stage is fed; a combine fed further merges one type. */
function checkTypes(spec: PipelineSpec, appInputType: InputType, lookup: (model: string) => ModelInfo | undefined): void {
  const byName = new Map(spec.stages.map((s) => [s.name, s]));
  const consumed = new Set(spec.stages.flatMap((s) => (s.kind === 'combine' ? [] : [s.input ?? kPipelineInput])));
  for (const stage of stageOrder(spec)) {
    if (stage.kind === 'combine') {
      if (!consumed.has(stage.name)) continue;
      for (const src of stage.inputs!) {
        const type = byName.get(src)!.output_type;
        if (type !== stage.output_type) {
          throw invalid(
            stage.name,
            `its output is read by another stage, so each of its inputs must output ${stage.output_type ?? 'its output_type'}; stage '${src}' outputs ${type ?? 'no declared output_type'}`,
          );
        }
      }
      continue;
    }
    const source = sourceType(stage, byName, appInputType);
    const models = stageModels(stage);
    if (stage.kind === 'map') {
      checkModelTakes(stage.name, models[0]!, source.type, source.what, lookup);
      checkModelTakes(stage.name, models[1]!, stage.feature_type!, 'its feature_type is', lookup);
    } else {
      for (const model of models) checkModelTakes(stage.name, model, source.type, source.what, lookup);
    }
  }
}

/**
 * The spec's shape and graph without its models (fields per kind, names, references, cycles, dead
 * stages): what a stored record is checked for when the models may not be known yet.
 */
export function checkPipelineShape(spec: unknown): PipelineSpec {
  const out = readSpec(spec);
  checkGraph(out);
  return out;
}

/**
 * A pipeline as submitted, checked whole and returned as a clean copy; throws ClipperError
 * CLP_ERR_INVALID_ARG ("pipeline stage 'x': ...") naming the stage and the field. `lookup` gives a
 * model's input type (its current version's), undefined for no such model.
 */
export function validatePipeline(spec: unknown, appInputType: InputType, lookup: (model: string) => ModelInfo | undefined): PipelineSpec {
  const out = checkPipelineShape(spec);
  checkTypes(out, appInputType, lookup);
  return out;
}
