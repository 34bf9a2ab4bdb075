// The planner: per model of a pipeline, the batch size and replica count that meet a p99 latency
// objective under a workload with the fewest replicas, found InferLine-style (Crankshaw et al.,
// SoCC'20): profiles, a discrete-event simulation of the whole pipeline (pipeline_sim.ts) and a
// greedy search (search_steps.ts):
//   1. start: 1 replica per model, each at its best fixed batch size: the largest of 1..32 whose
//      batch latency (t(n) + hop) fits twice in the model's share of the SLO (a query may wait for
//      the batch in progress, then ride the next), so the most throughput the budget allows;
//   2. grow until the simulation meets the SLO (p99 <= SLO, misses <= 1%);
//   3. shrink while it still holds (also from the uniform baseline, when that is cheaper);
//   4. the baseline for comparison: the same replicas for every model, adaptive batching, the fewest
//      that meet the SLO (what one would set by hand, sized for the slowest model);
//   5. verify the result and the baseline on 3 more seeds, growing either while a seed misses the
//      SLO (search_verify.ts); a verified baseline cheaper than the verified result replaces it.
// Deterministic: the seed fixes every simulation, each configuration runs once per seed. Cost: one
// simulation per distinct configuration tried (each is durationMs of simulated time), plus 3 per
// configuration verified.

import { ownWeight, runSpanMs } from '../deadline_split.js';
import { ClipperError } from '../errors.js';
import { kPlanReplicasMax } from '../pipeline_plan_check.js';
import type { PipelinePlan, PipelineSpec, PlanModel, WorkloadSpec } from '../pipeline_spec.js';
import { envelopeFor, planCapacityQps } from './capacity.js';
import { interpolateLatencyUs, type PipelineProfile } from './profile.js';
import { compileSimGraph, type SimGraph, visitsPerQuery } from './sim_graph.js';
import { type Evaluated, Evaluator, grow, kBatchOptions, meetsSloRule, shrink, uniform } from './search_steps.js';
import { growBottleneck, growUniform, type Verification, verifyConfiguration, verifySeeds } from './search_verify.js';

export interface PlanInput {
  spec: PipelineSpec;
  profile: PipelineProfile;
  workload: WorkloadSpec;
  sloUs: number;
  seed: number;
  /** Per model, the most replicas the plan (and the reactive tuner) may use. */
  replicasMax: number;
  /** Simulated time per configuration; default: defaultDurationMs(the workload's rate). */
  durationMs?: number;
  /** Whether the reactive tuner may act on the plan (default true). */
  reactive?: boolean;
}

/** Simulated time per configuration: about 10000 measured queries, within [5 s, 120 s], plus 10% warmup. */
export function defaultDurationMs(rateQps: number): number {
  const measuredMs = Math.min(120_000, Math.max(5_000, (10_000 / rateQps) * 1000));
  return Math.round(measuredMs / 0.9);
}

/** Whether the plan's own prediction meets its SLO (a plan is returned even when nothing within replicas_max does). */
export function planMeetsSlo(plan: PipelinePlan): boolean {
  return meetsSloRule(plan.predicted.p99_micros, plan.predicted.slo_miss_ratio, plan.slo_micros);
}

function checkInput(input: PlanInput): void {
  const bad = (field: string, what: string): never => {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `plan ${field}: ${what}`);
  };
  if (!Number.isInteger(input.sloUs) || input.sloUs < 1) bad('slo_micros', `must be an integer >= 1 (got ${input.sloUs})`);
  if (!Number.isInteger(input.seed)) bad('seed', `must be an integer (got ${input.seed})`);
  if (!Number.isInteger(input.replicasMax) || input.replicasMax < 1 || input.replicasMax > kPlanReplicasMax) {
    bad('replicas_max', `must be an integer in [1, ${kPlanReplicasMax}] (got ${input.replicasMax})`);
  }
  if (!(input.workload.rate_qps > 0)) bad('workload', `rate must be > 0 (got ${input.workload.rate_qps})`);
  if (input.durationMs !== undefined && !(input.durationMs >= 100 && Number.isFinite(input.durationMs))) {
    bad('durationMs', `must be at least 100 ms of simulated time (got ${input.durationMs})`);
  }
}

/**
 * A model's share of the run (µs): its first call's weight against the heaviest path's, as the
 * executor gives it when every call before it takes its own share (deadline_split.ts).
 */
function modelShareUs(graph: SimGraph, model: string, sloUs: number): number {
  const stage = graph.stages.find((s) => s.models.includes(model))!;
  const weight = stage.callWeights[stage.models.indexOf(model)]!;
  const path = Math.max(...graph.stages.map((s) => ownWeight(s.spec.kind, s.callWeights) + s.aheadAfter));
  return path > 0 ? (runSpanMs(sloUs / 1000) * 1000 * weight) / path : 0;
}

/** Step 1: the largest batch size whose latency fits twice in the model's share of the SLO (at least 1). */
function startBatchSize(graph: SimGraph, profile: PipelineProfile, model: string, sloUs: number): number {
  const p = profile.models.get(model)!;
  const shareUs = modelShareUs(graph, model, sloUs);
  let best = 1;
  for (const n of kBatchOptions) if (n > 0 && 2 * (interpolateLatencyUs(p, n) + p.hopOverheadUs) <= shareUs) best = n;
  return best;
}

function planModels(input: PlanInput, graph: SimGraph, chosen: Evaluated): PlanModel[] {
  const visits = visitsPerQuery(graph);
  return graph.models.map((m, i) => {
    const p = input.profile.models.get(m)!;
    const s = chosen.settings[i]!;
    const calls = visits.get(m)!;
    // A cascade level no query reaches still gets a (tiny) share: a plan's visit_fraction is > 0.
    const visit = Math.max(1e-6, Math.min(1, calls));
    const capacity = planCapacityQps({
      profile: p,
      batchSize: s.batchSize,
      replicas: s.replicas,
      budgetUs: modelShareUs(graph, m, input.sloUs),
      callsPerVisit: Math.max(1, calls / visit),
      plannedQps: input.workload.rate_qps * visit,
    });
    return {
      model: m,
      version: p.version,
      batch_size: s.batchSize,
      replicas: s.replicas,
      latency_us: p.latencyUs.map(([n, us]) => [n, us] as [number, number]),
      visit_fraction: visit,
      capacity_qps_per_replica: capacity,
    };
  });
}

/** A plan and how it was checked beyond its own seed (what `clipper plan` prints besides the plan). */
export interface PlanReport {
  plan: PipelinePlan;
  /** The plan's configuration on the verification seeds. */
  verification: Verification;
  /** The baseline's configuration on the verification seeds. */
  baselineVerification: Verification;
  /** Whether the verified baseline replaced the search's result (it was cheaper once both were verified). */
  fromBaseline: boolean;
  /** Distinct simulations run, all seeds together (the CPU cost is about this × one simulation). */
  simulations: number;
}

/** Steps 1-5 (see the top): the chosen configuration and the baseline, each verified, and the simulations run. */
function search(input: PlanInput, graph: SimGraph, durationMs: number) {
  const { profile, sloUs, seed } = input;
  const options = (s: number) => ({ seed: s, durationMs, warmupMs: Math.round(durationMs / 10) });
  const ev = new Evaluator(input, graph.models, options(seed));
  const others = verifySeeds(seed).map((s) => new Evaluator(input, graph.models, options(s)));
  const start = graph.models.map((m) => ({ batchSize: startBatchSize(graph, profile, m, sloUs), replicas: 1 }));
  let chosen: Evaluated = shrink(ev, grow(ev, start));
  const baseline = uniform(ev);
  if (baseline.meets && (!chosen.meets || baseline.cost < chosen.cost)) {
    const fromBaseline = shrink(ev, baseline);
    if (!chosen.meets || fromBaseline.cost < chosen.cost) chosen = fromBaseline;
  }
  let plan = verifyConfiguration(ev, others, chosen, growBottleneck(ev));
  const base = verifyConfiguration(ev, others, baseline, growUniform(ev));
  const fromBaseline = base.verification.meets && (!plan.verification.meets || base.at.cost < plan.at.cost);
  if (fromBaseline) plan = base;
  const simulations = ev.simulationCount + others.reduce((a, o) => a + o.simulationCount, 0);
  return { plan, base, fromBaseline, simulations };
}

/**
 * The plan for `input.spec` under its workload and SLO, with its verification. Throws ClipperError
 * 400 on bad input, and when the SLO is shorter than the slowest path's latency at batch size 1 plus
 * the edge overhead (no configuration could meet it). When no configuration within replicas_max
 * meets the SLO, the best one found is returned with its (failing) prediction: see planMeetsSlo.
 */
export function planPipelineReport(input: PlanInput): PlanReport {
  checkInput(input);
  const { spec, profile, workload, sloUs, seed, replicasMax } = input;
  const graph = compileSimGraph(spec, profile, sloUs);
  const edgeUs = profile.edgeOverheadUs ?? 0;
  if (graph.pathWeightUs + edgeUs > sloUs) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `plan slo_micros: ${sloUs} µs is below the pipeline's slowest path at batch size 1 (${Math.round(graph.pathWeightUs + edgeUs)} µs of t(1) + hop overhead${edgeUs > 0 ? ' + edge overhead' : ''})`,
    );
  }
  const { plan, base, fromBaseline, simulations } = search(input, graph, input.durationMs ?? defaultDurationMs(workload.rate_qps));
  const chosen = plan.at;
  const o = chosen.outcome;
  const result: PipelinePlan = {
    seed,
    workload: structuredClone(workload),
    slo_micros: sloUs,
    models: planModels(input, graph, chosen),
    stage_budgets_micros: graph.stageBudgetsMicros,
    predicted: {
      p99_micros: o.p99Us,
      p50_micros: o.p50Us,
      throughput_qps: o.throughputQps,
      replicas: chosen.cost,
      slo_miss_ratio: o.sloMissRatio,
    },
    baseline: { replicas: base.at.cost, p99_micros: base.at.outcome.p99Us, slo_miss_ratio: base.at.outcome.sloMissRatio },
    envelope_qps: envelopeFor(workload.rate_qps),
    replicas_max: replicasMax,
    reactive: input.reactive ?? true,
  };
  return { plan: result, verification: plan.verification, baselineVerification: base.verification, fromBaseline, simulations };
}

/** The plan alone (planPipelineReport). */
export function planPipeline(input: PlanInput): PipelinePlan {
  return planPipelineReport(input).plan;
}
