// Clipper's quickstart, installed by `clipper start --example`: app `hello-world` (doubles, default
// output "-1.0", SLO 100 ms) linked to `sum-model` version 1, a Node model summing each input.

import path from 'node:path';
import type { AdminContext } from './admin_context.js';
import { appRecordOf, deployRecord, nodeModelRecord } from './deploy_local.js';
import { kExamplesDir } from '../paths.js';

export async function installExample(ctx: AdminContext): Promise<void> {
  const existing = ctx.snapshot();
  if (!existing.models.has('sum-model:1')) {
    await deployRecord(ctx, nodeModelRecord('sum-model', '1', 'doubles', path.join(kExamplesDir, 'sum_model.mjs')));
  } else {
    await ctx.waitForDeploy('sum-model', '1');
  }
  if (!existing.apps.has('hello-world')) await ctx.store.putApp(appRecordOf('hello-world', 'doubles', ['sum-model']));
}
