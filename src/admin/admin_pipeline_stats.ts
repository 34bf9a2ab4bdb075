// /admin/get_pipeline_stats {"name"}: a pipeline app's per-stage counters on this frontend (calls,
// latency, fallbacks, cascade fall-through and failovers, each model's mean batch size) and its
// arrival rate, read through the AdminContext's pipelineStats port (the cluster wires it to the
// query core's counters).
// docs/pipelines.md, "Metrics", describes the answer.

import { ClipperError } from '../errors.js';
import { jsonReply } from '../http/reply.js';
import { stageModels, stageOrder, type PipelineSpec } from '../pipeline_spec.js';
import type { PipelineStatsReport } from '../query/stage_stats.js';
import type { AdminCore, AdminReply, AdminRoute } from './admin_core.js';
import type { BodyReader } from './admin_validate.js';

/** The report of a pipeline no query has reached on this frontend: every counter 0. */
function zeroReport(app: string, spec: PipelineSpec): PipelineStatsReport {
  return {
    app,
    stages: stageOrder(spec).map((s) => {
      const models = stageModels(s);
      // A cascade's per-level counters, every level but the last: fall-through and failovers.
      const levels = (): Record<string, number> => Object.fromEntries(models.slice(0, -1).map((m) => [m, 0]));
      const cascade = s.kind === 'cascade' ? { fallthrough: levels(), failovers: levels() } : {};
      return {
        name: s.name,
        kind: s.kind,
        calls: 0,
        latency_us: { p50: 0, p99: 0, mean: 0 },
        fallbacks: 0,
        ...cascade,
        models: [...new Set(models)].map((model) => ({ model, mean_batch_size: null })),
      };
    }),
    queries: 0,
    arrival_rate_qps: 0,
  };
}

async function getPipelineStats(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('name');
  const app = core.app(name);
  if (app === undefined) throw new ClipperError('CLP_ERR_NOT_FOUND', `No app with name '${name}' exists.`);
  if (app.pipeline === undefined) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `application '${name}' is not a pipeline: it has no pipeline stats (see get_application)`,
    );
  }
  const report = (await core.ctx.pipelineStats?.(name)) ?? null;
  return jsonReply(report ?? zeroReport(name, app.pipeline));
}

export const kPipelineStatsRoutes: Readonly<Record<string, AdminRoute>> = {
  get_pipeline_stats: { mutates: false, run: getPipelineStats, schema: '{"name" := string}' },
};
