// /admin/get_pipeline_stats {"name"}: a pipeline app's per-stage counters on this frontend (calls,
// latency, fallbacks, cascade fall-through and failovers, each model's mean batch size) and its
// arrival rate, read through the AdminContext's pipelineStats port (the cluster wires it to the
// query core's counters).
// docs/pipelines.md, "Metrics", describes the answer.

import { ClipperError } from '../errors.js';
import { jsonReply } from '../http/reply.js';
import { stageModels, stageOrder } from '../pipeline_spec.js';
import { zeroPipelineStatsReport } from '../query/stage_stats.js';
import type { AdminCore, AdminReply, AdminRoute } from './admin_core.js';
import type { BodyReader } from './admin_validate.js';

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
  if (report !== null) return jsonReply(report);
  // No counters here yet (or no stats port): every stage at 0, in the live report's shape.
  const stages = stageOrder(app.pipeline).map((s) => ({ name: s.name, kind: s.kind, models: stageModels(s) }));
  return jsonReply(zeroPipelineStatsReport(name, stages));
}

export const kPipelineStatsRoutes: Readonly<Record<string, AdminRoute>> = {
  get_pipeline_stats: { mutates: false, run: getPipelineStats, schema: '{"name" := string}' },
};
