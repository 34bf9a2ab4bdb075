// The Kubernetes container manager against the fake API server (test/helpers/fake_kube_api.ts) and,
// where pods must run, the fake kubelet (Node runners on 127.x.y.z): the exact requests it makes to
// create, scale, replace and delete a model's Deployment; pods fed through the watch event by event
// becoming replicas and leaving at once; leader and follower; a new leader that applies and
// reconciles; and a real Cluster deploying, serving and deleting a model on "Kubernetes", with queries
// in flight on a pod that goes away answered by another pod.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { deploymentOf, type KubeDeployOptions, specHashOf } from '../../src/containers/kubernetes/deployment_spec.js';
import { postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';
import type { FakeKubeApi, RecordedRequest } from '../helpers/fake_kube_api.js';
import { fixture } from '../helpers/fake_kube_shapes.js';
import { nodeRunner, startFakeKubelet } from '../helpers/fake_kubelet.js';
import {
  kBoundMs,
  kSecretName,
  kTestCluster,
  kTestRegistry,
  modelRecord,
  startApi,
  startKubelet,
  startManager,
  testFirstIp,
  testReplicaPort,
} from '../helpers/k8s_manager_harness.js';

const kDeployments = '/apis/apps/v1/namespaces/default/deployments';

function deployOptions(replicaPort: number): KubeDeployOptions {
  return {
    clusterName: kTestCluster,
    namespace: 'default',
    registry: kTestRegistry,
    containerPort: replicaPort,
    imagePullSecrets: ['regcred'],
    replicaSecretName: kSecretName,
  };
}

function writes(api: FakeKubeApi): RecordedRequest[] {
  return api.requests.filter((r) => r.method !== 'GET' && r.path.startsWith(kDeployments));
}

test('the leader creates the exact Deployment, scales it by a merge patch, replaces it on a spec change and deletes it', async (t) => {
  const { api } = await startApi(t);
  const kubelet = startKubelet(t, api);
  const replicaPort = testReplicaPort();
  const { manager, events } = await startManager(t, api, { replicaPort });
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  const m = modelRecord('m', '1', 2, { container: { manager: 'kubernetes', cpus: 0.25, memory_mb: 128 } });
  await manager.ensure(m);

  const expected = deploymentOf(m, deployOptions(replicaPort));
  const [create] = writes(api);
  assert.equal(create?.method, 'POST');
  assert.deepEqual(create.body, JSON.parse(JSON.stringify(expected)));
  new Deployment(create.body as never).validate();
  const container = (create.body as typeof expected).spec!.template.spec!.containers[0]!;
  assert.equal(container.image, 'registry.test:5000/m:1');
  assert.deepEqual(container.readinessProbe?.tcpSocket, { port: replicaPort });
  assert.deepEqual(container.resources, { requests: { cpu: '250m', memory: '128Mi' }, limits: { cpu: '250m', memory: '128Mi' } });
  // Both pods are ready: reported at their pod IPs, listed with their pod names.
  const started = events.filter((e) => e.kind === 'started').map((e) => e.endpoint);
  assert.equal(started.length, 2);
  const pods = kubelet.pods();
  assert.deepEqual(new Set(started.map((e) => `${e.host}:${e.port}`)), new Set(pods.map((p) => `${p.ip}:${replicaPort}`)));
  assert.deepEqual(new Set(started.map((e) => e.replicaId)), new Set([0, 1]));
  const listed = manager.list();
  assert.deepEqual(new Set(listed.map((r) => r.containerId)), new Set(pods.map((p) => p.name)));
  assert.ok(
    listed.every(
      (r) => r.manager === 'kubernetes' && r.health === 'healthy' && r.state === 'running' && r.image === 'registry.test:5000/m:1',
    ),
  );

  await manager.ensure({ ...m, num_replicas: 3 });
  const patch = writes(api).at(-1)!;
  assert.equal(patch.method, 'PATCH');
  assert.equal(patch.path, `${kDeployments}/clipper-k8stest-m-1`);
  assert.equal(patch.contentType, 'application/merge-patch+json');
  assert.deepEqual(patch.body, { spec: { replicas: 3 } });
  assert.equal(events.filter((e) => e.kind === 'started').length, 3);

  const changed = { ...m, num_replicas: 3, container: { manager: 'kubernetes' as const, cpus: 0.5 } };
  await manager.ensure(changed);
  const replace = writes(api).at(-1)!;
  assert.equal(replace.method, 'PUT');
  const newHash = specHashOf(changed, deployOptions(replicaPort));
  assert.equal((replace.body as typeof expected).spec!.template.metadata!.labels!['clipper.ai/spec'], newHash);
  assert.match(String((replace.body as typeof expected).metadata!.resourceVersion), /^[0-9]+$/, 'it sends the version it read');
  // Resolved once three pods of the new spec were ready.
  assert.ok(api.objects<V1Pod>('pods').filter((p) => p.metadata?.labels?.['clipper.ai/spec'] === newHash && p.status?.podIP).length >= 3);

  await manager.remove('m', '1');
  const del = writes(api).at(-1)!;
  assert.equal(del.method, 'DELETE');
  assert.equal(del.path, `${kDeployments}/clipper-k8stest-m-1`);
  assert.deepEqual(manager.list(), []);
  const stopped = new Set(events.filter((e) => e.kind === 'stopped').map((e) => `${e.endpoint.host}:${e.endpoint.replicaId}`));
  const everStarted = new Set(events.filter((e) => e.kind === 'started').map((e) => `${e.endpoint.host}:${e.endpoint.replicaId}`));
  assert.deepEqual(stopped, everStarted, 'every replica reported started is reported stopped');
  await waitUntil(
    () => api.objects('deployments').length === 0 && kubelet.pods().length === 0,
    kBoundMs,
    'the Deployment and its pods to go',
  );
});

/** A pod of model m:1 as the API shows one (the recorded shape), with the labels a Deployment gives it. */
function modelPod(name: string, ip: string, ready: boolean, hash: string): V1Pod {
  const pod = fixture('pod_running') as V1Pod;
  pod.metadata = {
    name,
    namespace: 'default',
    labels: {
      'clipper.ai/cluster': kTestCluster,
      'app.kubernetes.io/component': 'model-replica',
      'clipper.ai/model': 'm',
      'clipper.ai/version': '1',
      'clipper.ai/spec': hash,
    },
    annotations: { 'clipper.ai/model-name': 'm', 'clipper.ai/model-version': '1' },
  };
  pod.spec!.containers = [{ name: 'model', image: 'registry.test:5000/m:1', ports: [{ containerPort: 7000 }] }];
  pod.status!.podIP = ip;
  pod.status!.podIPs = [{ ip }];
  setReady(pod, ready);
  return pod;
}

function setReady(pod: V1Pod, ready: boolean): V1Pod {
  for (const c of pod.status!.conditions!) if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = ready ? 'True' : 'False';
  pod.status!.containerStatuses![0]!.ready = ready;
  return pod;
}

test('pods fed through the watch one event at a time become replicas, and leave the moment they are not ready', async (t) => {
  const { api } = await startApi(t);
  const { manager, events } = await startManager(t, api, { replicaPort: 7000 });
  const m = modelRecord('m', '1', 2);
  const hash = specHashOf(m, deployOptions(7000));
  const deployed = manager.ensure(m);
  let settled = false;
  void deployed.then(() => {
    settled = true;
  });
  const seen = (n: number) => waitUntil(() => events.length === n, kBoundMs, `${n} replica events`);
  // A pod of another cluster's model and one of a model not asked for are not replicas here.
  const foreign = modelPod('other-1', '127.0.9.9', true, hash);
  foreign.metadata!.annotations = { 'clipper.ai/model-name': 'other', 'clipper.ai/model-version': '1' };
  api.upsert('pods', foreign);
  api.upsert('pods', modelPod('m-a', '127.0.9.2', false, hash));
  api.upsert('pods', modelPod('m-b', '127.0.9.3', false, hash));
  await waitUntil(() => manager.list().length === 2, kBoundMs, 'the two pods to be known');
  assert.equal(events.length, 0, 'no pod is ready yet');
  api.upsert('pods', modelPod('m-a', '127.0.9.2', true, hash));
  await seen(1);
  assert.deepEqual(events[0], { kind: 'started', endpoint: { model: 'm', version: '1', replicaId: 0, host: '127.0.9.2', port: 7000 } });
  assert.equal(settled, false, 'one ready pod of two: still deploying');
  api.upsert('pods', modelPod('m-b', '127.0.9.3', true, hash));
  await seen(2);
  assert.deepEqual(events[1]?.endpoint, { model: 'm', version: '1', replicaId: 1, host: '127.0.9.3', port: 7000 });
  await deployed;

  api.upsert('pods', modelPod('m-a', '127.0.9.2', false, hash));
  await seen(3);
  assert.deepEqual(events[2], { kind: 'stopped', endpoint: events[0]!.endpoint, reason: 'pod m-a is not ready' });
  api.upsert('pods', modelPod('m-a', '127.0.9.2', true, hash));
  await seen(4);
  assert.deepEqual(events[3], { kind: 'started', endpoint: events[0]!.endpoint }, 'the same replica id while the pod lives');
  const terminating = modelPod('m-a', '127.0.9.2', true, hash);
  terminating.metadata!.deletionTimestamp = new Date();
  api.upsert('pods', terminating);
  await seen(5);
  assert.deepEqual(events[4], { kind: 'stopped', endpoint: events[0]!.endpoint, reason: 'pod m-a is terminating' });
  api.remove('pods', 'default', 'm-a');
  api.remove('pods', 'default', 'm-b');
  await seen(6);
  assert.deepEqual(events[5], { kind: 'stopped', endpoint: events[1]!.endpoint, reason: 'pod m-b was deleted' });
  // A new pod takes the smallest free replica id.
  api.upsert('pods', modelPod('m-c', '127.0.9.4', true, hash));
  await seen(7);
  assert.deepEqual(events[6], { kind: 'started', endpoint: { model: 'm', version: '1', replicaId: 0, host: '127.0.9.4', port: 7000 } });
  await manager.remove('m', '1');
  assert.deepEqual(events[7], { kind: 'stopped', endpoint: events[6]!.endpoint, reason: 'model m:1 was removed' });
});

test('two frontends: only the Lease holder writes, the follower waits for the same pods, and takes over when the leader goes', async (t) => {
  const { api } = await startApi(t);
  startKubelet(t, api);
  const replicaPort = testReplicaPort();
  const a = await startManager(t, api, { replicaPort, identity: 'frontend-a' });
  await waitUntil(() => a.manager.isLeader, kBoundMs, 'frontend-a to lead');
  const b = await startManager(t, api, { replicaPort, identity: 'frontend-b' });
  const m = modelRecord('m', '1', 2);
  await Promise.all([b.manager.ensure(m), a.manager.ensure(m)]);
  assert.equal(b.manager.isLeader, false);
  assert.deepEqual(
    writes(api).map((r) => r.method),
    ['POST'],
    'one Deployment, created once',
  );
  assert.equal(b.events.filter((e) => e.kind === 'started').length, 2, 'the follower dials both pods too');
  // A follower's remove drops its replicas but leaves the Deployment to the leader.
  await b.manager.remove('m', '1');
  assert.equal(api.objects('deployments').length, 1);
  await b.manager.ensure(m);
  await a.manager.close();
  await waitUntil(() => b.manager.isLeader, kBoundMs, 'frontend-b to take over');
  await b.manager.remove('m', '1');
  assert.equal(writes(api).at(-1)?.method, 'DELETE');
  await waitUntil(() => api.objects('deployments').length === 0, kBoundMs, 'the Deployment to be deleted');
});

test('a new leader writes every model it was asked to run and deletes the Deployments of models no longer registered', async (t) => {
  const { api } = await startApi(t);
  startKubelet(t, api);
  const replicaPort = testReplicaPort();
  const stale = modelRecord('gone', '1', 1);
  api.upsert('deployments', deploymentOf(stale, deployOptions(replicaPort)));
  // Another frontend holds the Lease and stops renewing it.
  const now = new Date().toISOString().replace('Z', '000Z');
  api.upsert('leases', {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: `clipper-${kTestCluster}-manager`, namespace: 'default' },
    spec: { holderIdentity: 'frontend-gone', leaseDurationSeconds: 2, acquireTime: now, renewTime: now, leaseTransitions: 0 },
  });
  const { manager, log } = await startManager(t, api, { replicaPort, identity: 'frontend-new' });
  const m = modelRecord('m', '1', 1);
  const deployed = manager.ensure(m);
  await manager.reconcile(new Set(['m:1']));
  assert.equal(manager.isLeader, false);
  assert.deepEqual(writes(api), [], 'a follower writes nothing');
  await deployed;
  assert.equal(manager.isLeader, true);
  await waitUntil(() => api.objects('deployments').length === 1, kBoundMs, 'the stale Deployment to be deleted');
  assert.equal(api.objects('deployments')[0].metadata.name, 'clipper-k8stest-m-1');
  assert.ok(log.some((line) => /deleting Deployment clipper-k8stest-gone-1: model gone:1 is no longer registered/.test(line)));
});

/** A model that answers its pod's name; an input v > 0 makes it note its pod in `markFile`, then sleep v ms. */
function writeSlowHostModel(dir: string, markFile: string): string {
  const file = path.join(dir, 'slow_host_model.mjs');
  writeFileSync(
    file,
    `import { appendFileSync } from 'node:fs';
const host = process.env.HOSTNAME ?? 'unknown';
export async function predict(inputs) {
  const ms = Math.max(...inputs.map((x) => x[0]));
  if (ms > 0) {
    appendFileSync(${JSON.stringify(markFile)}, host + '\\n');
    await new Promise((r) => setTimeout(r, ms));
  }
  return inputs.map(() => host);
}
`,
  );
  return file;
}

async function clusterOnFakeKubernetes(t: TestContext) {
  const { api, secretHex } = await startApi(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-k8s-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = path.join(dir, 'replica_secret');
  writeFileSync(secretFile, secretHex);
  const markFile = path.join(dir, 'busy_pods');
  writeFileSync(markFile, '');
  const kubelet = startFakeKubelet(api, {
    runnerFor: nodeRunner(writeSlowHostModel(dir, markFile)),
    firstIp: testFirstIp(),
    restartDelayMs: 200,
    retryMs: 200,
  });
  t.after(() => kubelet.close());
  const cluster = await startTestCluster(
    t,
    {
      containers: 'kubernetes',
      clusterName: kTestCluster,
      replicaSecretFile: secretFile,
      kubernetesRegistry: kTestRegistry,
      kubernetesReplicaPort: testReplicaPort(),
      kubernetesDeployTimeoutMs: 30_000,
      // Past the app's SLO (20 s): a query answered by another pod was re-queued when its pod left, not timed out.
      inFlightTimeoutMs: 120_000,
    },
    {
      startAdmin: startAdminServer,
      kubernetes: { kubeConfig: api.kubeConfig(), identity: 'frontend-e2e', lease: { leaseDurationS: 2, renewMs: 400, retryMs: 200 } },
    },
  );
  return { api, kubelet, cluster, markFile };
}

test('a Cluster on Kubernetes: add_model deploys pods, a pod answers, a pod leaving mid-batch loses nothing, delete removes it', async (t) => {
  const { api, kubelet, cluster, markFile } = await clusterOnFakeKubernetes(t);
  const admin = (route: string, body: unknown) => postJson(cluster.adminPort, `/admin/${route}`, body);
  const app = { name: 'hosts', input_type: 'doubles', default_output: 'none', latency_slo_micros: 20_000_000 };
  assert.equal((await admin('add_app', app)).status, 200);
  const added = await admin('add_model', {
    model_name: 'hostm',
    model_version: '1',
    input_type: 'doubles',
    container: { manager: 'kubernetes' },
    num_replicas: 2,
  });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.equal((await admin('add_model_links', { app_name: 'hosts', model_names: ['hostm'] })).status, 200);
  const [deployment] = api.objects('deployments');
  assert.equal(deployment.metadata.name, 'clipper-k8stest-hostm-1');
  assert.equal(deployment.spec.template.spec.containers[0].image, 'registry.test:5000/hostm:1');
  const podNames = () => kubelet.pods().map((p) => p.name);
  const first = await postJson(cluster.queryPort, '/hosts/predict', { input: [0] });
  assert.equal(first.body.default, false, JSON.stringify(first.body));
  assert.ok(podNames().includes(first.body.output), `answered by a pod: ${first.body.output}`);
  const connected = (n: number) => waitUntil(() => cluster.replicas().filter((r) => r.connected).length === n, kBoundMs, `${n} connected`);
  await connected(2);

  // Queries go to pod A alone (B unready), then A becomes unready while it computes them: they are
  // answered by B, not given the default and not left to time out.
  const [a, b] = kubelet.pods();
  kubelet.setReady(b!.name, false);
  await connected(1);
  const answers = Promise.all([1, 2, 3, 4].map(() => postJson(cluster.queryPort, '/hosts/predict', { input: [1500] })));
  await waitUntil(() => readFileSync(markFile, 'utf8').includes(a!.name), kBoundMs, 'pod A to compute the batch');
  kubelet.setReady(b!.name, true);
  await connected(2);
  kubelet.setReady(a!.name, false);
  for (const answer of await answers) {
    assert.deepEqual({ output: answer.body.output, default: answer.body.default }, { output: b!.name, default: false });
  }

  assert.equal((await admin('delete_versioned_model', { model_name: 'hostm', model_version: '1' })).status, 200);
  await waitUntil(() => api.objects('deployments').length === 0 && kubelet.pods().length === 0, kBoundMs, 'the Deployment and pods to go');
  await waitUntil(() => cluster.replicas().length === 0, kBoundMs, 'no replica listed');
});
