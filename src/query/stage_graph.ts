// A pipeline app's graph compiled for the hot path (docs/pipelines.md, "Execution, budgets and
// fallbacks"): its stages in execution order, each model call resolved to a route and a placement
// (the model's current version), and the budget weights that split one query's deadline.
//
// Budget weights (the rule is deadline_split.ts's): 1 per model call without a plan; with a stored
// plan that gives every stage a budget, the stage's `stage_budgets_micros[stage]` split among its
// calls (half by the models' profiled single-query latency, half equally; an ensemble's members each
// get all of it). `aheadAfter` is the heaviest path of stages still to run after a stage. The
// executor (stage_run.ts) gives a call starting with R ms left R·w / (w + weights still ahead on the
// worst path) (stageBudgetMs), or the stage's fixed budget_micros.

import type { Placement } from '../batching/protocol.js';
import { deadlineWeights, firstPointUs, usableBudgets } from '../deadline_split.js';
import { ClipperError } from '../errors.js';
import { inputTypeCode, type InputType } from '../input_types.js';
import {
  kPipelineInput,
  stageModels,
  stageOrder,
  stageSources,
  type PipelinePlan,
  type PipelineSpec,
  type StageKind,
  type StageSpec,
} from '../pipeline_spec.js';
import type { CombineMode } from '../selection/policies/params.js';
import type { AnswerExtra } from './answer.js';
import type { AppRoute, AppStats } from './app_route.js';
import type { AppPipelineStats, PipelineStatsKeeper, StageStats } from './stage_stats.js';

/** A stage input that is the query's own input (not another stage's output). */
export const kQueryInput = -1;

/** What the route table knows of a model: its current version's placement and input type. */
export interface ResolvedModel {
  placement: Placement | null;
  inputType: InputType;
}

export interface StageCall {
  readonly model: string;
  /** [model]: the models behind this call's answer alone. */
  readonly self: readonly string[];
  /** The route its sub-queries are submitted with (the model's input type; stats of their own). */
  readonly route: AppRoute;
  readonly placement: Placement | null;
  readonly inputType: InputType;
  /** Budget weight of this call. */
  readonly weight: number;
  /** Weights of the calls after it inside its stage, on the stage's slowest path. */
  readonly aheadInStage: number;
}

export interface CompiledStage {
  readonly name: string;
  readonly kind: StageKind;
  readonly index: number;
  /** Stage indexes it reads (kQueryInput: the query's input); two or more for a combine. */
  readonly inputs: readonly number[];
  /** The models it calls, in order (each once per call). */
  readonly models: readonly string[];
  /** Global index of calls[0] (a sub-query's sink index is its call's global index). */
  readonly callBase: number;
  /** model: [m]; ensemble: members; cascade: levels, cheapest first; map: [featurizer, predictor]; combine: []. */
  readonly calls: readonly StageCall[];
  /** Weights of the stages still to run after this one, on the heaviest path to the output. */
  readonly aheadAfter: number;
  /** The stage's fixed budget (budget_micros), or null: a share of the time left. */
  readonly fixedMs: number | null;
  readonly threshold: number;
  readonly confidenceField: string;
  readonly combine: CombineMode;
  readonly field: string | null;
  /** Ensemble: per member; combine: per input. */
  readonly weights: Float64Array;
  readonly stats: StageStats;
}

export interface CompiledPipeline {
  readonly app: string;
  /** Execution order: every stage after the stages it reads; the output last. */
  readonly stages: readonly CompiledStage[];
  readonly outputIndex: number;
  readonly fallback: 'best_so_far' | 'default';
  readonly callCount: number;
  /** Global call index → its stage's index. */
  readonly callStage: Uint8Array;
  /** The app's input type: a call reading the query's input needs it. */
  readonly inputType: InputType;
  readonly stats: AppPipelineStats;
  /** Answer extras of the answers without a fallback, one per list of models (encoded once each), by
   * the list itself or its names joined. */
  readonly extras: Map<readonly string[] | string, AnswerExtra>;
}

/** What a compiled pipeline's member routes share with the app. */
export interface PipelineAppInfo {
  readonly name: string;
  readonly inputType: InputType;
  /** The app's stats: its sub-queries' cache lookups and hits are counted there. */
  readonly stats: AppStats;
  readonly defaultJson: string;
  readonly sloMs: number;
  readonly overloadResponse: 'status_429' | 'default_output';
}

/**
 * Compile a stored (validated) pipeline. `resolve(model)`: the model's current version, null when it
 * has none (its calls are answered "no connected models" at once). Throws ClipperError
 * CLP_ERR_INVALID_ARG on a graph that is not a DAG reaching its output (validation refuses those).
 */
export function compilePipeline(
  spec: PipelineSpec,
  resolve: (model: string) => ResolvedModel | null,
  plan: PipelinePlan | null,
  app: PipelineAppInfo,
  keeper: PipelineStatsKeeper,
): CompiledPipeline {
  const order = stageOrder(spec);
  const outputIndex = order.length - 1;
  if (order.length !== spec.stages.length || order[outputIndex]?.name !== spec.output) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `pipeline of app '${app.name}': its stages do not form a graph ending at '${spec.output}'`,
    );
  }
  const indexOf = new Map(order.map((s, i) => [s.name, i]));
  const stats = keeper.of(
    app.name,
    order.map((s) => ({ name: s.name, kind: s.kind, models: stageModels(s) })),
  );
  const routes = new Map<string, StageCallBase>();
  const callOf = (model: string): StageCallBase => {
    let c = routes.get(model);
    if (c === undefined) {
      const resolved = resolve(model);
      const route = memberRoute(app, model, resolved, stats.memberStats);
      c = { model, self: [model], route, placement: resolved?.placement ?? null, inputType: route.inputType };
      routes.set(model, c);
    }
    return c;
  };
  const costOf = (model: string): number => firstPointUs(plan?.models.find((m) => m.model === model)?.latency_us);
  const weights = deadlineWeights(order, usableBudgets(order, plan), costOf);
  const stages: CompiledStage[] = [];
  let callBase = 0;
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    const w = weights[i]!;
    const calls = stageModels(s).map((m, k) => ({ ...callOf(m), weight: w.calls[k]!, aheadInStage: w.aheadInStage[k]! }));
    const inputs = stageSources(s).map((src) => (src === kPipelineInput ? kQueryInput : indexOf.get(src)!));
    stages.push(compiledStage(s, i, inputs, calls, callBase, w.aheadAfter, stats.stages[i]!));
    callBase += calls.length;
  }
  const callStage = new Uint8Array(callBase);
  for (const s of stages) callStage.fill(s.index, s.callBase, s.callBase + s.calls.length);
  return {
    app: app.name,
    stages,
    outputIndex,
    fallback: spec.fallback ?? 'best_so_far',
    callCount: callBase,
    callStage,
    inputType: app.inputType,
    stats,
    extras: new Map(),
  };
}

function compiledStage(
  s: StageSpec,
  index: number,
  inputs: number[],
  calls: StageCall[],
  callBase: number,
  aheadAfter: number,
  stats: StageStats,
): CompiledStage {
  const members = s.kind === 'combine' ? inputs.length : calls.length;
  const weights = new Float64Array(members).fill(1);
  if (s.weights !== undefined) for (let k = 0; k < members; k++) weights[k] = s.weights[k] ?? 1;
  return {
    name: s.name,
    kind: s.kind,
    index,
    inputs,
    models: calls.map((c) => c.model),
    callBase,
    calls,
    aheadAfter,
    fixedMs: s.budget_micros === undefined ? null : s.budget_micros / 1000,
    threshold: s.threshold ?? 1,
    confidenceField: s.confidence_field ?? 'confidence',
    combine: s.combine ?? 'auto',
    field: s.field ?? null,
    weights,
    stats,
  };
}

/** The route a model's sub-queries are submitted with: the app's, with the model's input type. */
function memberRoute(app: PipelineAppInfo, model: string, resolved: ResolvedModel | null, memberStats: AppStats): AppRoute {
  const inputType = resolved?.inputType ?? app.inputType;
  return {
    name: app.name,
    stats: memberStats,
    cacheStats: app.stats,
    inputType,
    typeCode: inputTypeCode(inputType),
    defaultJson: app.defaultJson,
    sloMs: app.sloMs,
    modelName: model,
    placement: resolved?.placement ?? null,
    versions: new Map(),
    overloadResponse: app.overloadResponse,
    selection: null,
  };
}

type StageCallBase = Omit<StageCall, 'weight' | 'aheadInStage'>;
