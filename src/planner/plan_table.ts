// A plan as text for `clipper plan`: one row per model (batch size, replicas, t(n) at that batch
// size, the share of queries that reach it, its planned capacity), then the prediction, the
// baseline it is compared with, the stage budgets and the envelope the reactive tuner keeps; given
// the profile and the search's report, also the overheads the simulation added, each cascade's
// fall-through share with its standard error (a warning above kFallthroughStdErrorMax), and the
// outcome on the verification seeds (search_verify.ts).

import type { PipelinePlan, PipelineSpec } from '../pipeline_spec.js';
import { fallthroughUncertainty, interpolatePoints, kFallthroughStdErrorMax, type PipelineProfile, samplesForStdError } from './profile.js';
import type { PlanReport } from './search.js';
import { meetsSloRule } from './search_steps.js';
import type { Verification } from './search_verify.js';
import { describeWorkload } from './workload.js';

function ms(us: number): string {
  return `${(us / 1000).toFixed(2)} ms`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function modelRows(plan: PipelinePlan): string[][] {
  return plan.models.map((m) => {
    const n = m.batch_size > 0 ? m.batch_size : 1;
    return [
      `${m.model}:${m.version}`,
      m.batch_size > 0 ? String(m.batch_size) : 'adaptive',
      String(m.replicas),
      `${m.batch_size > 0 ? '' : 't(1) '}${ms(interpolatePoints(m.latency_us, n))}`,
      `${(m.visit_fraction * 100).toFixed(1)}%`,
      m.capacity_qps_per_replica.toFixed(1),
    ];
  });
}

/** The overheads the simulation added: per model call (inside the server) and per query (the HTTP edge). */
function overheadLine(profile: PipelineProfile): string {
  const calls = [...profile.models.values()].map((m) => `${m.model} ${ms(m.hopOverheadUs)}`).join(', ');
  return `overheads: per call (in the server, beyond t(n)) ${calls}; per query (HTTP edge) ${ms(profile.edgeOverheadUs ?? 0)}`;
}

/**
 * Per cascade level, its fall-through share ± its standard error and the samples it rests on; and a
 * warning for each share whose standard error exceeds kFallthroughStdErrorMax (or whose samples are unknown).
 */
export function fallthroughLines(profile: PipelineProfile, spec: PipelineSpec): { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  for (const u of fallthroughUncertainty(profile, spec.stages)) {
    const where = `cascade '${u.stage}' after ${u.model}`;
    if (Number.isNaN(u.samples)) {
      lines.push(`fall-through: ${where} ${u.share.toFixed(3)} (samples not recorded in the profile)`);
      continue;
    }
    lines.push(`fall-through: ${where} ${u.share.toFixed(3)} ± ${u.stdError.toFixed(3)} (standard error, ${u.samples} samples)`);
    if (u.stdError > kFallthroughStdErrorMax) {
      const need = samplesForStdError(Math.min(0.5, Math.max(u.share, 0.1)), kFallthroughStdErrorMax);
      warnings.push(
        `warning: the fall-through share of ${where} has a standard error of ${u.stdError.toFixed(3)} (> ${kFallthroughStdErrorMax}) ` +
          `on ${u.samples} samples: profile with more inputs like the real traffic (--samples FILE, or --sample-count; about ${need} reaching it)`,
      );
    }
  }
  return { lines, warnings };
}

function seedsText(v: Verification): string {
  const each = v.seeds.map((s) => `${ms(s.p99Us)}${s.meets ? '' : ' (missed)'}`).join(' / ');
  const misses = v.seeds.map((s) => `${(s.sloMissRatio * 100).toFixed(2)}%`).join(' / ');
  return `seeds ${v.seeds.map((s) => s.seed).join(', ')}: p99 ${each}, missed ${misses}`;
}

function verificationLines(report: Pick<PlanReport, 'verification' | 'baselineVerification' | 'fromBaseline'>): string[] {
  const v = report.verification;
  const added = v.addedReplicas > 0 ? `; ${v.addedReplicas} replica(s) added until they did` : '';
  const plan = report.fromBaseline ? 'the verified baseline, cheaper than the verified search result' : 'the plan';
  const lines = [`verified on ${seedsText(v)}${v.meets ? '' : ' -- the SLO is NOT met on every seed'}${added} (${plan})`];
  const b = report.baselineVerification;
  if (!report.fromBaseline) {
    const baseAdded = b.addedReplicas > 0 ? `; ${b.addedReplicas} replica(s) added` : '';
    lines.push(`baseline verified on ${seedsText(b)}${b.meets ? '' : ' -- NOT met on every seed'}${baseAdded}`);
  }
  return lines;
}

/** What formatPlanTable prints besides the plan, when it has it. */
export interface PlanTableExtras {
  profile?: PipelineProfile;
  report?: Pick<PlanReport, 'verification' | 'baselineVerification' | 'fromBaseline'>;
}

/** The plan as lines of text; `spec` (optional) orders the stage budgets as the pipeline runs them. */
export function formatPlanTable(plan: PipelinePlan, spec?: PipelineSpec, extras: PlanTableExtras = {}): string {
  const p = plan.predicted;
  const meets = meetsSloRule(p.p99_micros, p.slo_miss_ratio, plan.slo_micros);
  const lines = [
    `workload: ${describeWorkload(plan.workload)}; SLO (p99) ${ms(plan.slo_micros)}; seed ${plan.seed}`,
    '',
    ...table(['model', 'batch', 'replicas', 't(n)', 'visits', 'q/s per replica'], modelRows(plan)),
    '',
    `predicted: p50 ${ms(p.p50_micros)}, p99 ${ms(p.p99_micros)}, ${p.throughput_qps.toFixed(1)} q/s within the SLO, ` +
      `${(p.slo_miss_ratio * 100).toFixed(2)}% missed, ${p.replicas} replicas` +
      (meets ? '' : ` -- the SLO is NOT met: no configuration found (up to ${plan.replicas_max} replicas per model) meets it`),
  ];
  if (plan.baseline !== undefined) {
    const b = plan.baseline;
    const diff = b.replicas - p.replicas;
    const saved =
      diff > 0 ? ` (the plan uses ${((diff / b.replicas) * 100).toFixed(0)}% fewer)` : diff === 0 ? ' (as many as the plan)' : '';
    lines.push(
      `baseline (same replicas for every model, adaptive batching): ${b.replicas} replicas, p99 ${ms(b.p99_micros)}, ` +
        `${(b.slo_miss_ratio * 100).toFixed(2)}% missed${saved}`,
    );
  }
  if (extras.report !== undefined) lines.push(...verificationLines(extras.report));
  if (extras.profile !== undefined) {
    lines.push(overheadLine(extras.profile));
    if (spec !== undefined) {
      const ft = fallthroughLines(extras.profile, spec);
      lines.push(...ft.lines, ...ft.warnings);
    }
  }
  const names = spec?.stages.map((s) => s.name) ?? Object.keys(plan.stage_budgets_micros);
  const budgets = names.filter((n) => plan.stage_budgets_micros[n] !== undefined).map((n) => `${n} ${ms(plan.stage_budgets_micros[n]!)}`);
  lines.push(`stage budgets: ${budgets.join(', ')}`);
  const [low, high] = plan.envelope_qps;
  lines.push(
    `reactive tuning: ${plan.reactive ? 'on' : 'off'}; envelope ${low.toFixed(1)}..${high.toFixed(1)} q/s; at most ${plan.replicas_max} replicas per model`,
  );
  return `${lines.join('\n')}\n`;
}
