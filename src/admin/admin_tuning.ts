// /admin/set_model_batch_size: a model version's batch size (-1 adaptive, or a fixed maximum),
// written to the state store like every other change; each frontend's Deployments
// (control/deployments.ts) hands it to the running model's scheduler, so its replicas keep running.
// The dashboard's batch-mode control calls it (set_app_slo, its sibling, is in admin_apps.ts).

import { ClipperError } from '../errors.js';
import { textReply } from '../http/reply.js';
import { modelKey } from '../state/records.js';
import type { AdminCore, AdminReply, AdminRoute } from './admin_core.js';
import { checkBatchSize, type BodyReader } from './admin_validate.js';

async function setModelBatchSize(core: AdminCore, body: BodyReader): Promise<AdminReply> {
  const name = body.string('model_name');
  const version = body.string('model_version');
  const batchSize = body.int('batch_size');
  // Bounded by the cluster's batchSizeMax, the largest batch adaptive batching forms: a fixed size
  // above it is a slip that would send the replicas batches larger than they were ever sized for.
  const max = core.ctx.defaults.batchSizeMax;
  const range = max === undefined ? 'of at least 1' : `from 1 to ${max} (the cluster's batchSizeMax)`;
  if (batchSize !== -1 && (batchSize < 1 || (max !== undefined && batchSize > max))) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `batch_size must be -1 (adaptive) or a fixed maximum ${range} (got ${batchSize})`);
  }
  checkBatchSize(batchSize); // the upper bound add_model applies
  const key = modelKey(name, version);
  return core.exclusive(async () => {
    const record = core.ctx.snapshot().models.get(key);
    if (record === undefined) {
      throw new ClipperError('CLP_ERR_NOT_FOUND', `model with name '${name}' and version '${version}' does not exist`);
    }
    await core.write(`updating model ${key}`, () => core.ctx.store.putModel({ ...record, batch_size: batchSize }));
    const mode = batchSize === -1 ? 'adaptive' : `a fixed maximum of ${batchSize}`;
    return textReply(`Successfully set the batch size of model '${name}' version '${version}' to ${mode}`);
  });
}

export const kTuningRoutes: Readonly<Record<string, AdminRoute>> = {
  set_model_batch_size: {
    mutates: true,
    run: setModelBatchSize,
    schema: '{"model_name" := string, "model_version" := string, "batch_size" := int (-1: adaptive)}',
  },
};
