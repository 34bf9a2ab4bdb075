// applyChange (src/state/apply_change.ts): the one way a store listener folds a change into its
// snapshot.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyChange } from '../../src/state/apply_change.js';
import { emptySnapshot, type AppRecord, type ModelRecord } from '../../src/state/records.js';

const kApp: AppRecord = {
  name: 'a',
  input_type: 'doubles',
  default_output: '-1',
  latency_slo_micros: 100_000,
  linked_models: ['m'],
  selection_policy: 'default',
  overload_response: 'status_429',
};
const kModel: ModelRecord = {
  model_name: 'm',
  model_version: '1',
  input_type: 'doubles',
  labels: [],
  container_name: 'node',
  model_data_path: '',
  batch_size: -1,
  container: null,
  num_replicas: 1,
};

test('record changes apply in place', () => {
  const s = emptySnapshot();
  assert.equal(applyChange(s, { kind: 'app_put', app: kApp }), s);
  applyChange(s, { kind: 'model_put', model: kModel });
  applyChange(s, { kind: 'current_version', name: 'm', version: '1' });
  assert.deepEqual([...s.apps.keys()], ['a']);
  assert.deepEqual([...s.models.keys()], ['m:1']);
  assert.equal(s.currentVersions.get('m'), '1');
  applyChange(s, { kind: 'current_version', name: 'm', version: null });
  applyChange(s, { kind: 'model_deleted', name: 'm', version: '1' });
  applyChange(s, { kind: 'app_deleted', name: 'a' });
  assert.deepEqual(s, emptySnapshot());
});

test('a resync replaces the snapshot and leaves the old one alone', () => {
  const old = emptySnapshot();
  old.apps.set('a', kApp);
  const fresh = emptySnapshot();
  assert.equal(applyChange(old, { kind: 'resync', snapshot: fresh }), fresh);
  assert.equal(old.apps.size, 1);
});
