// Model code runs inside its replica, so a replica must not inherit the server's configuration from
// the environment: the admin token (CLIPPER_ADMIN_TOKEN) would hand it the management API, which can
// start programs, and CLIPPER_STATE may hold a Redis password. The local-process manager passes the
// server's environment minus every CLIPPER_* variable, then adds the replica's own (model, version,
// replica id; the secret, which the runner removes before loading the model).

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { replicaBaseEnv } from '../../src/containers/local_process.js';
import { appRecord, deploy, kFixtureModels, nodeModel, postJson, startTestCluster } from '../helpers/cluster.js';

test('replicaBaseEnv keeps the environment but the CLIPPER_* variables', () => {
  const env = replicaBaseEnv({ PATH: '/bin', HOME: '/root', CLIPPER_ADMIN_TOKEN: 'x', CLIPPER_STATE: 'redis://:pw@h:1', CLIPPERX: 'y' });
  assert.deepEqual(env, { PATH: '/bin', HOME: '/root', CLIPPERX: 'y' });
});

test('a replica sees neither the admin token nor the server configuration in its environment', { timeout: 120_000 }, async (t) => {
  process.env.CLIPPER_ADMIN_TOKEN = 'a-token-of-at-least-16-chars';
  process.env.CLIPPER_STATE = 'redis://:secret-password@127.0.0.1:6379';
  t.after(() => {
    delete process.env.CLIPPER_ADMIN_TOKEN;
    delete process.env.CLIPPER_STATE;
  });
  const cluster = await startTestCluster(t);
  await deploy(cluster, nodeModel('envm', '1', 'doubles', path.join(kFixtureModels, 'env_model.mjs')));
  await cluster.store.putApp(appRecord('env-app', 'doubles', ['envm']));
  const reply = await postJson(cluster.queryPort, '/env-app/predict', { input: [1] });
  assert.equal(reply.status, 200);
  assert.equal(reply.body.default, false, JSON.stringify(reply.body));
  const visible = String(reply.body.output).split(',');
  assert.ok(!visible.includes('CLIPPER_ADMIN_TOKEN'), `the replica saw the admin token: ${visible}`);
  assert.ok(!visible.includes('CLIPPER_STATE'), `the replica saw the state URL: ${visible}`);
  assert.ok(!visible.includes('CLIPPER_REPLICA_SECRET'), 'the runner removes the secret before loading the model');
  assert.ok(visible.includes('CLIPPER_MODEL_NAME') && visible.includes('CLIPPER_REPLICA_ID'), `its own variables remain: ${visible}`);
});
