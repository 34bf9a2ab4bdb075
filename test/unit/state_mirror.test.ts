// The copy of the configuration a Redis store keeps to write back into a Redis that lost it
// (src/state/state_mirror.ts): it follows every change, a resync replaces it, and the payload holds
// exactly what the Redis hashes hold (records as JSON text, current versions and policy states as is).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appRecordOf, nodeModelRecord } from '../../src/admin/deploy_local.js';
import { emptySnapshot } from '../../src/state/records.js';
import { StateMirror } from '../../src/state/state_mirror.js';

test('the mirror follows changes and a resync, and its payload matches the Redis hashes', () => {
  const m = new StateMirror();
  assert.ok(m.isEmpty);
  const app = appRecordOf('a', 'doubles', ['m']);
  const model = nodeModelRecord('m', '1', 'doubles', 'x.mjs');
  m.apply({ kind: 'app_put', app });
  m.apply({ kind: 'model_put', model });
  m.apply({ kind: 'current_version', name: 'm', version: '1' });
  m.apply({ kind: 'app_put', app: appRecordOf('gone', 'doubles', []) });
  m.apply({ kind: 'app_deleted', name: 'gone' });
  m.notePolicy('a', '{"w":1}');
  const p = m.payload();
  assert.deepEqual(JSON.parse(p.appsJson), { a: JSON.stringify(app) });
  assert.deepEqual(JSON.parse(p.modelsJson), { 'm:1': JSON.stringify(model) });
  assert.deepEqual(JSON.parse(p.currentJson), { m: '1' });
  assert.deepEqual(JSON.parse(p.policyJson), { a: '{"w":1}' });

  const resynced = emptySnapshot();
  resynced.currentVersions.set('other', '7');
  m.apply({ kind: 'resync', snapshot: resynced });
  resynced.currentVersions.set('later', '1'); // the listener's own copy changes; the mirror's does not
  assert.deepEqual(JSON.parse(m.payload().currentJson), { other: '7' });
  assert.deepEqual(JSON.parse(m.payload().appsJson), {});
});

test('policy states: the most recent ones are kept, up to the bound', () => {
  const m = new StateMirror(2);
  m.notePolicy('a', '1');
  m.notePolicy('b', '2');
  m.notePolicy('a', '3'); // refreshes a
  m.notePolicy('c', '4'); // evicts b, the oldest
  assert.deepEqual(JSON.parse(m.payload().policyJson), { a: '3', c: '4' });
  assert.equal(m.isEmpty, false);
});
