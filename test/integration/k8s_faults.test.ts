// The Kubernetes container manager when things go wrong, against the fake API server and kubelet: an
// API server that cannot be reached, RBAC refusing a verb, an image that cannot be pulled, a pod that
// crashes, a replaced spec that never becomes ready (restored), a model with no image, a model on
// Kubernetes in a cluster without the replica secret file, and a lost (and compacted) watch that is
// re-established and resynced.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { Cluster } from '../../src/cluster.js';
import { KubernetesManager } from '../../src/containers/kubernetes/kubernetes_manager.js';
import { specHashOf } from '../../src/containers/kubernetes/deployment_spec.js';
import { ClipperError } from '../../src/errors.js';
import { postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { startFakeKubeApi } from '../helpers/fake_kube_api.js';
import { fixture } from '../helpers/fake_kube_shapes.js';
import {
  kBoundMs,
  kSecretName,
  kTestCluster,
  kTestRegistry,
  modelRecord,
  startApi,
  startKubelet,
  startManager,
  testReplicaPort,
  deployFailed,
} from '../helpers/k8s_manager_harness.js';

test('an API server that cannot be reached: connecting fails naming it; a write that cannot reach it fails the deploy', async (t) => {
  const gone = await startFakeKubeApi();
  const kubeConfig = gone.kubeConfig();
  const url = gone.url;
  await gone.close();
  await assert.rejects(
    KubernetesManager.start(
      { onReplicaStarted: () => {}, onReplicaStopped: () => {} },
      {
        clusterName: kTestCluster,
        kubeconfig: '',
        proxyAddr: '',
        namespace: '',
        registry: kTestRegistry,
        replicaPort: 7000,
        imagePullSecrets: [],
        deployTimeoutMs: 1000,
        replicaSecretName: '',
        identity: 'x',
        kubeConfig,
        requestTimeoutMs: 2000,
      },
    ),
    (err: unknown) => err instanceof ClipperError && err.message.includes(url) && /cannot reach|ECONNREFUSED/.test(err.message),
  );

  // A cluster whose default is Kubernetes connects at start-up: it does not start, and says where it looked.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-k8s-faults-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${url}\n    insecure-skip-tls-verify: true\n` +
      'users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n',
  );
  await assert.rejects(
    Cluster.start({
      config: {
        queryPort: 0,
        adminPort: 0,
        batchingThreads: 1,
        containers: 'kubernetes',
        replicaAuth: 'off',
        kubeconfig,
        clusterName: kTestCluster,
      },
    }),
    (err: unknown) => err instanceof ClipperError && err.message.includes(`cannot reach the Kubernetes API server at ${url}`),
  );

  const { api } = await startApi(t);
  const { manager } = await startManager(t, api);
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  api.failRequests({ method: 'POST', resource: 'deployments' }, 0, 'reset');
  await assert.rejects(
    manager.ensure(modelRecord('m', '1', 1)),
    deployFailed(new RegExp(`cannot reach the Kubernetes API server at ${api.url} to create deployments "clipper-k8stest-m-1"`)),
  );
});

test('RBAC refusing create: the deploy fails naming the verb, the resource, the namespace and where to grant it', async (t) => {
  const { api } = await startApi(t);
  const { manager } = await startManager(t, api);
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  api.failRequests({ method: 'POST', resource: 'deployments' }, 403, 'Forbidden');
  await assert.rejects(
    manager.ensure(modelRecord('m', '1', 1)),
    deployFailed(
      /forbidden: cannot create deployments in namespace "default".*grant "create" on "deployments" in the manager's Role \(clipper k8s manifests prints one\)/,
    ),
  );
  assert.deepEqual(api.objects('deployments'), []);
});

test('an image that cannot be pulled: the deploy fails by its timeout with the pull error, and the Deployment is deleted', async (t) => {
  const { api } = await startApi(t);
  const kubelet = startKubelet(t, api);
  kubelet.failImagePull((image) => image.endsWith('/broken:1'));
  const { manager } = await startManager(t, api, { deployTimeoutMs: 2500 });
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  await assert.rejects(
    manager.ensure(modelRecord('broken', '1', 1)),
    deployFailed(
      /^0 of 1 replica\(s\) of model broken:1 ready after 2.5 s: pod clipper-k8stest-broken-1-[a-z0-9]+-[a-z0-9]{5}: (ErrImagePull|ImagePullBackOff).*registry.test:5000\/broken:1.*; its Deployment clipper-k8stest-broken-1 was deleted \(rolled back\)$/,
    ),
  );
  assert.deepEqual(api.objects('deployments'), []);
  await waitUntil(() => manager.list().length === 0, kBoundMs, 'its pods to go with it');
});

test('a pod that keeps crashing: the reason is the crash loop and the last termination', async (t) => {
  const { api } = await startApi(t);
  startKubelet(t, api, 'throws_on_load.mjs');
  const { manager } = await startManager(t, api, { deployTimeoutMs: 3000 });
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  await assert.rejects(
    manager.ensure(modelRecord('crash', '1', 1)),
    deployFailed(
      /pod clipper-k8stest-crash-1-\S+: .*(CrashLoopBackOff|last termination: Error \(exit code [1-9][0-9]*\)|terminated: Error)/,
    ),
  );
  assert.deepEqual(api.objects('deployments'), []);
});

test('a replaced spec that never becomes ready is rolled back to the previous spec, whose pod keeps serving', async (t) => {
  const { api } = await startApi(t);
  const kubelet = startKubelet(t, api);
  kubelet.failImagePull((image) => image.includes('broken'));
  const replicaPort = testReplicaPort();
  const { manager, events } = await startManager(t, api, { replicaPort, deployTimeoutMs: 2500 });
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  const good = modelRecord('m', '1', 1);
  await manager.ensure(good);
  const options = {
    clusterName: kTestCluster,
    namespace: 'default',
    registry: kTestRegistry,
    containerPort: replicaPort,
    imagePullSecrets: ['regcred'],
    replicaSecretName: kSecretName,
  };
  const goodHash = specHashOf(good, options);
  const bad = modelRecord('m', '1', 1, { container: { manager: 'kubernetes', image: 'registry.test:5000/broken:1' } });
  await assert.rejects(manager.ensure(bad), deployFailed(/ImagePull.*got its previous spec back \(rolled back\)$/));
  const [d] = api.objects<V1Deployment>('deployments');
  assert.equal(d?.spec?.template.metadata?.labels?.['clipper.ai/spec'], goodHash);
  assert.equal(d?.spec?.template.spec?.containers[0]?.image, 'registry.test:5000/m:1');
  await waitUntil(() => kubelet.pods().length === 1 && kubelet.pods()[0]!.ready, kBoundMs, 'only a pod of the previous spec');
  const [serving] = api.objects<V1Pod>('pods');
  assert.equal(serving?.metadata?.labels?.['clipper.ai/spec'], goodHash);
  // The frontend's replica set is that pod. (A real Deployment controller keeps the old pod, whose
  // template is unchanged; the fake kubelet may start an equal one first, which changes nothing here.)
  await waitUntil(
    () => events.filter((e) => e.kind === 'started').length - events.filter((e) => e.kind === 'stopped').length === 1,
    kBoundMs,
    'one replica',
  );
  const live = events.filter((e) => e.kind === 'started').at(-1)!;
  assert.equal(live.endpoint.host, kubelet.pods()[0]!.ip);
});

test('a model with neither an image nor a registry is refused before anything is written', async (t) => {
  const { api } = await startApi(t);
  const { manager } = await startManager(t, api, { registry: '' });
  await waitUntil(() => manager.isLeader, kBoundMs, 'the Lease');
  await assert.rejects(manager.ensure(modelRecord('m', '1', 1)), (err: unknown) => {
    assert.ok(err instanceof ClipperError);
    assert.match(err.message, /names no container.image and the cluster has no kubernetesRegistry: build and push its image/);
    return true;
  });
  assert.deepEqual(api.objects('deployments'), []);
});

test('a model on Kubernetes in another kind of cluster, with replica auth but no replicaSecretFile: its deploy fails naming the option', async (t) => {
  const { api } = await startApi(t);
  // A local-process cluster (config checks nothing about Kubernetes) whose model asks for Kubernetes.
  const cluster = await startTestCluster(
    t,
    { clusterName: kTestCluster, kubernetesRegistry: kTestRegistry },
    { startAdmin: startAdminServer, kubernetes: { kubeConfig: api.kubeConfig(), identity: 'frontend-local' } },
  );
  const added = await postJson(cluster.adminPort, '/admin/add_model', {
    model_name: 'm',
    model_version: '1',
    input_type: 'doubles',
    container: { manager: 'kubernetes' },
    num_replicas: 1,
  });
  assert.equal(added.status, 400, JSON.stringify(added.body));
  assert.match(
    JSON.stringify(added.body),
    /config\.replicaSecretFile must name the file holding the replica secret .*clipper k8s manifests.* or set replicaAuth 'off'/,
  );
  assert.deepEqual(api.objects('deployments'), []);
  assert.equal(api.requests.length, 0, 'the API server was never contacted');
});

test('a lost watch is re-established, and after compaction resynced by a list: changes made meanwhile are not missed', async (t) => {
  const { api } = await startApi(t);
  const { manager, events, log } = await startManager(t, api, { replicaPort: 7000 });
  const m = modelRecord('m', '1', 1);
  const hash = specHashOf(m, {
    clusterName: kTestCluster,
    namespace: 'default',
    registry: kTestRegistry,
    containerPort: 7000,
    imagePullSecrets: ['regcred'],
    replicaSecretName: kSecretName,
  });
  const pod = (name: string, ip: string): V1Pod => {
    const p = fixture('pod_running') as V1Pod;
    p.metadata = {
      name,
      namespace: 'default',
      labels: { 'clipper.ai/cluster': kTestCluster, 'app.kubernetes.io/component': 'model-replica', 'clipper.ai/spec': hash },
      annotations: { 'clipper.ai/model-name': 'm', 'clipper.ai/model-version': '1' },
    };
    p.spec!.containers = [{ name: 'model', image: 'registry.test:5000/m:1', ports: [{ containerPort: 7000 }] }];
    p.status!.podIP = ip;
    return p;
  };
  const deployed = manager.ensure(m);
  api.upsert('pods', pod('m-a', '127.0.8.2'));
  await deployed;
  assert.equal(events.length, 1);
  // A plain drop: the watch comes back from where it was.
  await waitUntil(() => api.openWatches() > 0, kBoundMs, 'a watch');
  api.dropWatches(true);
  api.upsert('pods', pod('m-b', '127.0.8.3'));
  await waitUntil(() => events.length === 2, kBoundMs, 'the pod added while the watch was down');
  assert.equal(events[1]?.endpoint.host, '127.0.8.3');
  // Compacted history: the watch gets 410 Gone, lists again and diffs: a deletion it never saw is reported.
  await waitUntil(() => api.openWatches() > 0, kBoundMs, 'the watch again');
  api.compact();
  api.dropWatches(true);
  api.remove('pods', 'default', 'm-a');
  api.upsert('pods', pod('m-c', '127.0.8.4'));
  await waitUntil(() => events.length === 4, kBoundMs, 'the resync');
  assert.deepEqual(
    new Set(events.slice(2).map((e) => `${e.kind} ${e.endpoint.host}`)),
    new Set(['stopped 127.0.8.2', 'started 127.0.8.4']),
  );
  assert.ok(log.some((line) => /the watch of the replica pods broke/.test(line)));
});

test('no pod ever appears: the leader says so and deletes its Deployment; a follower names the Lease holder it waits on', async (t) => {
  const { api } = await startApi(t);
  const leader = await startManager(t, api, { deployTimeoutMs: 1000 });
  await waitUntil(() => leader.manager.isLeader, kBoundMs, 'the Lease');
  await assert.rejects(
    leader.manager.ensure(modelRecord('m', '1', 2)),
    deployFailed(
      /^0 of 2 replica\(s\) of model m:1 ready after 1 s: no pod of it exists; its Deployment clipper-k8stest-m-1 was deleted \(rolled back\)$/,
    ),
  );
  assert.deepEqual(api.objects('deployments'), []);
  await leader.manager.close();

  // Another frontend holds the Lease for long and writes nothing.
  const { api: api2 } = await startApi(t);
  const now = new Date().toISOString().replace('Z', '000Z');
  api2.upsert('leases', {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: `clipper-${kTestCluster}-manager`, namespace: 'default' },
    spec: { holderIdentity: 'frontend-busy', leaseDurationSeconds: 3600, acquireTime: now, renewTime: now, leaseTransitions: 0 },
  });
  const follower = await startManager(t, api2, { deployTimeoutMs: 1000, identity: 'frontend-follower' });
  await assert.rejects(
    follower.manager.ensure(modelRecord('m', '1', 1)),
    deployFailed(/its Deployment clipper-k8stest-m-1 does not exist \(the frontend holding the Lease, frontend-busy, writes it\)$/),
  );
  assert.equal(follower.manager.isLeader, false);
  assert.deepEqual(api2.objects('deployments'), []);
});
