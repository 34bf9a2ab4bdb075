// Reconcile after a crash: a server process killed with SIGKILL leaves its containers running; the
// next server of the same cluster (state in Redis) adopts those its models still want, without a
// restart, and removes the orphans of models deleted meanwhile. Plus: a Docker engine that cannot
// be reached is a clear error naming the socket (this part needs no engine).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection } from '../../src/client/admin_client.js';
import { Cluster } from '../../src/cluster.js';
import { connectDocker, dockerHostOf, kLabelCluster, kLabelModel } from '../../src/containers/docker/engine.js';
import { kRepoRoot } from '../../src/paths.js';
import { createStateStore } from '../../src/state/open_store.js';
import { kExampleModels, postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { deleteClusterKeys, kRedisSkipMessage, kRedisUrl, redisAnswers, uniqueCluster } from '../helpers/redis.js';
import { dockerSkipReason } from './docker_env.js';

const dockerSkip = await dockerSkipReason();
const skip = dockerSkip ?? ((await redisAnswers(6379)) ? null : kRedisSkipMessage);
const docker = dockerSkip === null ? await connectDocker(dockerHostOf('')) : null;
const cluster = uniqueCluster();
/** One replica secret for both servers: a container is adopted only by a server with its secret. */
const secretDir = mkdtempSync(path.join(os.tmpdir(), 'clipper-reconcile-'));
const secretFile = path.join(secretDir, 'replica_secret.hex');
writeFileSync(secretFile, randomBytes(32).toString('hex'));

function own(): Promise<Array<{ Id: string; State: string; Labels: Record<string, string> }>> {
  return docker!.listContainers({ all: true, filters: { label: [`${kLabelCluster}=${cluster}`] } });
}

after(async () => {
  rmSync(secretDir, { recursive: true, force: true });
  if (skip !== null) return;
  for (const c of await own())
    await docker!
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {});
  await deleteClusterKeys(kRedisUrl, cluster);
  for (const image of ['kept:1', 'dropped:1'])
    await docker!
      .getImage(image)
      .remove({ force: true })
      .catch(() => {});
});

/** `clipper start` in a process of its own; resolves with its ports once it serves. */
async function startServer(): Promise<{ kill: () => Promise<void>; conn: ClipperConnection; queryPort: number }> {
  const child = spawn(
    process.execPath,
    [
      path.join(kRepoRoot, 'bin', 'clipper.js'),
      'start',
      '--containers',
      'docker',
      '--state',
      kRedisUrl,
      '--cluster-name',
      cluster,
      '--query-port',
      '0',
      '--admin-port',
      '0',
      '--threads',
      '1',
      '--replica-secret-file',
      secretFile,
    ],
    { env: { ...process.env, CLIPPER_NODE_FLAGS: 'off' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! });
  const [queryPort, adminPort] = await new Promise<[number, number]>((resolve, reject) => {
    lines.on('line', (line) => {
      const m = /query frontend on http:\/\/[^:]+:(\d+), management API on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m !== null) resolve([Number(m[1]), Number(m[2])]);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before serving`)));
  });
  const conn = new ClipperConnection({ adminUrl: `http://127.0.0.1:${adminPort}`, queryUrl: `http://127.0.0.1:${queryPort}` });
  return {
    conn,
    queryPort,
    kill: async () => {
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

test('after a crash, the next server adopts running containers and removes orphans', {
  skip: skip ?? false,
  timeout: 300_000,
}, async () => {
  const first = await startServer();
  await first.conn.registerApplication({ name: 'keep', inputType: 'doubles', defaultOutput: '-1.0', sloMicros: 2_000_000 });
  const container = { manager: 'docker' as const, runtime: 'node' as const, entry: path.join(kExampleModels, 'sum_model.mjs') };
  await first.conn.deployModel({ name: 'kept', version: '1', inputType: 'doubles', container });
  await first.conn.deployModel({ name: 'dropped', version: '1', inputType: 'doubles', container });
  await first.conn.linkModelToApp('keep', 'kept');
  await first.kill();
  const survivors = await own();
  assert.equal(survivors.filter((c) => c.State === 'running').length, 2, 'SIGKILL of the server leaves its containers');
  const keptId = survivors.find((c) => c.Labels[kLabelModel] === 'kept')!.Id;

  // While no server runs, the model 'dropped' is deleted from the shared state.
  const store = createStateStore(kRedisUrl, cluster);
  await store.open();
  await store.deleteModel('dropped', '1');
  await store.close();

  const second = await Cluster.start({
    config: {
      queryPort: 0,
      adminPort: 0,
      batchingThreads: 1,
      heartbeatMs: 200,
      containers: 'docker',
      state: kRedisUrl,
      clusterName: cluster,
      replicaSecretFile: secretFile,
    },
    startAdmin: startAdminServer,
  });
  try {
    const conn = new ClipperConnection({
      adminUrl: `http://127.0.0.1:${second.adminPort}`,
      queryUrl: `http://127.0.0.1:${second.queryPort}`,
    });
    // The server serves at once; the adopted replica joins as soon as the worker's handshake is done.
    await waitUntil(async () => (await conn.getAllContainers(true)).some((c) => c.connected === true), 30_000, 'the adopted replica');
    const answer = await postJson(second.queryPort, '/keep/predict', { input: [2, 3] });
    assert.deepEqual({ output: answer.body.output, default: answer.body.default }, { output: 5, default: false });
    const replicas = await conn.getAllContainers(true);
    assert.equal(replicas.length, 1);
    assert.equal(replicas[0]!.container_id, keptId, 'the running container was adopted, not replaced');
    assert.equal(replicas[0]!.restart_count, 0);
    let left = await own();
    for (let i = 0; i < 100 && left.length > 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await own();
    }
    assert.deepEqual(
      left.map((c) => c.Id),
      [keptId],
      'the orphan of the deleted model was removed',
    );
  } finally {
    await second.close();
  }
  assert.deepEqual(await own(), [], 'a clean shutdown leaves nothing behind');
});

test('an unreachable Docker engine is a clear error naming the socket', { timeout: 60_000 }, async (t) => {
  const socket = `/tmp/clipper-no-docker-${process.pid}.sock`;
  await assert.rejects(
    Cluster.start({ config: { queryPort: 0, adminPort: 0, batchingThreads: 1, containers: 'docker', dockerHost: `unix://${socket}` } }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CLP_ERR_DOCKER_UNAVAILABLE');
      assert.ok(err.message.includes(socket), err.message);
      return true;
    },
  );
  // A local cluster asked for one Docker model: the deploy fails naming the socket; nothing stays registered.
  const local = await startTestCluster(t, { dockerHost: `unix://${socket}` }, { startAdmin: startAdminServer });
  const conn = new ClipperConnection({ adminUrl: `http://127.0.0.1:${local.adminPort}`, queryUrl: `http://127.0.0.1:${local.queryPort}` });
  await assert.rejects(
    conn.deployModel({
      name: 'd',
      version: '1',
      inputType: 'doubles',
      container: { manager: 'docker', runtime: 'node', entry: path.join(kExampleModels, 'sum_model.mjs') },
    }),
    (err: Error & { cause?: unknown; status?: number; code?: string | null }) => {
      assert.equal(err.status, 503);
      assert.equal(err.code, 'CLP_ERR_DOCKER_UNAVAILABLE');
      assert.match(String(err.cause), new RegExp(`Docker engine unreachable at unix://${socket}`));
      return true;
    },
  );
  assert.deepEqual(await conn.getAllModels(), []);
  // Registering a Docker model without replicas needs no engine.
  await conn.deployModel({
    name: 'later',
    version: '1',
    inputType: 'doubles',
    numReplicas: 0,
    container: { manager: 'docker', image: 'sum-model:1' },
  });
  assert.deepEqual(await conn.getAllModels(), ['later:1']);
});
