// The fake Kubernetes API server (test/helpers/fake_kube_api.ts) driven through the real
// @kubernetes/client-node, its streams and faults: watches with selectors, bookmarks, 410 after
// compaction and dropped streams; injected Status failures, reset connections and delays; and the
// fake kubelet (test/helpers/fake_kubelet.ts) playing the Deployment controller and kubelet on top
// of it. The other verbs: fake_kube_api.test.ts.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ApiException, AppsV1Api, CoreV1Api, Watch, type V1Deployment } from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Pod } from 'kubernetes-models/v1/Pod';
import { kFixtureModels, waitUntil } from '../helpers/cluster.js';
import type { FakeKubeApi, Json } from '../helpers/fake_kube_api.js';
import { deployment, fake, keysOf, pod, refusal } from '../helpers/fake_kube_client.js';
import { fixture } from '../helpers/fake_kube_shapes.js';
import { nodeRunner, startFakeKubelet, type FakeKubelet } from '../helpers/fake_kubelet.js';
import { freePort } from '../helpers/redis.js';

interface Seen {
  type: string;
  name: string | undefined;
  rv: string | undefined;
}

type WatchQuery = Record<string, string | number | boolean | undefined>;

function watchInto(
  api: FakeKubeApi,
  path: string,
  query: WatchQuery,
  seen: Seen[],
  ended: { err: unknown; done: boolean },
): Promise<AbortController> {
  return new Watch(api.kubeConfig()).watch(
    path,
    query,
    (type, obj: Json) => seen.push({ type, name: obj?.metadata?.name, rv: obj?.metadata?.resourceVersion }),
    (err) => {
      ended.err = err;
      ended.done = true;
    },
  );
}

test('Watch: events by selector from a resourceVersion, selector exits as DELETED, bookmarks, dropped watches', async (t) => {
  const api = await fake(t, { bookmarkMs: 100 });
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  api.upsert('pods', pod('before', { c: 'x' }));
  const list = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'c=x' });
  const seen: Seen[] = [];
  const ended = { err: null as unknown, done: false };
  const query = { labelSelector: 'c=x', resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true };
  const controller = await watchInto(api, '/api/v1/namespaces/default/pods', query, seen, ended);
  t.after(() => controller.abort());
  await waitUntil(() => api.openWatches() === 1, 10_000, 'the watch to open');
  api.upsert('pods', pod('p', { c: 'x' }));
  api.upsert('pods', { ...pod('p', { c: 'x' }), status: { phase: 'Running' } });
  api.upsert('pods', pod('ignored', { c: 'y' }));
  api.upsert('pods', pod('p', { c: 'y' }));
  api.upsert('pods', pod('p', { c: 'x' }));
  api.remove('pods', 'default', 'p');
  await waitUntil(() => seen.filter((s) => s.type !== 'BOOKMARK').length >= 5, 10_000, 'five watch events');
  assert.deepEqual(
    seen.filter((s) => s.type !== 'BOOKMARK').map((s) => `${s.type} ${s.name}`),
    ['ADDED p', 'MODIFIED p', 'DELETED p', 'ADDED p', 'DELETED p'],
  );
  await waitUntil(() => seen.filter((s) => s.type === 'BOOKMARK').length >= 2, 10_000, 'bookmarks');
  assert.ok(seen.some((s) => s.type === 'BOOKMARK' && Number(s.rv) >= Number(list.metadata?.resourceVersion)));
  api.dropWatches();
  await waitUntil(() => ended.done, 10_000, 'the dropped watch to end');
  assert.equal(api.openWatches(), 0);
  const watchRequest = api.requests.find((r) => r.query.get('watch') === 'true');
  assert.equal(watchRequest?.query.get('labelSelector'), 'c=x');
});

test('Watch: without a resourceVersion starts with ADDED for each object; a compacted one gets ERROR 410; faults', async (t) => {
  const api = await fake(t);
  api.upsert('pods', pod('a', { c: 'x' }));
  const oldRv = api.get('pods', 'default', 'a').metadata.resourceVersion;
  api.upsert('pods', pod('b', { c: 'x' }));
  const seen: Seen[] = [];
  const ended = { err: null as unknown, done: false };
  const c1 = await watchInto(api, '/api/v1/namespaces/default/pods', {}, seen, ended);
  t.after(() => c1.abort());
  await waitUntil(() => seen.length === 2, 10_000, 'the initial ADDED events');
  assert.deepEqual(
    seen.map((s) => `${s.type} ${s.name}`),
    ['ADDED a', 'ADDED b'],
  );
  api.compact();
  const errors: Json[] = [];
  const ended2 = { err: null as unknown, done: false };
  await new Watch(api.kubeConfig()).watch(
    '/api/v1/namespaces/default/pods',
    { resourceVersion: oldRv },
    (type, obj) => errors.push({ type, obj }),
    (err) => {
      ended2.err = err;
      ended2.done = true;
    },
  );
  await waitUntil(() => ended2.done, 10_000, 'the compacted watch to end');
  assert.equal(errors[0]?.type, 'ERROR');
  assert.equal(errors[0]?.obj.code, 410);
  assert.equal(errors[0]?.obj.reason, 'Expired');
  assert.deepEqual(keysOf(errors[0]?.obj), keysOf(fixture('watch_event_error_410').object));
  api.failRequests({ watch: true, resource: 'pods' }, 500, 'InternalError');
  const ended3 = { err: null as unknown, done: false };
  await watchInto(api, '/api/v1/namespaces/default/pods', {}, [], ended3);
  await waitUntil(() => ended3.done, 10_000, 'the failed watch to report');
  assert.equal((ended3.err as { statusCode?: number }).statusCode, 500);
});

test('faults: 403 worded as RBAC words it, a reset connection, then normal answers again', async (t) => {
  const api = await fake(t);
  const apps = api.kubeConfig().makeApiClient(AppsV1Api);
  api.failRequests({ method: 'POST', resource: 'deployments' }, 403, 'Forbidden');
  const denied = await refusal(apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web') }));
  assert.equal(denied.code, 403);
  assert.equal(
    denied.body.message,
    'deployments.apps is forbidden: User "system:serviceaccount:default:default" cannot create resource "deployments" in API group "apps" in the namespace "default"',
  );
  assert.deepEqual(keysOf(denied.body), keysOf(fixture('status_403_forbidden')));
  api.failRequests({ resource: 'deployments' }, 0, 'reset');
  await assert.rejects(apps.listNamespacedDeployment({ namespace: 'default' }), (err: Error) => !(err instanceof ApiException));
  await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web') });
  const forAll = api.kubeConfig().makeApiClient(AppsV1Api);
  api.failRequests({ method: 'GET' }, 503, 'ServiceUnavailable', 'etcd is down', Infinity);
  assert.equal((await refusal(forAll.listNamespacedDeployment({ namespace: 'default' }))).code, 503);
  assert.equal((await refusal(forAll.listNamespacedDeployment({ namespace: 'default' }))).body.message, 'etcd is down');
});

/** POSTs `body` to the fake with node:http and gives up (destroying the socket) after `giveUpMs`. */
function postAndGiveUp(api: FakeKubeApi, urlPath: string, body: unknown, giveUpMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`${api.url}${urlPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(giveUpMs),
    });
    req.on('response', () => reject(new Error('answered although held')));
    req.on('error', () => resolve());
    req.end(JSON.stringify(body));
  });
}

test('delays: held before handling, a request whose client gave up is dropped; held after, the change is made at once', async (t) => {
  const api = await fake(t);
  const apps = api.kubeConfig().makeApiClient(AppsV1Api);
  const deployments = '/apis/apps/v1/namespaces/default/deployments';
  const held = api.delayRequests({ method: 'POST', resource: 'deployments' }, { delayMs: 500, when: 'before' });
  await postAndGiveUp(api, deployments, deployment('dropped'), 50);
  await waitUntil(() => held.outcomes.length === 1, 10_000, 'the held request to settle');
  assert.deepEqual(held.outcomes, ['dropped']);
  assert.equal(api.get('deployments', 'default', 'dropped'), undefined, 'never handled');
  // A client that waits gets its request handled after the delay.
  const patient = api.delayRequests({ method: 'POST', resource: 'deployments' }, { delayMs: 100, when: 'before' });
  await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('patient') });
  assert.deepEqual(patient.outcomes, ['handled']);
  // Held after handling: the Deployment exists before its creator hears so.
  const late = api.delayRequests({ method: 'POST', resource: 'deployments' }, { delayMs: 1500, when: 'after' });
  const answered = apps.createNamespacedDeployment({ namespace: 'default', body: deployment('late') });
  await waitUntil(() => api.get('deployments', 'default', 'late') !== undefined, 10_000, 'the Deployment to be made');
  assert.deepEqual(late.outcomes, ['handled']);
  assert.equal((await answered).metadata?.name, 'late');
  // clearFaults forgets every planned failure and delay.
  api.failRequests({ method: 'GET' }, 503, 'ServiceUnavailable', undefined, Infinity);
  api.delayRequests({ resource: 'deployments' }, { delayMs: 60_000, when: 'before', times: Infinity });
  api.clearFaults();
  assert.equal((await apps.listNamespacedDeployment({ namespace: 'default' })).items.length, 2);
});

// ---- the fake kubelet ----

async function kubelet(t: TestContext, api: FakeKubeApi, model = 'hostname_model.mjs'): Promise<FakeKubelet> {
  const k = startFakeKubelet(api, { runnerFor: nodeRunner(path.join(kFixtureModels, model)), restartDelayMs: 200, retryMs: 200 });
  t.after(() => k.close());
  return k;
}

/** A Deployment of the runner: model env, the replica secret from a Secret, a container port. */
function runnerDeployment(name: string, replicas: number, port: number, image = `registry.local:5000/${name}:1`): V1Deployment {
  const d = deployment(name, replicas);
  d.spec!.template.spec!.containers[0] = {
    name: 'model',
    image,
    ports: [{ containerPort: port }],
    env: [
      { name: 'CLIPPER_MODEL_NAME', value: name },
      { name: 'CLIPPER_MODEL_VERSION', value: '1' },
      { name: 'CLIPPER_INPUT_TYPE', value: 'doubles' },
      { name: 'CLIPPER_REPLICA_SECRET', valueFrom: { secretKeyRef: { name: 'replica-secret', key: 'secret' } } },
    ],
  };
  return d;
}

function listens(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

const readyCondition = (p: Json): string | undefined => p.status?.conditions?.find((c: Json) => c.type === 'Ready')?.status;

test('kubelet: a Deployment gets Ready pods at 127.0.0.x running the runner; scale, template change, status', async (t) => {
  const api = await fake(t);
  const k = await kubelet(t, api);
  const port = await freePort();
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  const apps = api.kubeConfig().makeApiClient(AppsV1Api);
  await core.createNamespacedSecret({
    namespace: 'default',
    body: { metadata: { name: 'replica-secret' }, stringData: { secret: 'ab'.repeat(32) } },
  });
  await apps.createNamespacedDeployment({ namespace: 'default', body: runnerDeployment('web', 2, port) });
  await waitUntil(() => k.pods().filter((p) => p.ready).length === 2, 30_000, 'two ready pods');
  const pods = api.objects('pods', 'default');
  assert.equal(pods.length, 2);
  for (const p of pods) {
    new Pod(p).validate();
    assert.match(p.status.podIP, /^127\.0\.0\.\d+$/);
    assert.equal(p.status.phase, 'Running');
    assert.equal(readyCondition(p), 'True');
    assert.equal(p.metadata.ownerReferences[0].kind, 'ReplicaSet');
    assert.ok(await listens(p.status.podIP, port), `the runner of ${p.metadata.name} listens at ${p.status.podIP}:${port}`);
  }
  assert.notEqual(pods[0].status.podIP, pods[1].status.podIP);
  const log = await core.readNamespacedPodLog({ name: pods[0].metadata.name, namespace: 'default' });
  assert.match(log, /"clipper_ready":true/);
  await waitUntil(() => api.get('deployments', 'default', 'web').status.readyReplicas === 2, 10_000, 'the Deployment status');
  const status = api.get('deployments', 'default', 'web').status;
  assert.deepEqual(Object.keys(status).sort(), Object.keys(fixture('deployment').status).sort());
  new Deployment(api.get('deployments', 'default', 'web')).validate();
  // Scale down: one pod goes through a graceful deletion (deletionTimestamp first, then DELETED).
  const seen: Seen[] = [];
  const ended = { err: null as unknown, done: false };
  const controller = await watchInto(
    api,
    '/api/v1/namespaces/default/pods',
    { resourceVersion: api.get('deployments', 'default', 'web').metadata.resourceVersion },
    seen,
    ended,
  );
  t.after(() => controller.abort());
  await apps.patchNamespacedDeployment({ name: 'web', namespace: 'default', body: [{ op: 'replace', path: '/spec/replicas', value: 1 }] });
  await waitUntil(() => api.objects('pods').length === 1 && k.pods().length === 1, 20_000, 'the scale-down to one pod');
  assert.ok(seen.some((s) => s.type === 'DELETED'));
  // A template change rolls the pods: a new ReplicaSet, its pod ready, the old one removed.
  const before = k.pods()[0]!.name;
  await apps.patchNamespacedDeployment({
    name: 'web',
    namespace: 'default',
    body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.local:5000/web:2' }],
  });
  await waitUntil(
    () => k.pods().length === 1 && k.pods()[0]!.name !== before && k.pods()[0]!.ready,
    30_000,
    'the rollout to the new template',
  );
  assert.equal(api.objects('replicasets').length, 2);
  await waitUntil(
    () =>
      api.get('deployments', 'default', 'web').status.updatedReplicas === 1 &&
      api.get('deployments', 'default', 'web').status.observedGeneration === 3,
    10_000,
    'the status of the new generation',
  );
  await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'default' });
  await waitUntil(() => k.pods().length === 0 && api.objects('pods').length === 0, 20_000, 'the pods to be garbage collected');
  assert.equal(api.objects('replicasets').length, 0);
});

test('kubelet: deletePod replaces a pod unless told not to; setReady flips the Ready condition', async (t) => {
  const api = await fake(t);
  const k = await kubelet(t, api);
  const port = await freePort();
  api.upsert('secrets', { metadata: { name: 'replica-secret' }, stringData: { secret: 'cd'.repeat(32) } });
  api.upsert('deployments', runnerDeployment('m', 2, port));
  await waitUntil(() => k.pods().filter((p) => p.ready).length === 2, 30_000, 'two ready pods');
  const [first, second] = k.pods();
  await k.deletePod(first!.name);
  assert.equal(api.get('pods', 'default', first!.name), undefined);
  await waitUntil(() => k.pods().filter((p) => p.ready).length === 2, 30_000, 'a replacement pod');
  assert.ok(!(await listens(first!.ip, port)), 'the deleted pod no longer listens');
  await k.deletePod(second!.name, { replace: false });
  await waitUntil(() => api.get('deployments', 'default', 'm').status.readyReplicas === 1, 10_000, 'one ready replica left');
  assert.equal(k.pods().length, 1);
  const last = k.pods()[0]!;
  k.setReady(last.name, false);
  await waitUntil(() => readyCondition(api.get('pods', 'default', last.name)) === 'False', 10_000, 'the pod to turn unready');
  assert.equal(api.get('pods', 'default', last.name).status.phase, 'Running');
  assert.ok(await listens(last.ip, port), 'an unready pod still runs');
  k.setReady(last.name, true);
  await waitUntil(() => readyCondition(api.get('pods', 'default', last.name)) === 'True', 10_000, 'the pod to be ready again');
});

test("kubelet: image pull failures, a missing Secret and a crashing container report the kubelet's reasons", async (t) => {
  const api = await fake(t);
  const k = await kubelet(t, api, 'throws_on_load.mjs');
  const port = await freePort();
  k.failImagePull((image) => image.includes('nosuch'));
  api.upsert('deployments', runnerDeployment('pull', 1, port, 'registry.local:5000/nosuch:1'));
  const waitingReason = (dep: string): string | undefined =>
    api.objects('pods').find((p) => p.metadata.name.startsWith(`${dep}-`))?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
  await waitUntil(() => waitingReason('pull') === 'ErrImagePull', 10_000, 'ErrImagePull');
  await waitUntil(() => waitingReason('pull') === 'ImagePullBackOff', 10_000, 'ImagePullBackOff');
  const pullEvents = api.objects('events').filter((e) => e.type === 'Warning' && e.reason === 'Failed');
  assert.ok(pullEvents.some((e) => /^Failed to pull image "registry.local:5000\/nosuch:1": rpc error/.test(e.message)));
  assert.deepEqual(keysOf(pullEvents[0]).sort(), keysOf(fixture('event_failed_pull')).sort());
  // No Secret yet: the container cannot be configured.
  api.upsert('deployments', runnerDeployment('nosecret', 1, port));
  await waitUntil(() => waitingReason('nosecret') === 'CreateContainerConfigError', 10_000, 'CreateContainerConfigError');
  const pod = api.objects('pods').find((p) => p.metadata.name.startsWith('nosecret-'));
  assert.equal(pod.status.containerStatuses[0].state.waiting.message, 'secret "replica-secret" not found');
  // With the Secret the model loads, throws, and the container restarts with a back-off.
  api.upsert('secrets', { metadata: { name: 'replica-secret' }, stringData: { secret: 'ef'.repeat(32) } });
  await waitUntil(
    () => api.objects('pods').find((p) => p.metadata.name.startsWith('nosecret-'))?.status?.containerStatuses?.[0]?.restartCount >= 1,
    20_000,
    'a restart',
  );
  await waitUntil(() => waitingReason('nosecret') === 'CrashLoopBackOff', 20_000, 'CrashLoopBackOff');
  const crashed = api.objects('pods').find((p) => p.metadata.name.startsWith('nosecret-'));
  assert.equal(crashed.status.containerStatuses[0].lastState.terminated.reason, 'Error');
  const log = await api.kubeConfig().makeApiClient(CoreV1Api).readNamespacedPodLog({ name: crashed.metadata.name, namespace: 'default' });
  assert.match(log, /this model exploded while loading/);
  assert.equal(k.pods().filter((p) => p.ready).length, 0);
});
