// The Prometheus series of pipeline apps' stages (docs/pipelines.md, "Metrics"), read at scrape time
// from the counters the executor keeps (query/stage_stats.ts):
//
//   clipper_pipeline_stage_latency_seconds{app,stage}            histogram: a stage's start to its output
//   clipper_pipeline_stage_fallbacks_total{app,stage}            times the stage failed (best so far or default)
//   clipper_pipeline_cascade_fallthrough_total{app,stage,model}  queries a cascade's model passed on to the next
//   clipper_pipeline_cascade_failovers_total{app,stage,model}    queries a cascade's model gave no answer, asked the next
//   clipper_pipeline_run_errors_total{app}                       queries whose run broke and answered the default output
//
// A stage's batch sizes are its models' own: clipper_model_batch_size{model,version}.

import type { AppPipelineStats } from '../query/stage_stats.js';
import { histogramValues, type AddMetric, type MetricValue } from './prom_registry.js';

export function registerPipelines(add: AddMetric, pipelines: () => ReadonlyMap<string, AppPipelineStats>): void {
  const each = <T>(fn: (app: string, stats: AppPipelineStats) => T[]): T[] => [...pipelines()].flatMap(([app, stats]) => fn(app, stats));
  add('clipper_pipeline_stage_latency_seconds', "A pipeline stage's latency, from its start to its output", 'histogram', async () =>
    each((app, p) =>
      p.stages.flatMap((s) => histogramValues('clipper_pipeline_stage_latency_seconds', { app, stage: s.name }, s.latencyUs, 1e-6)),
    ),
  );
  add(
    'clipper_pipeline_stage_fallbacks_total',
    'Times a pipeline stage failed and the query took the fallback (best so far, or the default output)',
    'counter',
    async () => each((app, p) => p.stages.map((s): MetricValue => ({ labels: { app, stage: s.name }, value: s.fallbacks }))),
  );
  add(
    'clipper_pipeline_cascade_fallthrough_total',
    "Queries a cascade's model answered below the threshold, passed on to the next model",
    'counter',
    async () =>
      each((app, p) =>
        p.stages.flatMap((s) =>
          (s.fallthrough ?? []).map((value, i): MetricValue => ({ labels: { app, stage: s.name, model: s.models[i]! }, value })),
        ),
      ),
  );
  add(
    'clipper_pipeline_cascade_failovers_total',
    "Queries a cascade's model gave no answer (late, shed, an error) while time was left, asked the next model instead",
    'counter',
    async () =>
      each((app, p) =>
        p.stages.flatMap((s) =>
          (s.failovers ?? []).map((value, i): MetricValue => ({ labels: { app, stage: s.name, model: s.models[i]! }, value })),
        ),
      ),
  );
  add(
    'clipper_pipeline_run_errors_total',
    'Queries of a pipeline app whose run broke an invariant of the executor (a bug) and answered the default output',
    'counter',
    async () => each((app, p) => [{ labels: { app }, value: p.runErrors }]),
  );
}
