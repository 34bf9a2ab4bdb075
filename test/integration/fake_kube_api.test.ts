// The fake Kubernetes API server (test/helpers/fake_kube_api.ts) driven through the real
// @kubernetes/client-node, its request verbs: get, list with label and field selectors, create,
// replace with resourceVersion conflicts, patches of every kind, server-side apply, delete, the
// validation a real server does, and the recorded shapes of what it stores. Watches, faults and the
// fake kubelet: fake_kube_watch_faults.test.ts. This is also the proof that the fake is faithful
// enough for the Kubernetes container manager's tests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type KubernetesObject,
  type V1Deployment,
} from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Pod } from 'kubernetes-models/v1/Pod';
import { deployment, fake, keysOf, pod, refusal } from '../helpers/fake_kube_client.js';
import { fixture } from '../helpers/fake_kube_shapes.js';

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
