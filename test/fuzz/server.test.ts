// CI fuzzing through a real cluster (in-process, 127.0.0.1, free ports, one sum-model replica):
// fuzzed HTTP bodies and headers (predict, update, infer, admin) and WebSocket frames, a fixed seed
// and modest runs; a normal query is answered after every batch. The bench runs more against a
// server in its own process (bench/reliability/fuzz.ts).
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { appRecord, deploy, kExampleModels, nodeModel, startTestCluster } from '../helpers/cluster.js';
import { kCiSeed } from './ci_seed.js';
import { httpProperty, newServerStats, wsProperty, type FuzzTarget } from './server_properties.js';

test('fuzzing through a real server', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  await deploy(cluster, nodeModel('fz_sum', '1', 'doubles', path.join(kExampleModels, 'sum_model.mjs')));
  await deploy(cluster, nodeModel('fz_noop', '1', 'doubles', path.join(kExampleModels, 'noop_model.mjs')));
  await cluster.store.putApp(appRecord('fz', 'doubles', ['fz_sum']));
  await cluster.store.putApp(
    appRecord('fz_learn', 'doubles', ['fz_sum', 'fz_noop'], { selection_policy: 'exp3', policy_params: { personalized: true } }),
  );
  const target: FuzzTarget = {
    queryUrl: `http://127.0.0.1:${cluster.queryPort}`,
    adminUrl: `http://127.0.0.1:${cluster.adminPort}`,
    app: 'fz',
    learnApp: 'fz_learn',
    model: 'fz_sum',
    batch: 100,
  };
  const stats = newServerStats();
  await t.test('HTTP bodies and headers', () => httpProperty(target, stats).run({ seed: kCiSeed, numRuns: 400 }));
  await t.test('WebSocket frames', () => wsProperty(target, stats).run({ seed: kCiSeed, numRuns: 300 }));
});
