// The pipeline as the simulator runs it: stages in execution order with their sources and consumers,
// and the budget weights of the deadline split, computed by the rule the executor uses
// (src/deadline_split.ts, from a stored plan in src/query/stage_graph.ts), so that the simulation
// splits a query's deadline exactly as the server will:
//   1. the plan's stage budgets (planStageBudgetsUs), where a model call costs t(1) + hop overhead;
//   2. each call's weight: its stage's budget split by splitStage over the models' first latency
//      point (as the plan's latency_us carries it); aheadInStage and aheadAfter as there.
// The run's end is arrival + runSpanMs(SLO) (deadline_split.ts), as the executor's.

import { ClipperError } from '../errors.js';
import { deadlineWeights, firstPointUs, planStageBudgetsUs } from '../deadline_split.js';
import { kPipelineInput, type PipelineSpec, type StageSpec, stageModels, stageOrder, stageSources } from '../pipeline_spec.js';
import { callWeightUs, type ModelProfile, type PipelineProfile } from './profile.js';

export interface SimStage {
  spec: StageSpec;
  /** Indices (in `stages`) of the stages it reads; empty: it reads the query's input. */
  sources: number[];
  consumers: number[];
  models: string[];
  /** Per model call, its budget weight (an ensemble's members: the stage's). */
  callWeights: number[];
  /** Per model call, the weights of the calls after it in the stage, on its slowest path. */
  aheadInStage: number[];
  /** Heaviest path of stage weights after this stage up to the output. */
  aheadAfter: number;
  /** A fixed budget (ms), or null: a share of the time left. */
  fixedMs: number | null;
  /** cascade: the share that falls through after each model but the last. */
  fallthrough: number[];
}

export interface SimGraph {
  stages: SimStage[];
  outputIndex: number;
  /** The plan's stage_budgets_micros: per stage, its share of the SLO (µs). */
  stageBudgetsMicros: Record<string, number>;
  /** Cost of the costliest path through the pipeline at t(1) + hop per call (µs). */
  pathWeightUs: number;
  /** Every model, each once, in stage order. */
  models: string[];
}

function modelProfile(profile: PipelineProfile, stage: string, model: string): ModelProfile {
  const p = profile.models.get(model);
  if (p === undefined) throw new ClipperError('CLP_ERR_INVALID_ARG', `pipeline stage '${stage}': model '${model}' has no profile`);
  return p;
}

/**
 * The simulator's view of `spec` under an SLO of `sloUs`. Every model must be in the profile (else
 * ClipperError 400 naming the stage); a cascade without measured fall-through shares is taken as
 * all falling through (the worst case).
 */
export function compileSimGraph(spec: PipelineSpec, profile: PipelineProfile, sloUs: number): SimGraph {
  const order = stageOrder(spec);
  const indexOf = new Map(order.map((s, i) => [s.name, i]));
  const { budgets, pathCostUs } = planStageBudgetsUs(order, (stage, m) => callWeightUs(modelProfile(profile, stage, m)), sloUs);
  const weights = deadlineWeights(order, budgets, (m) => firstPointUs(profile.models.get(m)?.latencyUs));
  const models: string[] = [];
  const stages: SimStage[] = order.map((s, i) => {
    const names = stageModels(s);
    for (const m of names) if (!models.includes(m)) models.push(m);
    const measured = profile.fallthrough.get(s.name) ?? [];
    return {
      spec: s,
      sources: stageSources(s)
        .filter((src) => src !== kPipelineInput)
        .map((src) => indexOf.get(src)!),
      consumers: [],
      models: names,
      callWeights: weights[i]!.calls,
      aheadInStage: weights[i]!.aheadInStage,
      aheadAfter: weights[i]!.aheadAfter,
      fixedMs: s.budget_micros === undefined ? null : s.budget_micros / 1000,
      fallthrough: s.kind === 'cascade' ? names.slice(0, -1).map((_, j) => measured[j] ?? 1) : [],
    };
  });
  stages.forEach((s, i) => {
    for (const src of s.sources) stages[src]!.consumers.push(i);
  });
  return { stages, outputIndex: indexOf.get(spec.output)!, stageBudgetsMicros: budgets, pathWeightUs: pathCostUs, models };
}

/** Expected calls of each model per pipeline query (a cascade's later models: the share that falls through to them). */
export function visitsPerQuery(graph: SimGraph): Map<string, number> {
  const visits = new Map<string, number>(graph.models.map((m) => [m, 0]));
  for (const s of graph.stages) {
    let reach = 1;
    s.models.forEach((m, i) => {
      visits.set(m, visits.get(m)! + reach);
      if (s.spec.kind === 'cascade') reach *= s.fallthrough[i] ?? 1;
    });
  }
  return visits;
}
