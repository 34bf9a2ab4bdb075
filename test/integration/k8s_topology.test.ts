// The Kubernetes topology without a cluster: two frontends (two Clusters with containers
// 'kubernetes') sharing one Redis and one replica secret, both pointed at the fake Kubernetes API
// (test/helpers/fake_kube_api.ts), with the fake kubelet (test/helpers/fake_kubelet.ts) running each
// pod's runner at its own loopback address (127.0.0.2, 127.0.0.3, …) standing in for a pod IP. Only the
// Lease holder writes the Deployment; both frontends follow the pods through their watch and dial
// every ready one; a pod deleted under load loses no query; scaling, deleting and a leader that
// stops are handled by exactly one frontend at a time.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection, type ContainerInfo } from '../../src/client/admin_client.js';
import { Cluster } from '../../src/cluster.js';
import { kFixtureModels, postJson, waitUntil } from '../helpers/cluster.js';
import { fakeToken, startFakeKubeApi, type FakeKubeApi, type Json, type RecordedRequest } from '../helpers/fake_kube_api.js';
import { nodeRunner, startFakeKubelet, type FakeKubelet } from '../helpers/fake_kubelet.js';
import { deleteClusterKeys, freePort, kRedisSkipMessage, kRedisUrl, redisAnswers, uniqueCluster } from '../helpers/redis.js';

const redisUp = await redisAnswers(6379);
const skip = redisUp ? false : kRedisSkipMessage;
if (!redisUp && process.env.CI) {
  test('Redis is reachable (required when CI is set)', () => assert.fail(kRedisSkipMessage));
}

const kApp = 'k8s-app';
const kImage = 'registry.local:5000/host:1';

interface Frontend {
  identity: string;
  cluster: Cluster;
  conn: ClipperConnection;
}

interface Topology {
  api: FakeKubeApi;
  kubelet: FakeKubelet;
  a: Frontend;
  b: Frontend;
}

async function startFrontend(
  api: FakeKubeApi,
  clusterName: string,
  identity: string,
  replicaPort: number,
  secretFile: string,
): Promise<Frontend> {
  const cluster = await Cluster.start({
    config: {
      queryPort: 0,
      adminPort: 0,
      batchingThreads: 1,
      heartbeatMs: 200,
      state: kRedisUrl,
      clusterName,
      containers: 'kubernetes',
      kubeconfig: api.writeKubeconfig({ user: identity }),
      kubernetesReplicaPort: replicaPort,
      kubernetesReplicaSecret: 'replica-secret',
      kubernetesIdentity: identity,
      kubernetesDeployTimeoutMs: 60_000,
      replicaSecretFile: secretFile,
    },
    kubernetes: { lease: { leaseDurationS: 3, renewMs: 300, retryMs: 300 } },
    startAdmin: startAdminServer,
  });
  const conn = new ClipperConnection({
    adminUrl: `http://127.0.0.1:${cluster.adminPort}`,
    queryUrl: `http://127.0.0.1:${cluster.queryPort}`,
  });
  return { identity, cluster, conn };
}

/** Who sent a request: the identity in its kubeconfig's token. */
function sender(r: RecordedRequest): string {
  return String(r.headers.authorization ?? '').replace(`Bearer ${fakeToken()}-`, '');
}

function deploymentWrites(api: FakeKubeApi, from: number, method: string): RecordedRequest[] {
  return api.requests
    .slice(from)
    .filter((r) => r.method === method && /^\/apis\/apps\/v1\/namespaces\/default\/deployments(\/|$)/.test(r.path));
}

function leaseHolder(api: FakeKubeApi): string | undefined {
  return api.objects('leases', 'default')[0]?.spec?.holderIdentity;
}

async function replicasOf(f: Frontend): Promise<ContainerInfo[]> {
  return (await f.conn.getAllContainers(true)) as ContainerInfo[];
}

let queryCount = 0;

/** One query to a frontend (each a new input: no cache hit, no coalescing); the pod name the model answered with, or what went wrong. */
async function ask(f: Frontend): Promise<{ ok: boolean; pod: string }> {
  queryCount += 1;
  const r = await postJson(f.cluster.queryPort, `/${kApp}/predict`, { input: [queryCount] });
  const ok = r.status === 200 && r.body.default === false && typeof r.body.output === 'string';
  return { ok, pod: ok ? r.body.output : `status ${r.status}: ${JSON.stringify(r.body)}` };
}

/** Queries from both frontends, `concurrency` in flight on each, until stop() (each loop ends after its query). */
function load(fronts: Frontend[], concurrency: number): { answers: Array<{ ok: boolean; pod: string }>; stop(): Promise<void> } {
  const answers: Array<{ ok: boolean; pod: string }> = [];
  let running = true;
  const loops = fronts.flatMap((f) =>
    Array.from({ length: concurrency }, async () => {
      while (running) answers.push(await ask(f).catch((err: Error) => ({ ok: false, pod: `request failed: ${err.message}` })));
    }),
  );
  return {
    answers,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function setUp(clusterName: string, cleanups: Array<() => Promise<unknown> | unknown>): Promise<Topology> {
  const api = await startFakeKubeApi();
  cleanups.push(() => api.close());
  const replicaPort = await freePort();
  const secretHex = randomBytes(32).toString('hex');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'k8s-topology-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = path.join(dir, 'replica_secret');
  writeFileSync(secretFile, secretHex, { mode: 0o600 });
  // The Secret the pods read CLIPPER_REPLICA_SECRET from: the same secret the frontends check.
  api.upsert('secrets', { metadata: { name: 'replica-secret', namespace: 'default' }, stringData: { secret: secretHex } });
  const kubelet = startFakeKubelet(api, { runnerFor: nodeRunner(path.join(kFixtureModels, 'hostname_model.mjs')) });
  cleanups.push(() => kubelet.close());
  const a = await startFrontend(api, clusterName, 'frontend-a', replicaPort, secretFile);
  cleanups.push(() => a.cluster.close());
  const b = await startFrontend(api, clusterName, 'frontend-b', replicaPort, secretFile);
  cleanups.push(() => b.cluster.close());
  return { api, kubelet, a, b };
}

test('two frontends on one Redis and a fake Kubernetes API: one writer, queries over every pod, a pod lost under load loses nothing', {
  skip,
  timeout: 300_000,
}, async (t) => {
  const clusterName = uniqueCluster();
  const cleanups: Array<() => Promise<unknown> | unknown> = [() => deleteClusterKeys(kRedisUrl, clusterName)];
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const { api, kubelet, a, b } = await setUp(clusterName, cleanups);
  await waitUntil(() => leaseHolder(api) === 'frontend-a' || leaseHolder(api) === 'frontend-b', 30_000, 'a frontend to take the Lease');
  const leader = leaseHolder(api) === 'frontend-a' ? a : b;
  const follower = leader === a ? b : a;

  // Deploy through the follower: the state reaches both, only the leader writes the Deployment.
  const mark = api.requests.length;
  await follower.conn.registerApplication({ name: kApp, inputType: 'doubles', defaultOutput: 'none', sloMicros: 20_000_000 });
  await follower.conn.deployModel({
    name: 'host',
    version: '1',
    inputType: 'doubles',
    numReplicas: 3,
    cacheEnabled: false,
    container: { manager: 'kubernetes', image: kImage },
  });
  await follower.conn.linkModelToApp(kApp, 'host');
  const posts = deploymentWrites(api, mark, 'POST');
  assert.equal(posts.length, 1, 'exactly one Deployment create');
  assert.equal(sender(posts[0]!), leader.identity, 'created by the Lease holder');
  const [dep] = api.objects('deployments', 'default');
  new Deployment(dep).validate();
  assert.equal(dep.spec.replicas, 3);
  assert.equal(dep.spec.template.spec.containers[0].image, kImage);
  const labels = dep.spec.template.metadata.labels;
  assert.equal(labels['clipper.ai/cluster'], clusterName);
  assert.equal(labels['clipper.ai/model'], 'host');
  assert.equal(labels['clipper.ai/version'], '1');
  await waitUntil(() => kubelet.pods().filter((p) => p.ready).length === 3, 60_000, 'three ready pods');
  const pods = kubelet.pods();
  assert.deepEqual(new Set(pods.map((p) => p.ip)).size, 3, 'each pod at its own loopback address');
  for (const f of [a, b]) {
    await waitUntil(
      async () => (await replicasOf(f)).filter((c) => c.connected).length === 3,
      30_000,
      `${f.identity} to dial the three pods`,
    );
  }

  // Both frontends answer, and the answers come from every pod.
  const perPod = new Map<string, number>();
  await waitUntil(
    async () => {
      const round = await Promise.all(Array.from({ length: 40 }, (_, i) => ask(i % 2 === 0 ? a : b)));
      for (const r of round) {
        assert.ok(r.ok, r.pod);
        perPod.set(r.pod, (perPod.get(r.pod) ?? 0) + 1);
      }
      return pods.every((p) => (perPod.get(p.name) ?? 0) > 0);
    },
    60_000,
    'answers from every pod',
  );
  assert.deepEqual([...perPod.keys()].sort(), pods.map((p) => p.name).sort());

  // Under load from both frontends, one pod goes away: every query still gets a real answer.
  const traffic = load([a, b], 100);
  const victim = pods[0]!;
  await waitUntil(() => traffic.answers.filter((r) => r.pod === victim.name).length >= 50, 60_000, 'load to reach the pod to delete');
  await kubelet.deletePod(victim.name, { replace: false });
  const atDeletion = traffic.answers.length;
  await waitUntil(() => traffic.answers.length >= atDeletion + 400, 60_000, 'load to go on after the deletion');
  await traffic.stop();
  t.diagnostic(`${traffic.answers.length} queries under load (200 in flight), ${atDeletion} before ${victim.name} was deleted`);
  const bad = traffic.answers.filter((r) => !r.ok);
  assert.deepEqual(bad.slice(0, 5), [], `${bad.length} of ${traffic.answers.length} queries got no real answer`);
  for (const f of [a, b]) {
    await waitUntil(async () => !(await replicasOf(f)).some((c) => c.host === victim.ip), 10_000, `${f.identity} to drop ${victim.ip}`);
    assert.equal((await replicasOf(f)).length, 2);
  }
  assert.ok(
    traffic.answers.slice(atDeletion + 100).every((r) => r.pod !== victim.name),
    'no answers from the deleted pod once it is gone',
  );

  // Scale to one through the follower: only the leader changes the Deployment.
  const beforeScale = api.requests.length;
  await follower.conn.setNumReplicas('host', 1, '1');
  // The follower's call returns once one replica is ready (already true); the leader writes meanwhile.
  await waitUntil(() => api.objects('deployments', 'default')[0]?.spec.replicas === 1, 30_000, 'the Deployment to be scaled');
  const scaleWrites = [...deploymentWrites(api, beforeScale, 'PATCH'), ...deploymentWrites(api, beforeScale, 'PUT')];
  assert.ok(scaleWrites.length >= 1, 'the Deployment was patched or replaced');
  assert.deepEqual([...new Set(scaleWrites.map(sender))], [leader.identity]);
  await waitUntil(() => kubelet.pods().length === 1, 30_000, 'one pod left');
  for (const f of [a, b]) await waitUntil(async () => (await replicasOf(f)).length === 1, 10_000, `${f.identity} to follow the scale-down`);

  // Delete the model: the leader deletes the Deployment, its pods go.
  const beforeDelete = api.requests.length;
  await follower.conn.unlinkModelFromApp(kApp, 'host');
  await follower.conn.deleteVersionedModel('host', '1');
  await waitUntil(() => api.objects('deployments', 'default').length === 0, 30_000, 'the Deployment to be deleted');
  const deletes = deploymentWrites(api, beforeDelete, 'DELETE');
  assert.deepEqual(deletes.map(sender), [leader.identity]);
  await waitUntil(() => kubelet.pods().length === 0, 30_000, 'the pods to go');

  // The leader stops: the other frontend takes the Lease and writes the next Deployment.
  await leader.cluster.close();
  await waitUntil(() => leaseHolder(api) === follower.identity, 30_000, `${follower.identity} to take the Lease`);
  const beforeFailover = api.requests.length;
  await follower.conn.deployModel({
    name: 'host',
    version: '2',
    inputType: 'doubles',
    numReplicas: 1,
    cacheEnabled: false,
    container: { manager: 'kubernetes', image: 'registry.local:5000/host:2' },
  });
  await follower.conn.linkModelToApp(kApp, 'host');
  const failoverPosts = deploymentWrites(api, beforeFailover, 'POST');
  assert.deepEqual(failoverPosts.map(sender), [follower.identity]);
  await waitUntil(async () => (await ask(follower)).ok, 30_000, 'the new version to answer');
  const lease: Json = api.objects('leases', 'default')[0];
  assert.ok(lease.spec.leaseTransitions >= 1, 'the Lease changed hands');
});
