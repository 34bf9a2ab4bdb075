// What the reactive tuner (src/control/pipeline_tuner.ts) asks of a stored plan: the replicas each
// model needs at an observed arrival rate, and the envelope of rates a configuration is kept for.
// A model's need at rate R: ceil(R × visit_fraction / capacity_qps_per_replica), clamped to
// [1, replicas_max]. The planner (search.ts, planCapacityQps) sets each capacity so that the plan's
// own rate gives back the plan's own replicas.

import type { PipelinePlan } from '../pipeline_spec.js';
import { interpolateLatencyUs, type ModelProfile } from './profile.js';

/** Below this, a quotient is taken as the integer under it (floating-point noise must not add a replica). */
const kCeilSlack = 1e-9;

/** Per plan model: the replicas it needs at `rateQps` pipeline queries per second. */
export function replicasForRate(plan: PipelinePlan, rateQps: number): Map<string, number> {
  const out = new Map<string, number>();
  const rate = Number.isFinite(rateQps) && rateQps > 0 ? rateQps : 0;
  for (const m of plan.models) {
    const need =
      m.capacity_qps_per_replica > 0 ? Math.ceil((rate * m.visit_fraction) / m.capacity_qps_per_replica - kCeilSlack) : plan.replicas_max;
    out.set(m.model, Math.min(plan.replicas_max, Math.max(1, need)));
  }
  return out;
}

/** Rates (queries/s) a configuration sized for `rateQps` is kept for: [0.7 × rate, 1.15 × rate]. */
export function envelopeFor(rateQps: number): [number, number] {
  const rate = Number.isFinite(rateQps) && rateQps > 0 ? rateQps : 0;
  return [0.7 * rate, 1.15 * rate];
}

/** The share of its calls' throughput a replica is planned for (headroom for bursts and noise). */
const kUtilizationTarget = 0.8;

/**
 * A model's capacity_qps_per_replica for a plan, in pipeline queries per second that reach it:
 * analytically n / (t(n) + hop) × 0.8 at the batch size n the replica forms within its budget (the
 * fixed maximum, or for adaptive batching the largest n up to 64 whose batch fits twice in the
 * budget), divided by the model's calls per visit; then held to what the simulation established
 * at the planned rate: `replicas` sustain it (at least planned / replicas) and, at more than one
 * replica, one fewer does not (below planned / (replicas - 1); an analytic figure beyond that is
 * replaced by the middle of the two). So replicasForRate(plan, the plan's rate) gives back the
 * plan's replicas.
 */
export function planCapacityQps(a: {
  profile: ModelProfile;
  batchSize: number;
  replicas: number;
  budgetUs: number;
  callsPerVisit: number;
  plannedQps: number;
}): number {
  const costUs = (n: number): number => Math.max(1, interpolateLatencyUs(a.profile, n) + a.profile.hopOverheadUs);
  const sizeMax = a.batchSize > 0 ? a.batchSize : 64;
  let n = 1;
  while (n < sizeMax && 2 * costUs(n + 1) <= a.budgetUs) n++;
  const analytic = (((n * 1e6) / costUs(n)) * kUtilizationTarget) / a.callsPerVisit;
  const low = a.plannedQps / a.replicas;
  if (analytic <= low || a.replicas === 1) return Math.max(low, analytic);
  // One fewer replica fails at the planned rate: a replica carries less than planned / (replicas - 1).
  // Beyond that, the analytic figure is not to be trusted: the middle of what the simulation established.
  const high = a.plannedQps / (a.replicas - 1);
  return analytic < high ? analytic : (low + high) / 2;
}
