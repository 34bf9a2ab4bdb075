// How one query's deadline is split among a pipeline's model calls (docs/pipelines.md, "Execution,
// budgets and fallbacks" and "The planner"): the one home of the rule, used by the executor
// (src/query/stage_graph.ts, src/query/stage_run.ts) and by the planner's simulator
// (src/planner/sim_graph.ts, src/planner/sim_query.ts), so that both split time identically.
//
//   The run. A query with SLO S has runSpanMs(S) = S − min(5 ms, S/4) for its calls (the margin is
//   kept for the last step and timer lateness, as an Exp4 ensemble keeps it for combining).
//   Weights. Each model call has a weight: 1 without a plan. The plan's stage budgets
//   (stage_budgets_micros, planStageBudgetsUs) give each stage its share of the SLO: per call on the
//   slowest path, half its share of that path's profiled cost plus half an equal share per call on
//   that path,
//       w(call) = 0.5 × cost(call) / cost(path) + 0.5 × 1 / calls(path),
//   and a stage the sum of its calls on its slowest path (cascade and map: every call, a cascade's
//   every level counted; ensemble: its costliest member, its members running side by side; combine:
//   nothing). Proportional to cost alone, a 0.3 ms featurizer before a 10 ms model got 3% of the SLO
//   and timed out on jitter; the equal half keeps every call a fair slice. A stage with
//   budget_micros weighs that budget; where parallel branches sum past the SLO every share is scaled
//   down. Inside a stage, its budget is split among its calls by the same half-and-half rule over the
//   stage's own calls and their t(1) (what the plan carries: splitStage); an ensemble's members
//   each get the stage's budget.
//   The budget. A call starting with R ms left gets R × w / (w + the weights still ahead on the
//   heaviest path to the output: the rest of its stage, then aheadAfter), or its stage's fixed
//   budget (stageBudgetMs); one under kCallBudgetMsMin is not submitted.

import { type PipelinePlan, type StageKind, type StageSpec, stageModels, stageSources } from './pipeline_spec.js';

/** A call whose budget would be shorter than this (ms) is not submitted: no time is left. */
export const kCallBudgetMsMin = 0.05;
/** The half of a call's weight that follows its profiled cost; the rest is an equal share per call. */
const kCostShare = 0.5;

/** The time (ms) a query's calls have out of its SLO: sloMs − min(5 ms, sloMs/4). */
export function runSpanMs(sloMs: number): number {
  return sloMs - Math.min(5, 0.25 * sloMs);
}

/**
 * The budget (ms) of a stage (or one model call of it) that starts with `remainingMs` left before
 * the query's deadline: its fixed budget when it has one (never more than what is left), else the
 * share `weightHere / (weightHere + weightsAheadAfter)` of what is left, where the weights are those
 * of this call and of the calls still ahead on the slowest path. Never negative.
 */
export function stageBudgetMs(remainingMs: number, weightHere: number, weightsAheadAfter: number, fixedMs: number | null): number {
  if (!(remainingMs > 0)) return 0;
  if (fixedMs !== null) return Math.min(remainingMs, fixedMs);
  const total = weightHere + weightsAheadAfter;
  if (!(total > 0)) return remainingMs;
  return (remainingMs * weightHere) / total;
}

/** A stage's weight on its slowest path: an ensemble's members run side by side, the others in turn. */
export function ownWeight(kind: StageKind, callWeights: readonly number[]): number {
  if (kind === 'ensemble') return Math.max(0, ...callWeights);
  return callWeights.reduce((a, b) => a + b, 0);
}

/** Per stage (in execution order), the heaviest path of stage weights after it up to the output. */
export function aheadAfterOf(order: readonly StageSpec[], own: readonly number[]): number[] {
  const indexOf = new Map(order.map((s, i) => [s.name, i]));
  const ahead = new Array<number>(order.length).fill(0);
  for (let i = order.length - 1; i >= 0; i--) {
    for (const src of stageSources(order[i]!)) {
      const j = indexOf.get(src);
      if (j !== undefined) ahead[j] = Math.max(ahead[j]!, own[i]! + ahead[i]!);
    }
  }
  return ahead;
}

/** A model's cost inside a stage: its first profiled latency point (t(1), µs), 1 without a usable one. */
export function firstPointUs(latencyUs: ReadonlyArray<readonly [number, number]> | undefined): number {
  const t = latencyUs?.[0]?.[1];
  return t !== undefined && t > 0 && Number.isFinite(t) ? t : 1;
}

/** The heaviest path through the stages of per-stage weights `own` (in execution order). */
function heaviestPath(order: readonly StageSpec[], own: readonly number[]): number {
  const ahead = aheadAfterOf(order, own);
  return Math.max(0, ...own.map((w, i) => w + ahead[i]!));
}

/**
 * The plan's stage budgets (µs): per stage, its share of `sloUs` by the rule of the header, where
 * `callCostUs(stage, model)` is a call's profiled cost (the planner: t(1) + hop overhead). Whole
 * microseconds; every stage that calls a model gets at least 1 (the executor ignores a plan with a
 * zero budget); a combine 0. `pathCostUs`: the cost of the costliest path.
 */
export function planStageBudgetsUs(
  order: readonly StageSpec[],
  callCostUs: (stage: string, model: string) => number,
  sloUs: number,
): { budgets: Record<string, number>; pathCostUs: number } {
  const ownCost = order.map((s) =>
    ownWeight(
      s.kind,
      stageModels(s).map((m) => callCostUs(s.name, m)),
    ),
  );
  const ownCalls = order.map((s) =>
    ownWeight(
      s.kind,
      stageModels(s).map(() => 1),
    ),
  );
  const pathCostUs = heaviestPath(order, ownCost);
  const pathCalls = heaviestPath(order, ownCalls);
  const shares = order.map((s, i) => {
    if (s.budget_micros !== undefined) return Math.min(sloUs, s.budget_micros);
    const byCount = pathCalls > 0 ? ownCalls[i]! / pathCalls : 0;
    const byCost = pathCostUs > 0 ? ownCost[i]! / pathCostUs : byCount;
    return sloUs * (kCostShare * byCost + (1 - kCostShare) * byCount);
  });
  const sum = shares.reduce((a, b) => a + b, 0);
  const scale = sum > sloUs ? sloUs / sum : 1;
  const budgets: Record<string, number> = {};
  order.forEach((s, i) => {
    budgets[s.name] = s.kind === 'combine' ? 0 : Math.max(1, Math.floor(shares[i]! * scale));
  });
  return { budgets, pathCostUs };
}

/**
 * A stage's budget split among its calls: an ensemble's members each get all of it (side by side);
 * a cascade's levels and a map's two models, in turn, each half by its share of the stage's cost
 * `costs` and half an equal share.
 */
export function splitStage(kind: StageKind, budget: number, costs: readonly number[]): number[] {
  if (kind === 'ensemble') return costs.map(() => budget);
  const total = costs.reduce((a, b) => a + b, 0);
  return costs.map((c) => budget * (kCostShare * (total > 0 ? c / total : 1 / costs.length) + (1 - kCostShare) / costs.length));
}

/** The stage budgets of a stored plan when it gives every stage that calls a model one (> 0), else null. */
export function usableBudgets(order: readonly StageSpec[], plan: PipelinePlan | null): Readonly<Record<string, number>> | null {
  if (plan === null) return null;
  const budgets = plan.stage_budgets_micros;
  return order.every((s) => s.kind === 'combine' || budgets[s.name]! > 0) ? budgets : null;
}

export interface StageWeights {
  /** Per model call, its weight (an ensemble's members: the stage's). */
  calls: number[];
  /** Per model call, the weights of the calls after it in the stage, on its slowest path. */
  aheadInStage: number[];
  /** The heaviest path of stage weights after this stage up to the output. */
  aheadAfter: number;
}

/**
 * Every call's weight, in execution order: 1 each without budgets; with the plan's stage budgets
 * (µs), each stage's budget split among its calls by splitStage over `costOf(model)` (firstPointUs
 * of the model's profiled latency).
 */
export function deadlineWeights(
  order: readonly StageSpec[],
  budgetsUs: Readonly<Record<string, number>> | null,
  costOf: (model: string) => number,
): StageWeights[] {
  const calls = order.map((s) => {
    const models = stageModels(s);
    const budget = budgetsUs?.[s.name];
    if (budget === undefined) return models.map(() => 1);
    return splitStage(s.kind, budget, models.map(costOf));
  });
  const aheadAfter = aheadAfterOf(
    order,
    order.map((s, i) => ownWeight(s.kind, calls[i]!)),
  );
  return order.map((s, i) => {
    const w = calls[i]!;
    return {
      calls: w,
      aheadInStage: w.map((_, k) => (s.kind === 'ensemble' ? 0 : w.slice(k + 1).reduce((a, b) => a + b, 0))),
      aheadAfter: aheadAfter[i]!,
    };
  });
}
