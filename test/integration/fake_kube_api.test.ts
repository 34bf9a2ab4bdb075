// The fake Kubernetes API server (test/helpers/fake_kube_api.ts) driven through the real
// @kubernetes/client-node: every verb, selectors, resourceVersion conflicts, server-side apply, watch
// streams with bookmarks, 410 after compaction and dropped watches, injected faults. This is also the
// proof that the fake is faithful enough for the Kubernetes container manager's tests.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  Watch,
  setHeaderOptions,
  type KubernetesObject,
  type V1Deployment,
} from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Pod } from 'kubernetes-models/v1/Pod';
import { connect } from 'node:net';
import path from 'node:path';
import { startFakeKubeApi, type FakeKubeApi, type Json } from '../helpers/fake_kube_api.js';
import { fixture } from '../helpers/fake_kube_shapes.js';
import { nodeRunner, startFakeKubelet, type FakeKubelet } from '../helpers/fake_kubelet.js';
import { kFixtureModels, waitUntil } from '../helpers/cluster.js';
import { freePort } from '../helpers/redis.js';

async function fake(t: TestContext, options: Parameters<typeof startFakeKubeApi>[0] = {}): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi(options);
  t.after(() => api.close());
  return api;
}

function deployment(name: string, replicas = 2, labels: Record<string, string> = { app: name }): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'model', image: `registry.local:5000/${name}:1`, ports: [{ containerPort: 7000 }] }] },
      },
    },
  };
}

/** The ApiException a call rejects with (fails the test when it resolves). */
async function refusal(call: Promise<unknown>): Promise<{ code: number; body: Json }> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected an ApiException, got ${err}`);
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, body };
  }
  assert.fail('the call was expected to be refused');
}

/** The keys of an object, recursively for plain objects, to compare shapes with the recorded fixtures. */
function keysOf(o: Json, prefix = ''): string[] {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return [];
  return Object.keys(o).flatMap((k) => [`${prefix}${k}`, ...keysOf(o[k], `${prefix}${k}.`)]);
}

test('AppsV1Api: create, read, list by label, scale, replace with a stale resourceVersion, delete', async (t) => {
  const api = await fake(t);
  const apps = api.kubeConfig().makeApiClient(AppsV1Api);
  const created = await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web') });
  assert.equal(created.metadata?.generation, 1);
  assert.match(created.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(
    created.spec?.template.spec?.containers[0]?.terminationMessagePolicy,
    'File',
    'defaults filled in as a real API server does',
  );
  new Deployment(api.get('deployments', 'default', 'web')).validate();
  const again = await refusal(apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web') }));
  assert.equal(again.code, 409);
  assert.equal(again.body.reason, 'AlreadyExists');
  assert.equal(again.body.message, 'deployments.apps "web" already exists');
  await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('other', 1, { app: 'other' }) });
  const listed = await apps.listNamespacedDeployment({ namespace: 'default', labelSelector: 'app in (web,nothing)' });
  assert.deepEqual(
    listed.items.map((d) => d.metadata?.name),
    ['web'],
  );
  assert.ok(Number(listed.metadata?.resourceVersion) >= Number(created.metadata?.resourceVersion));
  // A replace carrying the resourceVersion it read succeeds and bumps generation; a stale one is a Conflict.
  const read = await apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });
  read.spec!.replicas = 5;
  const replaced = await apps.replaceNamespacedDeployment({ name: 'web', namespace: 'default', body: read });
  assert.equal(replaced.spec?.replicas, 5);
  assert.equal(replaced.metadata?.generation, 2);
  const stale = await refusal(apps.replaceNamespacedDeployment({ name: 'web', namespace: 'default', body: read }));
  assert.equal(stale.code, 409);
  assert.equal(stale.body.reason, 'Conflict');
  const scale = await apps.readNamespacedDeploymentScale({ name: 'web', namespace: 'default' });
  assert.equal(scale.spec?.replicas, 5);
  assert.equal(scale.status?.selector, 'app=web');
  await apps.replaceNamespacedDeploymentScale({ name: 'web', namespace: 'default', body: { ...scale, spec: { replicas: 1 } } });
  assert.equal(api.get('deployments', 'default', 'web').spec.replicas, 1);
  const status = await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'default', propagationPolicy: 'Foreground' });
  assert.equal(status.status, 'Success');
  const gone = await refusal(apps.readNamespacedDeployment({ name: 'web', namespace: 'default' }));
  assert.equal(gone.code, 404);
  assert.equal(gone.body.message, 'deployments.apps "web" not found');
  assert.deepEqual(keysOf(gone.body), keysOf(fixture('status_404_not_found')), 'a Status in the recorded shape');
});

test('patches: JSON patch (the typed default), merge patch, strategic merge; status is kept off the main resource', async (t) => {
  const api = await fake(t);
  const apps = api.kubeConfig().makeApiClient(AppsV1Api);
  await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web') });
  await apps.patchNamespacedDeployment({ name: 'web', namespace: 'default', body: [{ op: 'replace', path: '/spec/replicas', value: 3 }] });
  assert.equal(api.get('deployments', 'default', 'web').spec.replicas, 3);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  await apps.patchNamespacedDeployment(
    { name: 'web', namespace: 'default', body: { spec: { replicas: 4 }, status: { replicas: 99 } } },
    merge,
  );
  const patched = api.get('deployments', 'default', 'web');
  assert.equal(patched.spec.replicas, 4);
  assert.equal(patched.status.replicas, undefined, 'status changes through the main resource are ignored');
  assert.equal(patched.metadata.generation, 3);
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  await apps.patchNamespacedDeployment({ name: 'web', namespace: 'default', body: { metadata: { labels: { extra: 'yes' } } } }, strategic);
  assert.equal(api.get('deployments', 'default', 'web').metadata.labels.extra, 'yes');
  assert.equal(api.get('deployments', 'default', 'web').metadata.generation, 3, 'a metadata change leaves generation');
  await apps.patchNamespacedDeploymentStatus({ name: 'web', namespace: 'default', body: { status: { replicas: 2 } } }, merge);
  assert.equal(api.get('deployments', 'default', 'web').status.replicas, 2);
  const staleMerge = await refusal(
    apps.patchNamespacedDeployment(
      { name: 'web', namespace: 'default', body: { metadata: { resourceVersion: '1' }, spec: { replicas: 1 } } },
      merge,
    ),
  );
  assert.equal(staleMerge.code, 409);
  const patchRequests = api.requests.filter((r) => r.method === 'PATCH').map((r) => r.contentType);
  assert.deepEqual(patchRequests, [
    'application/json-patch+json',
    'application/merge-patch+json',
    'application/strategic-merge-patch+json',
    'application/merge-patch+json',
    'application/merge-patch+json',
  ]);
});

test('validation as a real API server: label values, selector/template mismatch, immutable selector, wrong types', async (t) => {
  const api = await fake(t);
  const apps = api.kubeConfig().makeApiClient(AppsV1Api);
  const longLabel = await refusal(
    apps.createNamespacedDeployment({ namespace: 'default', body: deployment('a', 1, { app: 'x'.repeat(64) }) }),
  );
  assert.equal(longLabel.code, 422);
  assert.match(longLabel.body.message, /must be no more than 63 characters/);
  const body = deployment('b');
  body.spec!.selector = { matchLabels: { app: 'other' } };
  const mismatch = await refusal(apps.createNamespacedDeployment({ namespace: 'default', body }));
  assert.match(mismatch.body.message, /`selector` does not match template `labels`/);
  const badName = await refusal(apps.createNamespacedDeployment({ namespace: 'default', body: deployment('Bad_Name') }));
  assert.match(badName.body.message, /RFC 1123 subdomain/);
  const typed = await refusal(
    api
      .kubeConfig()
      .makeApiClient(KubernetesObjectApi)
      .create({ ...deployment('c'), spec: { ...deployment('c').spec, replicas: 'three' } } as unknown as KubernetesObject),
  );
  assert.equal(typed.code, 400);
  assert.match(typed.body.message, /replicas must be integer/);
  await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('d') });
  const moved = deployment('d', 2, { app: 'd', more: 'x' });
  const immutable = await refusal(apps.replaceNamespacedDeployment({ name: 'd', namespace: 'default', body: moved }));
  assert.match(immutable.body.message, /spec.selector: Invalid value.*field is immutable/);
  const noNs = await refusal(apps.createNamespacedDeployment({ namespace: 'nowhere', body: deployment('e') }));
  assert.equal(noNs.code, 404);
  assert.equal(noNs.body.message, 'namespaces "nowhere" not found');
});

test('CoreV1Api: secrets from stringData, field selectors on events and pods, pod logs, graceful pod deletion', async (t) => {
  const api = await fake(t, { namespaces: ['ml'] });
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({ namespace: 'ml', body: { metadata: { name: 's' }, stringData: { secret: 'abc' } } });
  const secret = await core.readNamespacedSecret({ name: 's', namespace: 'ml' });
  assert.equal(secret.type, 'Opaque');
  assert.equal(Buffer.from(secret.data?.secret ?? '', 'base64').toString(), 'abc');
  const event = fixture('event_failed_pull');
  delete event.metadata.resourceVersion;
  event.metadata.namespace = 'ml';
  await core.createNamespacedEvent({ namespace: 'ml', body: event });
  const events = await core.listNamespacedEvent({
    namespace: 'ml',
    fieldSelector: 'involvedObject.name=broken-7d9c8b6f5d-qj4lm,type=Warning',
  });
  assert.equal(events.items.length, 1);
  assert.equal(events.items[0]?.reason, 'Failed');
  assert.equal((await core.listNamespacedEvent({ namespace: 'ml', fieldSelector: 'involvedObject.name=other' })).items.length, 0);
  const podBody = {
    metadata: { name: 'p1', labels: { a: 'b' } },
    spec: { nodeName: 'node-1', containers: [{ name: 'model', image: 'm:1' }] },
  };
  await core.createNamespacedPod({ namespace: 'ml', body: podBody });
  assert.equal((await core.listNamespacedPod({ namespace: 'ml', fieldSelector: 'metadata.name=p1' })).items.length, 1);
  assert.equal((await core.listPodForAllNamespaces({ labelSelector: 'a=b' })).items.length, 1);
  const waiting = await refusal(core.readNamespacedPodLog({ name: 'p1', namespace: 'ml', tailLines: 2 }));
  assert.equal(waiting.code, 400);
  assert.match(waiting.body.message, /container "model" in pod "p1" is waiting to start/);
  api.setLogSource((ns, pod) => (ns === 'ml' && pod === 'p1' ? 'one\ntwo\nthree\n' : undefined));
  assert.equal(await core.readNamespacedPodLog({ name: 'p1', namespace: 'ml', tailLines: 2 }), 'two\nthree\n');
  // A pod bound to a node is deleted gracefully: it gets a deletionTimestamp; the kubelet (here: remove) ends it.
  const terminating = await core.deleteNamespacedPod({ name: 'p1', namespace: 'ml' });
  assert.ok(terminating.metadata?.deletionTimestamp);
  assert.ok(api.get('pods', 'ml', 'p1').metadata.deletionTimestamp);
  api.remove('pods', 'ml', 'p1');
  assert.equal(api.get('pods', 'ml', 'p1'), undefined);
});

test('CoordinationV1Api: a Lease replaced with a stale resourceVersion is a 409 Conflict', async (t) => {
  const api = await fake(t);
  const coord = api.kubeConfig().makeApiClient(CoordinationV1Api);
  const now = new Date();
  const lease = await coord.createNamespacedLease({
    namespace: 'default',
    body: {
      metadata: { name: 'clipper-c-manager' },
      spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    },
  });
  const stored = api.get('leases', 'default', 'clipper-c-manager');
  assert.deepEqual(Object.keys(stored.spec).sort(), Object.keys(fixture('lease').spec).sort());
  assert.match(
    stored.spec.renewTime,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
    'stored as MicroTime with microseconds (client-node sends milliseconds)',
  );
  const first = await coord.replaceNamespacedLease({
    name: 'clipper-c-manager',
    namespace: 'default',
    body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } },
  });
  assert.equal(first.spec?.holderIdentity, 'b');
  const second = await refusal(
    coord.replaceNamespacedLease({
      name: 'clipper-c-manager',
      namespace: 'default',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'c' } },
    }),
  );
  assert.equal(second.code, 409);
  assert.match(
    second.body.message,
    /^Operation cannot be fulfilled on leases.coordination.k8s.io "clipper-c-manager": the object has been modified/,
  );
});

test('KubernetesObjectApi: server-side apply creates then merges; merge patch, replace, read, delete; RBAC objects', async (t) => {
  const api = await fake(t);
  const objects = api.kubeConfig().makeApiClient(KubernetesObjectApi);
  const spec = { ...deployment('applied'), metadata: { name: 'applied', namespace: 'default', labels: { app: 'applied' } } };
  const created = await objects.patch(spec, undefined, undefined, 'clipper', true, PatchStrategy.ServerSideApply);
  assert.equal(created.metadata?.name, 'applied');
  const applyWithoutManager = await refusal(objects.patch(spec, undefined, undefined, undefined, true, PatchStrategy.ServerSideApply));
  assert.equal(applyWithoutManager.code, 400);
  await objects.patch(
    { ...spec, spec: { ...spec.spec, replicas: 6 } },
    undefined,
    undefined,
    'clipper',
    true,
    PatchStrategy.ServerSideApply,
  );
  assert.equal(api.get('deployments', 'default', 'applied').spec.replicas, 6);
  await objects.patch(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'applied', namespace: 'default' },
      spec: { replicas: 1 },
    } as KubernetesObject,
    undefined,
    undefined,
    undefined,
    undefined,
    PatchStrategy.MergePatch,
  );
  const read = (await objects.read({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'applied', namespace: 'default' },
  })) as V1Deployment;
  assert.equal(read.spec?.replicas, 1);
  read.spec!.replicas = 2;
  await objects.replace(read);
  assert.equal(api.get('deployments', 'default', 'applied').spec.replicas, 2);
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'clipper-manager', namespace: 'default' },
    rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] }],
  };
  await objects.create(role as KubernetesObject);
  const rbac = api.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  assert.deepEqual((await rbac.readNamespacedRole({ name: 'clipper-manager', namespace: 'default' })).rules?.[0]?.resources, [
    'deployments',
  ]);
  await objects.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'applied', namespace: 'default' } });
  assert.equal(api.objects('deployments').length, 0);
  assert.ok(
    api.requests.some((r) => r.path === '/apis/apps/v1' && r.method === 'GET'),
    'discovery read to map the kind to its URL',
  );
});

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

function pod(name: string, labels: Record<string, string>): Json {
  return { metadata: { name, namespace: 'default', labels }, spec: { containers: [{ name: 'model', image: 'm:1' }] } };
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

test('shapes: a stored Deployment and Pod have the recorded fields and pass the published schemas', async (t) => {
  const api = await fake(t);
  const apps = api.kubeConfig().makeApiClient(AppsV1Api);
  const created = await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web') });
  const recorded = fixture('deployment');
  const createdKeys = new Set(keysOf(created));
  const missing = keysOf({ metadata: recorded.metadata, spec: recorded.spec }).filter(
    (k) => !createdKeys.has(k) && !/annotations|readinessProbe|ports/.test(k),
  );
  assert.deepEqual(missing, [], 'every field of a recorded Deployment (but its annotations and probes) is there');
  const p = api.upsert('pods', pod('p', { a: 'b' }));
  new Pod(p).validate();
  assert.deepEqual(Object.keys(p.metadata).slice(0, 4), ['name', 'namespace', 'uid', 'resourceVersion']);
  const kubeconfig = api.writeKubeconfig();
  assert.match(kubeconfig, /fake-kube-/);
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
