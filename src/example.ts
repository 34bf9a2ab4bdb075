// Clipper's quickstart, installed by `clipper start --example`: app `hello-world` (doubles, default
// output "-1.0", SLO 100 ms) linked to `sum-model` version 1, a Node model summing each input.

import path from 'node:path';
import type { AdminContext } from './admin/admin_context.js';
import { kExamplesDir } from './paths.js';

export async function installExample(ctx: AdminContext): Promise<void> {
  const store = ctx.store;
  const existing = ctx.snapshot();
  if (!existing.models.has('sum-model:1')) {
    await store.putModel({
      model_name: 'sum-model', model_version: '1', input_type: 'doubles', labels: [],
      container_name: 'clipper/node-runner', model_data_path: 'DEPRECATED', batch_size: -1,
      container: { runtime: 'node', entry: path.join(kExamplesDir, 'sum_model.mjs'), options: { isolate: 'inline' } },
      num_replicas: 1,
    });
  }
  await ctx.waitForDeploy('sum-model', '1');
  if (ctx.snapshot().currentVersions.get('sum-model') === undefined) await store.setCurrentVersion('sum-model', '1');
  if (!existing.apps.has('hello-world')) {
    await store.putApp({
      name: 'hello-world', input_type: 'doubles', default_output: '-1.0', latency_slo_micros: 100_000,
      linked_models: ['sum-model'], selection_policy: 'default', overload_response: 'default_output',
    });
  }
}
