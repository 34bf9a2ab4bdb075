// RouteTable (src/admin/route_table.ts): routes follow the snapshot and the placements, selections are
// made for apps with several linked models and forgotten when the app goes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Placement } from '../../src/batching/protocol.js';
import { newAppStats } from '../../src/query/app_route.js';
import { RouteTable } from '../../src/control/route_table.js';
import type { AppSelection } from '../../src/selection/app_selection.js';
import { emptySnapshot, type AppRecord, type ModelRecord } from '../../src/state/records.js';

function app(name: string, linked: string[]): AppRecord {
  return {
    name,
    input_type: 'floats',
    default_output: '"none"',
    latency_slo_micros: 20_000,
    linked_models: linked,
    selection_policy: 'default',
    overload_response: 'default_output',
  };
}

function model(name: string, version: string): ModelRecord {
  return {
    model_name: name,
    model_version: version,
    input_type: 'floats',
    labels: [],
    container_name: 'node',
    model_data_path: '',
    batch_size: -1,
    container: null,
    num_replicas: 1,
  };
}

test('routes carry the current version, every deployed version and the app settings', () => {
  const selected: string[] = [];
  const forgotten: string[] = [];
  const table = new RouteTable({
    appStats: () => newAppStats(),
    selection: {
      route: (a) => {
        if (a.linked_models.length < 2) return null;
        selected.push(a.name);
        return {} as AppSelection;
      },
      forget: (name) => forgotten.push(name),
    },
  });
  const s = emptySnapshot();
  s.apps.set('one', app('one', ['m']));
  s.apps.set('two', app('two', ['m', 'n']));
  s.models.set('m:1', model('m', '1'));
  s.models.set('m:2', model('m', '2'));
  s.currentVersions.set('m', '2');
  const p1: Placement = { workerIndex: 0, modelIndex: 1 };
  const p2: Placement = { workerIndex: 1, modelIndex: 2 };
  table.rebuild(
    s,
    new Map([
      ['m:1', p1],
      ['m:2', p2],
    ]),
  );
  const one = table.routes.get('one')!;
  assert.equal(one.placement, p2);
  assert.deepEqual([...one.versions.keys()].sort(), ['1', '2']);
  assert.equal(one.sloMs, 20);
  assert.equal(one.defaultJson, '"none"');
  assert.equal(one.inputType, 'floats');
  assert.equal(one.selection, null);
  assert.notEqual(table.routes.get('two')!.selection, null);
  assert.deepEqual(selected, ['two']);

  // The app with a selection disappears in a resync-like rebuild: its selection is forgotten.
  s.apps.delete('two');
  s.currentVersions.delete('m');
  table.rebuild(s, new Map([['m:1', p1]]));
  assert.deepEqual(forgotten, ['two']);
  assert.equal(table.routes.get('one')!.placement, null, 'no current version: no placement');
  assert.deepEqual([...table.routes.keys()], ['one']);
  table.clear();
  assert.equal(table.routes.size, 0);
});
