// Models addressed directly (src/control/model_routes.ts, published by the RouteTable) and what
// `/v2/models/{m}[/versions/{v}]` names (src/frontend/oip/oip_target.ts): an app wins over a model
// of the same name, versions pin, unknown names and versions are 404s; and the metadata and
// readiness replies built on them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Placement } from '../../src/batching/protocol.js';
import { RouteTable } from '../../src/control/route_table.js';
import { ClipperError } from '../../src/errors.js';
import { modelMetadataReply, modelReadyReply } from '../../src/frontend/oip/model_metadata.js';
import { resolveTarget, servingVersion } from '../../src/frontend/oip/oip_target.js';
import { newAppStats } from '../../src/query/app_route.js';
import { QueryPipeline } from '../../src/query/pipeline.js';
import type { QueryProcessor } from '../../src/query/query_processor.js';
import { emptySnapshot, type AppRecord, type ModelRecord } from '../../src/state/records.js';

function app(name: string, linked: string[]): AppRecord {
  return {
    name,
    input_type: 'doubles',
    default_output: '-1',
    latency_slo_micros: 20_000,
    linked_models: linked,
    selection_policy: 'default',
    overload_response: 'default_output',
  };
}

function model(name: string, version: string, extra: Partial<ModelRecord> = {}): ModelRecord {
  return {
    model_name: name,
    model_version: version,
    input_type: 'doubles',
    labels: [],
    container_name: 'node-runner',
    model_data_path: '',
    batch_size: -1,
    container: null,
    num_replicas: 1,
    ...extra,
  };
}

const p1: Placement = { workerIndex: 0, modelIndex: 1 };
const p2: Placement = { workerIndex: 0, modelIndex: 2 };
const p3: Placement = { workerIndex: 0, modelIndex: 3 };

function setup() {
  const table = new RouteTable({ appStats: () => newAppStats(), selection: { route: () => null, forget: () => {} }, modelSloMs: 750 });
  const s = emptySnapshot();
  s.apps.set('hello', app('hello', ['sum']));
  s.apps.set('twin', app('twin', ['other'])); // an app and a model share the name 'twin'
  s.models.set('sum:1', model('sum', '1'));
  s.models.set('sum:2', model('sum', '2', { input_type: 'floats' }));
  s.models.set('sum:3', model('sum', '3')); // registered, not placed
  s.models.set('twin:1', model('twin', '1', { container_name: 'python' }));
  s.models.set('other:1', model('other', '1', { outputs: [{ name: 'score', datatype: 'FP32', shape: [-1] }] }));
  s.currentVersions.set('sum', '1');
  s.currentVersions.set('twin', '1');
  s.currentVersions.set('other', '1');
  const cascade = (models: string[]) => ({ output: 'c', stages: [{ name: 'c', kind: 'cascade' as const, models, threshold: 0.5 }] });
  s.apps.set('casc', { ...app('casc', []), pipeline: cascade(['sum', 'twin']) });
  s.apps.set('ghostly', { ...app('ghostly', []), pipeline: cascade(['sum', 'ghost']) });
  table.rebuild(
    s,
    new Map([
      ['sum:1', p1],
      ['sum:2', p2],
      ['twin:1', p3],
      ['other:1', p3],
    ]),
  );
  const pipeline = new QueryPipeline({ processor: {} as QueryProcessor, routes: table.routes, hub: null, sloMicrosMax: 1e7 });
  return { table, pipeline, snapshot: s };
}

function assertStatus(fn: () => unknown, status: number, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.status, status);
    assert.match(err.message, pattern);
    return true;
  });
}

test('the route table publishes a route per model: current placement, deployed versions, the default deadline', () => {
  const { table } = setup();
  const sum = table.models.get('sum')!;
  assert.equal(sum.placement, p1);
  assert.deepEqual([...sum.versions.keys()], ['1', '2'], 'every deployed version, not the unplaced one');
  assert.deepEqual([...sum.infos.keys()], ['1', '2', '3']);
  assert.equal(sum.currentVersion, '1');
  assert.equal(sum.sloMs, 750);
  assert.equal(sum.inputType, 'doubles');
  assert.equal(sum.overloadResponse, 'status_429');
  assert.equal(sum.selection, null);
  const stats = sum.stats;
  const { snapshot } = setup();
  table.rebuild(snapshot, new Map([['sum:1', p1]]));
  assert.equal(table.models.get('sum')!.stats, stats, "a model's counters outlive rebuilds");
  table.clear();
  assert.equal(table.models.size, 0);
});

test('an app name wins over a model name; a model is addressed directly otherwise', () => {
  const { table, pipeline } = setup();
  const twin = resolveTarget(pipeline, table.models, 'twin', null);
  assert.equal(twin.isApp, true);
  assert.equal(twin.model?.name, 'other', "the app's first linked model");
  const sum = resolveTarget(pipeline, table.models, 'sum', null);
  assert.equal(sum.isApp, false);
  assert.equal(sum.route, table.models.get('sum'));
  assert.equal(servingVersion(sum), '1');
  assertStatus(() => resolveTarget(pipeline, table.models, 'nope', null), 404, /no model or application named 'nope'/);
});

test('a version pins; unknown versions are 404s; a version of another input type gets its own type', () => {
  const { table, pipeline } = setup();
  const v2 = resolveTarget(pipeline, table.models, 'sum', '2');
  assert.equal(v2.version, '2');
  assert.equal(v2.route.inputType, 'floats');
  assert.equal(servingVersion(v2), '2');
  const viaApp = resolveTarget(pipeline, table.models, 'hello', '2');
  assert.equal(viaApp.route.inputType, 'doubles', 'an app keeps its own input type');
  assertStatus(() => resolveTarget(pipeline, table.models, 'sum', '9'), 404, /model 'sum' has no version '9'/);
  assertStatus(() => resolveTarget(pipeline, table.models, 'hello', '9'), 404, /model 'sum' has no version '9'/);
});

test('metadata: deployed versions, the platform, declared or inferred tensors', () => {
  const { table, pipeline } = setup();
  const meta = (name: string, version: string | null = null) =>
    JSON.parse(modelMetadataReply(resolveTarget(pipeline, table.models, name, version)).body);
  assert.deepEqual(meta('sum'), {
    name: 'sum',
    versions: ['1', '2'],
    platform: 'clipper-ts/node-runner',
    inputs: [{ name: 'input0', datatype: 'FP64', shape: [-1, -1] }],
    outputs: [{ name: 'output0', datatype: 'FP64', shape: [-1] }],
  });
  assert.equal(meta('sum', '2').inputs[0].datatype, 'FP32');
  assert.equal(meta('twin').platform, 'clipper-ts/node-runner', "the app's linked model's container");
  assert.deepEqual(meta('twin').outputs, [{ name: 'score', datatype: 'FP32', shape: [-1] }], 'declared outputs');
});

test('ready: a placement and a connected replica; else a 400 saying what is missing', () => {
  const { table, pipeline } = setup();
  const target = (name: string, version: string | null = null) => resolveTarget(pipeline, table.models, name, version);
  assert.equal(modelReadyReply(target('sum'), () => true, table.models).status, 200);
  assertStatus(
    () => modelReadyReply(target('sum'), () => false, table.models),
    400,
    /'sum' is not ready: version '1' of model 'sum' has no connected replica yet/,
  );
  assertStatus(() => modelReadyReply(target('sum', '3'), () => true, table.models), 400, /version '3' of model 'sum' is not deployed/);
  assert.equal(modelReadyReply(target('hello'), (m, v) => m === 'sum' && v === '1', table.models).status, 200);
});

test('ready for a pipeline app: every model it calls placed with a connected replica; metadata from its input type', () => {
  const { table, pipeline } = setup();
  const target = (name: string) => resolveTarget(pipeline, table.models, name, null);
  assert.deepEqual(modelReadyReply(target('casc'), () => true, table.models).body, JSON.stringify({ name: 'casc', ready: true }));
  assertStatus(
    () => modelReadyReply(target('casc'), (m) => m !== 'twin', table.models),
    400,
    /^'casc' is not ready: version '1' of model 'twin' \(stage 'c'\) has no connected replica yet/,
  );
  assertStatus(() => modelReadyReply(target('ghostly'), () => true, table.models), 400, /^'ghostly' is not ready: .*(ghost|compiled)/);
  const meta = JSON.parse(String(modelMetadataReply(target('casc')).body));
  assert.deepEqual(
    { versions: meta.versions, platform: meta.platform, input: meta.inputs[0].datatype },
    { versions: [], platform: 'clipper-ts/pipeline', input: 'FP64' },
  );
});
