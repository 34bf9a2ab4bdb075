// The read-only model endpoints of the Open Inference Protocol, as replies: metadata
// (GET /v2/models/{m}[/versions/{v}]), readiness (.../ready) and statistics (.../stats, computed by
// stats.ts from the batching actors' measurements).
//
//   metadata: {name, versions, platform: "clipper-ts/<container>", inputs, outputs}; `versions` are
//             the model's deployed versions (those a request may pin), numeric-aware order; for an
//             app, its first linked model's.
//   ready:    200 {name, ready: true} when the version queries would go to (pinned, else current)
//             has a placement and a connected replica; else 400 {"error"} saying which is missing.
//   stats:    Triton's statistics of the model's versions ({v}: that one); an app's are its first
//             linked model's.

import { ClipperError } from '../../errors.js';
import { jsonReply, type HttpReply } from '../../http/reply.js';
import { oipNotFound } from './oip_errors.js';
import { servingVersion, targetTensorSpec, type OipTarget } from './oip_target.js';
import { modelStatsJson, type ModelStatsSource } from './stats.js';

const kVersionOrder = new Intl.Collator('en', { numeric: true });

export function modelMetadataReply(target: OipTarget): HttpReply {
  const spec = targetTensorSpec(target);
  const versions = [...target.route.versions.keys()].sort(kVersionOrder.compare);
  const runtime = target.info?.record.container_name ?? 'none';
  return jsonReply({ name: target.name, versions, platform: `clipper-ts/${runtime}`, inputs: spec.inputs, outputs: spec.outputs });
}

/** Whether a model version has a connected replica (the batching workers' view). */
export type ReplicaReady = (model: string, version: string) => boolean;

export function modelReadyReply(target: OipTarget, replicaReady: ReplicaReady): HttpReply {
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

/** Statistics of the target's model (every model when `target` is null). */
export function modelStatsReply(target: OipTarget | null, stats: readonly ModelStatsSource[]): HttpReply {
  if (target === null) return jsonReply(modelStatsJson(stats));
  if (target.model === null) throw oipNotFound(`application '${target.name}' has no linked model, so no statistics`);
  return jsonReply(modelStatsJson(stats, { name: target.model.name, version: target.version ?? undefined }));
}
