// The read-only model endpoints of the Open Inference Protocol, as replies: metadata
// (GET /v2/models/{m}[/versions/{v}]), readiness (.../ready) and statistics (.../stats, computed by
// stats.ts from the batching actors' measurements).
//
//   metadata: {name, versions, platform: "clipper-ts/<container>", inputs, outputs}; `versions` are
//             the model's deployed versions (those a request may pin), numeric-aware order; for an
//             app, its first linked model's; a pipeline app: platform "clipper-ts/pipeline", tensors
//             from its input type, no versions (a pipeline's version cannot be pinned).
//   ready:    200 {name, ready: true} when the version queries would go to (pinned, else current)
//             has a placement and a connected replica; for a pipeline app, when its graph compiled
//             and every model it calls has both (its current version); else 400 {"error"} saying
//             which is missing.
//   stats:    Triton's statistics of the model's versions ({v}: that one); an app's are its first
//             linked model's.

import type { ModelRoute } from '../../control/model_routes.js';
import { ClipperError } from '../../errors.js';
import { jsonReply, type HttpReply } from '../../http/reply.js';
import { oipNotFound } from './oip_errors.js';
import { servingVersion, targetTensorSpec, type OipTarget } from './oip_target.js';
import { modelStatsJson, type ModelStatsSource } from './stats.js';

const kVersionOrder = new Intl.Collator('en', { numeric: true });

export function modelMetadataReply(target: OipTarget): HttpReply {
  const spec = targetTensorSpec(target);
  const isPipeline = target.isApp && target.route.pipeline !== undefined;
  const versions = isPipeline ? [] : [...target.route.versions.keys()].sort(kVersionOrder.compare);
  const runtime = isPipeline ? 'pipeline' : (target.info?.record.container_name ?? 'none');
  return jsonReply({ name: target.name, versions, platform: `clipper-ts/${runtime}`, inputs: spec.inputs, outputs: spec.outputs });
}

/** Whether a model version has a connected replica (the batching workers' view). */
export type ReplicaReady = (model: string, version: string) => boolean;

export function modelReadyReply(target: OipTarget, replicaReady: ReplicaReady, models: ReadonlyMap<string, ModelRoute>): HttpReply {
  if (target.isApp && target.route.pipeline !== undefined) return pipelineReadyReply(target, replicaReady, models);
  const model = target.model;
  const version = servingVersion(target);
  let why: string | null = null;
  if (model === null) why = `application '${target.name}' has no linked model`;
  else if (version === null) why = `model '${model.name}' has no current version`;
  else if (!target.route.versions.has(version)) why = `version '${version}' of model '${model.name}' is not deployed`;
  else if (!replicaReady(model.name, version)) why = `version '${version}' of model '${model.name}' has no connected replica yet`;
  if (why !== null) throw new ClipperError('CLP_ERR_OIP_NOT_READY', `'${target.name}' is not ready: ${why}`);
  return jsonReply({ name: target.name, ready: true });
}

/** A pipeline app is ready when every model its stages call has a placement and a connected replica. */
function pipelineReadyReply(target: OipTarget, replicaReady: ReplicaReady, models: ReadonlyMap<string, ModelRoute>): HttpReply {
  const graph = target.route.pipeline ?? null;
  let why: string | null = null;
  if (graph === null) why = 'its pipeline could not be compiled over the models deployed';
  for (const stage of graph?.stages ?? []) {
    for (const call of stage.calls) {
      if (why !== null) break;
      const version = models.get(call.model)?.currentVersion ?? null;
      if (call.placement === null || version === null) why = `model '${call.model}' of stage '${stage.name}' is not deployed`;
      else if (!replicaReady(call.model, version))
        why = `version '${version}' of model '${call.model}' (stage '${stage.name}') has no connected replica yet`;
    }
  }
  if (why !== null) throw new ClipperError('CLP_ERR_OIP_NOT_READY', `'${target.name}' is not ready: ${why}`);
  return jsonReply({ name: target.name, ready: true });
}

/** Statistics of the target's model (every model when `target` is null). */
export function modelStatsReply(target: OipTarget | null, stats: readonly ModelStatsSource[]): HttpReply {
  if (target === null) return jsonReply(modelStatsJson(stats));
  if (target.model === null) throw oipNotFound(`application '${target.name}' has no linked model, so no statistics`);
  return jsonReply(modelStatsJson(stats, { name: target.model.name, version: target.version ?? undefined }));
}
