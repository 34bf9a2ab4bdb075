// `clipper status`'s verdict (src/cli_admin_status.ts): every replica a model version wants must be
// connected; apps show their linked models' current versions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppInfo, ContainerInfo, ModelInfo } from '../../src/client/admin_client.js';
import { formatTable } from '../../src/cli/admin_args.js';
import { clusterStatus } from '../../src/cli/admin_status.js';

const app: AppInfo = {
  name: 'hello',
  input_type: 'doubles',
  default_output: '-1',
  latency_slo_micros: 100,
  linked_models: ['sum', 'other'],
};

function model(version: string, current: boolean, replicas: number): ModelInfo {
  return {
    model_name: 'sum',
    model_version: version,
    input_type: 'doubles',
    labels: [],
    container_name: 'x',
    model_data_path: 'x',
    is_current_version: current,
    num_replicas: replicas,
  };
}

function replica(version: string, id: number, connected: boolean): ContainerInfo {
  return { model_id: `sum:${version}`, model_name: 'sum', model_version: version, model_replica_id: id, input_type: 'doubles', connected };
}

test('status is ok only when each version has its wanted replicas connected', () => {
  const healthy = clusterStatus([app], [model('1', false, 0), model('2', true, 2)], [replica('2', 0, true), replica('2', 1, true)]);
  assert.equal(healthy.ok, true);
  assert.deepEqual(healthy.apps[0]!.linked_models, [
    { model_name: 'sum', current_version: '2' },
    { model_name: 'other', current_version: null },
  ]);
  assert.deepEqual(
    healthy.models.map((m) => [m.model_version, m.replicas_wanted, m.replicas_connected]),
    [
      ['1', 0, 0],
      ['2', 2, 2],
    ],
  );

  const oneDown = clusterStatus([app], [model('2', true, 2)], [replica('2', 0, true), replica('2', 1, false)]);
  assert.equal(oneDown.ok, false);
  assert.deepEqual(oneDown.problems, ['sum:2 wants 2 replica(s), 1 connected']);
  assert.equal(clusterStatus([], [model('2', true, 1)], []).ok, false, 'a wanted replica that is not even listed');
  assert.equal(clusterStatus([], [], []).ok, true);
});

test('tables pad columns to their widest cell', () => {
  assert.equal(
    formatTable(
      ['A', 'BB'],
      [
        ['xyz', '1'],
        ['q', ''],
      ],
    ),
    'A    BB\nxyz  1\nq\n',
  );
});
