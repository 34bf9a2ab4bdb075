// The Docker container manager against a real engine, through the whole system: admin API → image
// build from local files → containers publishing on 127.0.0.1 → batching worker → predictions.
// Skips (saying why) only where no Docker engine answers.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection } from '../../src/client/admin_client.js';
import {
  connectDocker,
  dockerHostOf,
  kLabelCluster,
  kLabelModel,
  kLabelReplica,
  kLabelVersion,
} from '../../src/containers/docker/engine.js';
import { kExampleModels, kFixtureModels, postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { dockerSkipReason } from './docker_env.js';

const skip = await dockerSkipReason();
const docker = skip === null ? await connectDocker(dockerHostOf('')) : null;
const kFast = { healthPollMs: 300, restartDelayMsMin: 50, restartDelayMsMax: 500 };
const clusters: string[] = [];

function clusterName(what: string): string {
  const name = `t-${what}-${process.pid}-${clusters.length}`;
  clusters.push(name);
  return name;
}

async function containersOf(
  cluster: string,
): Promise<Array<{ Id: string; State: string; Labels: Record<string, string>; Ports: Array<{ IP?: string; PublicPort?: number }> }>> {
  return docker!.listContainers({ all: true, filters: { label: [`${kLabelCluster}=${cluster}`] } });
}

// Whatever a failed test left behind goes; a passing test asserts it left nothing itself.
after(async () => {
  if (docker === null) return;
  for (const name of clusters) {
    for (const c of await containersOf(name))
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => {});
  }
  // The model images these tests built (the base images stay: they are built once per machine).
  for (const image of ['dsum:1', 'ksum:1', 'broken:1', 'ssum:1', 'busy:1'])
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => {});
});

async function dockerCluster(t: Parameters<typeof startTestCluster>[0], name: string) {
  const cluster = await startTestCluster(t, { containers: 'docker', clusterName: name }, { startAdmin: startAdminServer, docker: kFast });
  const conn = new ClipperConnection({
    adminUrl: `http://127.0.0.1:${cluster.adminPort}`,
    queryUrl: `http://127.0.0.1:${cluster.queryPort}`,
  });
  return { cluster, conn };
}

test('a Node model deployed to Docker: built from local files, served, scaled, logged, removed', {
  skip: skip ?? false,
  timeout: 300_000,
}, async (t) => {
  const name = clusterName('deploy');
  const { cluster, conn } = await dockerCluster(t, name);
  await conn.registerApplication({ name: 'sums', inputType: 'doubles', defaultOutput: '-1.0', sloMicros: 2_000_000 });
  await conn.deployModel({
    name: 'dsum',
    version: '1',
    inputType: 'doubles',
    container: { runtime: 'node', entry: path.join(kExampleModels, 'sum_model.mjs') },
    numReplicas: 1,
  });
  await conn.linkModelToApp('sums', 'dsum');
  const answer = await postJson(cluster.queryPort, '/sums/predict', { input: [1.5, 2, 3] });
  assert.deepEqual({ output: answer.body.output, default: answer.body.default }, { output: 6.5, default: false });

  // One container, labelled, publishing on loopback only; the admin API shows it.
  let own = await containersOf(name);
  assert.equal(own.length, 1);
  assert.equal(own[0]!.State, 'running');
  assert.deepEqual([own[0]!.Labels[kLabelModel], own[0]!.Labels[kLabelVersion], own[0]!.Labels[kLabelReplica]], ['dsum', '1', '0']);
  assert.ok(
    own[0]!.Ports.every((p) => p.IP === undefined || p.IP === '127.0.0.1'),
    JSON.stringify(own[0]!.Ports),
  );
  const info = await conn.getAllContainers(true);
  assert.equal(info.length, 1);
  assert.equal(info[0]!.manager, 'docker');
  assert.equal(info[0]!.container_id, own[0]!.Id);
  assert.equal(info[0]!.image, 'dsum:1');
  assert.equal(info[0]!.state, 'running');
  assert.equal(info[0]!.restart_count, 0);
  const inspect = await docker!.getContainer(own[0]!.Id).inspect();
  assert.equal(inspect.HostConfig.PortBindings?.['7000/tcp']?.[0]?.HostIp, '127.0.0.1');

  // Logs: the runner's ready line, through the admin API (POST and GET).
  const logs = await conn.getLogs('dsum', '1');
  assert.equal(logs.length, 1);
  assert.match(logs[0]!.logs, /"clipper_ready":true/);
  const viaGet = await fetch(`http://127.0.0.1:${cluster.adminPort}/admin/get_logs?model_name=dsum&tail_lines=5`);
  assert.equal(viaGet.status, 200);
  assert.match(await viaGet.text(), /clipper_ready/);

  // Live scaling: up to 2 containers, then down to 1; queries keep being answered.
  await conn.setNumReplicas('dsum', 2, '1');
  own = await containersOf(name);
  assert.equal(own.filter((c) => c.State === 'running').length, 2);
  await waitUntil(
    async () => (await conn.getAllContainers(true)).filter((c) => c.connected).length === 2,
    20_000,
    'both replicas connected',
  );
  await conn.setNumReplicas('dsum', 1, '1');
  await waitUntil(async () => (await containersOf(name)).length === 1, 20_000, 'one container after scaling down');
  const again = await postJson(cluster.queryPort, '/sums/predict', { input: [4, 5] });
  assert.equal(again.body.output, 9);

  // Deleting the version removes its container.
  await conn.unlinkModelFromApp('sums', 'dsum');
  await conn.deleteVersionedModel('dsum', '1');
  await waitUntil(async () => (await containersOf(name)).length === 0, 20_000, 'no container after the delete');
});

test('a container killed under load: every query answered by its deadline, the replica comes back', {
  skip: skip ?? false,
  timeout: 300_000,
}, async (t) => {
  const name = clusterName('kill');
  const { cluster, conn } = await dockerCluster(t, name);
  const sloMicros = 300_000;
  await conn.registerApplication({ name: 'k', inputType: 'doubles', defaultOutput: '-1.0', sloMicros });
  await conn.deployModel({
    name: 'ksum',
    version: '1',
    inputType: 'doubles',
    container: { runtime: 'node', entry: path.join(kExampleModels, 'sum_model.mjs') },
    numReplicas: 1,
  });
  await conn.linkModelToApp('k', 'ksum');
  const [victim] = await containersOf(name);
  let running = true;
  const results: Array<{ ok: boolean; def: boolean; ms: number; reason?: string }> = [];
  const client = async (seed: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const r = await postJson(cluster.queryPort, '/k/predict', { input: [seed, i] });
      results.push({ ok: r.status === 200, def: r.body.default === true, ms: r.elapsedMs, reason: r.body.default_explanation });
    }
  };
  const clients = [client(1), client(2), client(3), client(4)];
  await new Promise((r) => setTimeout(r, 300));
  await docker!.getContainer(victim!.Id).kill();
  await waitUntil(
    async () => {
      const c = (await conn.getAllContainers(true))[0];
      return c !== undefined && c.restart_count! >= 1 && c.connected === true && c.state === 'running';
    },
    60_000,
    'the killed replica to be restarted and reconnected',
  );
  const beforeRecovery = results.length;
  await new Promise((r) => setTimeout(r, 300));
  running = false;
  await Promise.all(clients);
  assert.ok(results.length > beforeRecovery, 'queries flowed after the restart');
  assert.ok(
    results.every((r) => r.ok),
    'every query got a 200 (a prediction or the default)',
  );
  // Each answer came by its deadline: the SLO plus a generous allowance for this shared machine's
  // HTTP client (a bound on "never hangs", not a speed assertion).
  const late = results.filter((r) => r.ms > sloMicros / 1000 + 1000);
  assert.deepEqual(late, []);
  const defaults = results.filter((r) => r.def);
  for (const d of defaults) assert.ok(typeof d.reason === 'string' && d.reason.length > 0, 'a default says why');
  t.diagnostic(`${results.length} queries, ${defaults.length} defaults (${[...new Set(defaults.map((d) => d.reason))].join('; ')})`);
  // The same container was started again (restart, not replace).
  const [back] = await containersOf(name);
  assert.equal(back!.Id, victim!.Id);
  const after = await postJson(cluster.queryPort, '/k/predict', { input: [100, 1] });
  assert.deepEqual({ output: after.body.output, default: after.body.default }, { output: 101, default: false });

  // A container removed behind the manager's back (docker rm -f) is replaced by a new one.
  await docker!.getContainer(back!.Id).remove({ force: true });
  await waitUntil(
    async () => {
      const [c] = await conn.getAllContainers(true);
      return c !== undefined && c.container_id !== back!.Id && c.connected === true && c.state === 'running';
    },
    60_000,
    'a new container for the removed one',
  );
  const replaced = await containersOf(name);
  assert.equal(replaced.length, 1);
  assert.notEqual(replaced[0]!.Id, back!.Id);
  const last = await postJson(cluster.queryPort, '/k/predict', { input: [5, 5] });
  assert.deepEqual({ output: last.body.output, default: last.body.default }, { output: 10, default: false });
});

test('a container that exits during deploy fails the deploy with its own output; nothing stays', {
  skip: skip ?? false,
  timeout: 300_000,
}, async (t) => {
  const name = clusterName('fail');
  const { conn } = await dockerCluster(t, name);
  await assert.rejects(
    conn.deployModel({
      name: 'broken',
      version: '1',
      inputType: 'doubles',
      container: { runtime: 'node', entry: path.join(kFixtureModels, 'throws_on_load.mjs') },
    }),
    (err: Error & { status?: number; cause?: unknown }) => {
      assert.equal(err.status, 400);
      assert.match(String(err.cause), /exploded while loading/);
      return true;
    },
  );
  assert.deepEqual(await conn.getAllModels(), []);
  assert.deepEqual(await containersOf(name), []);
});

test('clean shutdown leaves no container of the cluster behind', { skip: skip ?? false, timeout: 300_000 }, async (t) => {
  const name = clusterName('stop');
  const { cluster, conn } = await dockerCluster(t, name);
  await conn.deployModel({
    name: 'ssum',
    version: '1',
    inputType: 'doubles',
    container: { runtime: 'node', entry: path.join(kExampleModels, 'sum_model.mjs') },
    numReplicas: 2,
  });
  assert.equal((await containersOf(name)).length, 2);
  await cluster.close();
  assert.deepEqual(await containersOf(name), []);
});

test('limits are applied; a replica whose runner stops answering turns unhealthy and is restarted', {
  skip: skip ?? false,
  timeout: 300_000,
}, async (t) => {
  const name = clusterName('health');
  // The image's health check, on a faster clock than the image's own (5 s, 30 s start period).
  const cluster = await startTestCluster(
    t,
    { containers: 'docker', clusterName: name },
    { startAdmin: startAdminServer, docker: { ...kFast, health: { intervalMs: 300, timeoutMs: 1000, startPeriodMs: 1, retries: 2 } } },
  );
  const conn = new ClipperConnection({
    adminUrl: `http://127.0.0.1:${cluster.adminPort}`,
    queryUrl: `http://127.0.0.1:${cluster.queryPort}`,
  });
  await conn.registerApplication({ name: 'busy', inputType: 'doubles', defaultOutput: '-1.0', sloMicros: 500_000 });
  // isolate inline: predict runs on the runner's own event loop, so a long one stops its alive file.
  await conn.deployModel({
    name: 'busy',
    version: '1',
    inputType: 'doubles',
    container: {
      runtime: 'node',
      entry: path.join(kFixtureModels, 'busy_model.mjs'),
      options: { isolate: 'inline' },
      cpus: 0.5,
      memory_mb: 256,
    },
  });
  await conn.linkModelToApp('busy', 'busy');
  const [c] = await containersOf(name);
  const inspect = await docker!.getContainer(c!.Id).inspect();
  assert.equal(inspect.HostConfig.NanoCpus, 500_000_000);
  assert.equal(inspect.HostConfig.Memory, 256 * 1024 * 1024);
  await waitUntil(async () => (await conn.getAllContainers(true))[0]?.health === 'healthy', 30_000, 'a healthy replica');

  // A 60 s computation blocks the runner: its query gets the default by its deadline, and the
  // health check turns it unhealthy, so the manager kills and restarts it (same container).
  const blocked = await postJson(cluster.queryPort, '/busy/predict', { input: [60_000] });
  assert.equal(blocked.body.default, true);
  await waitUntil(
    async () => {
      const [r] = await conn.getAllContainers(true);
      return r !== undefined && r.restart_count! >= 1 && r.connected === true && r.state === 'running';
    },
    60_000,
    'the unhealthy replica to be restarted',
  );
  const logs = await conn.getLogs('busy', '1');
  assert.match(logs[0]!.logs, /clipper_ready/);
  const [again] = await containersOf(name);
  assert.equal(again!.Id, c!.Id);
  const answer = await postJson(cluster.queryPort, '/busy/predict', { input: [1] });
  assert.deepEqual({ output: answer.body.output, default: answer.body.default }, { output: 1, default: false });
});
