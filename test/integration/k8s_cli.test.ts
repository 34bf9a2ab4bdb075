// `clipper k8s manifests|apply` through bin/clipper.js, as a user runs them: the printed YAML parses
// back to the cluster's objects; apply stores them in a fake Kubernetes API server
// (test/helpers/fake_kube_api.ts) by server-side apply, reports what it did per object, is
// idempotent (a second run changes nothing and never replaces a Secret), and a refused (403) or
// unreachable API server ends it with a clear message and exit code 1. And the Role it prints
// grants exactly the verbs the Kubernetes container manager uses, no more, no fewer.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { describeKubePath } from '../../src/containers/kubernetes/kube_request.js';
import { KubernetesManager } from '../../src/containers/kubernetes/kubernetes_manager.js';
import { kManagerRules } from '../../src/containers/kubernetes/manifest_access.js';
import { kDefaultManifestOptions } from '../../src/containers/kubernetes/manifest_options.js';
import { clusterManifests } from '../../src/containers/kubernetes/manifests.js';
import { kExamplesDir, kRepoRoot } from '../../src/paths.js';
import type { ModelRecord } from '../../src/state/records.js';
import { waitUntil } from '../helpers/cluster.js';
import { startFakeKubeApi, type FakeKubeApi, type Json } from '../helpers/fake_kube_api.js';
import { nodeRunner, startFakeKubelet } from '../helpers/fake_kubelet.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

function clipper(args: string[]): Promise<ProcessResult> {
  // The developer's own cluster settings must not leak in.
  const base = { ...process.env };
  for (const name of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) delete base[name];
  return runProcess(process.execPath, [path.join(kRepoRoot, 'bin', 'clipper.js'), 'k8s', ...args], { base, timeoutMs: 60_000 });
}

async function fakeApi(t: { after(fn: () => Promise<void>): void }): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi();
  t.after(() => api.close());
  return api;
}

/** Objects without the Secrets' random values, for comparing two printings. */
function withoutSecretData(objects: KubernetesObject[]): unknown {
  return JSON.parse(JSON.stringify(objects), (key, value) => (key === 'data' || key === 'clipper.ai/config-hash' ? undefined : value));
}

test('clipper k8s manifests prints YAML that parses back to the cluster objects', async () => {
  const args = ['--namespace', 'serving', '--create-namespace', '--frontends', '2', '--registry', 'reg.example:5000'];
  const printed = await clipper(['manifests', ...args, '--image-pull-secret', 'regcred', '--query-service-type', 'LoadBalancer']);
  assert.equal(printed.status, 0, printed.stderr);
  const objects = loadAllYaml(printed.stdout) as KubernetesObject[];
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata?.name}`),
    [
      'Namespace/serving',
      'ServiceAccount/clipper-default',
      'Role/clipper-default-manager',
      'RoleBinding/clipper-default-manager',
      'Secret/clipper-default-replica-secret',
      'Secret/clipper-default-admin-token',
      'Deployment/clipper-default-redis',
      'Service/clipper-default-redis',
      'ConfigMap/clipper-default-config',
      'Deployment/clipper-default-frontend',
      'Service/clipper-default-query',
      'Service/clipper-default-admin',
    ],
  );
  const expected = clusterManifests({
    ...kDefaultManifestOptions,
    namespace: 'serving',
    createNamespace: true,
    frontends: 2,
    registry: 'reg.example:5000',
    imagePullSecrets: ['regcred'],
    queryServiceType: 'LoadBalancer',
    serverVersion: (objects[9] as Json).spec.template.spec.containers[0].image.split(':').pop(),
    randomHex: (bytes) => '0'.repeat(2 * bytes),
  });
  assert.deepEqual(withoutSecretData(JSON.parse(JSON.stringify(objects))), withoutSecretData(expected));
  assert.match((objects[9] as Json).spec.template.spec.containers[0].image, /^reg\.example:5000\/clipper-ts\/server:[0-9]/);

  const omitted = await clipper(['manifests', '--omit-secrets', '--redis-url', 'redis://redis.example:6379']);
  assert.equal(omitted.status, 0, omitted.stderr);
  const kinds = (loadAllYaml(omitted.stdout) as KubernetesObject[]).map((o) => o.kind);
  assert.ok(!kinds.includes('Secret') && !kinds.includes('Namespace'), kinds.join());
  assert.equal(kinds.filter((k) => k === 'Deployment').length, 1, 'no Redis with --redis-url');
});

test('clipper k8s manifests refuses bad options with a message naming the flag', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--frontends', '0'], /--frontends must be an integer from 1 to 100 \(got 0\)/],
    [['--frontends', 'two'], /--frontends must be a whole number \(got "two"\)/],
    [['--namespace', 'Team_A'], /--namespace must be an RFC 1123 label/],
    [['--registry', 'http://reg:5000'], /--registry must be HOST\[:PORT\]\[\/PATH\]/],
    [['--kubeconfig', '/nowhere'], /--kubeconfig is for clipper k8s apply/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
  ];
  for (const [args, message] of cases) {
    const run = await clipper(['manifests', ...args]);
    assert.equal(run.status, 1, args.join(' '));
    assert.match(run.stderr, message);
    assert.equal(run.stdout, '', 'nothing printed');
  }
  const unknown = await clipper(['deploy']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /unknown subcommand 'deploy': use manifests or apply/);
});

test('clipper k8s apply stores every object, is idempotent and never replaces a Secret', async (t) => {
  const api = await fakeApi(t);
  const kubeconfig = api.writeKubeconfig();
  const args = ['apply', '--kubeconfig', kubeconfig, '--namespace', 'serving', '--create-namespace', '--frontends', '2'];
  const first = await clipper(args);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^namespace\/serving created$/m);
  assert.match(first.stdout, /^deployment\/clipper-default-frontend created$/m);
  assert.match(first.stdout, /^secret\/clipper-default-replica-secret created$/m);
  assert.match(first.stdout, /port-forward service\/clipper-default-query 1337:1337/);
  assert.match(first.stdout, /port-forward service\/clipper-default-admin 1338:1338/);

  const names = (resource: string) => api.objects(resource, 'serving').map((o) => o.metadata.name);
  assert.deepEqual(names('deployments').sort(), ['clipper-default-frontend', 'clipper-default-redis']);
  assert.deepEqual(names('services').sort(), ['clipper-default-admin', 'clipper-default-query', 'clipper-default-redis']);
  assert.deepEqual(names('secrets').sort(), ['clipper-default-admin-token', 'clipper-default-replica-secret']);
  assert.equal(api.get('deployments', 'serving', 'clipper-default-frontend')?.spec.replicas, 2);
  assert.equal(api.get('services', 'serving', 'clipper-default-admin')?.spec.type, 'ClusterIP');
  assert.deepEqual(api.get('roles', 'serving', 'clipper-default-manager')?.rules, JSON.parse(JSON.stringify(kManagerRules)));
  const config = JSON.parse(api.get('configmaps', 'serving', 'clipper-default-config')?.data['config.json']);
  assert.equal(config.state, 'redis://clipper-default-redis:6379');
  const applies = api.requests.filter((r) => r.method === 'PATCH');
  assert.ok(applies.length >= 9, `server-side apply for each object but the Secrets (${applies.length})`);
  for (const r of applies) {
    assert.equal(r.contentType, 'application/apply-patch+yaml');
    assert.equal(r.query.get('fieldManager'), 'clipper');
  }
  assert.ok(!api.requests.some((r) => r.method === 'PATCH' && r.path.includes('/secrets/')), 'Secrets are created, never applied over');

  const secretsBefore = api.objects('secrets', 'serving');
  const second = await clipper(args);
  assert.equal(second.status, 0, second.stderr);
  const outcomes = second.stdout.split('\n').filter((line) => /^[a-z]+\/\S+ /.test(line));
  assert.equal(outcomes.length, 12, second.stdout);
  for (const line of outcomes) assert.match(line, / unchanged/, line);
  assert.match(second.stdout, /^secret\/clipper-default-admin-token unchanged \(exists; Secrets are never replaced\)$/m);
  assert.deepEqual(api.objects('secrets', 'serving'), secretsBefore, 'the same Secrets, same values');

  const scaled = await clipper([...args.slice(0, -1), '3']);
  assert.equal(scaled.status, 0, scaled.stderr);
  assert.match(scaled.stdout, /^deployment\/clipper-default-frontend configured$/m);
  assert.match(scaled.stdout, /^service\/clipper-default-query unchanged$/m);
  assert.equal(api.get('deployments', 'serving', 'clipper-default-frontend')?.spec.replicas, 3);
});

test('clipper k8s apply refused by RBAC, or with no API server answering, says what and exits 1', async (t) => {
  const api = await fakeApi(t);
  const kubeconfig = api.writeKubeconfig();
  const message = 'roles.rbac.authorization.k8s.io "clipper-default-manager" is forbidden: User "alice" cannot patch resource "roles"';
  api.failRequests({ method: 'PATCH', resource: 'roles' }, 403, 'Forbidden', message, Number.POSITIVE_INFINITY);
  const refused = await clipper(['apply', '--kubeconfig', kubeconfig]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /forbidden: the user of kubeconfig .* may not patch roles in namespace "default"/);
  assert.match(refused.stderr, /User "alice" cannot patch/);
  assert.match(refused.stderr, /ask a cluster administrator/);
  assert.match(refused.stdout, /^serviceaccount\/clipper-default created$/m, 'what came before was applied');
  assert.doesNotMatch(refused.stdout, /deployment\//, 'nothing after the refusal');

  api.failRequests({}, 0, 'unreachable', undefined, Number.POSITIVE_INFINITY);
  const unreachable = await clipper(['apply', '--kubeconfig', kubeconfig]);
  assert.equal(unreachable.status, 1);
  assert.match(unreachable.stderr, new RegExp(`cannot reach the Kubernetes API server at ${api.url.replace(/[.]/g, '\\.')}`));

  const noFile = await clipper(['apply', '--kubeconfig', '/nonexistent/kubeconfig']);
  assert.equal(noFile.status, 1);
  assert.match(noFile.stderr, /the kubeconfig file \/nonexistent\/kubeconfig .* does not exist/);
  const badContext = await clipper(['apply', '--kubeconfig', kubeconfig, '--context', 'elsewhere']);
  assert.equal(badContext.status, 1);
  assert.match(badContext.stderr, /--context elsewhere is not in kubeconfig/);
});

/** What a recorded request did, in RBAC's words: API group, resource (subresource included) and verb. */
function rbacOf(r: { method: string; path: string; query: URLSearchParams }): string {
  const { resource, name } = describeKubePath(r.path);
  const group = r.path.startsWith('/api/') ? '' : r.path.split('/')[2]!;
  const watch = r.query.get('watch') === 'true' || r.query.get('watch') === '1';
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  const verb = r.method === 'GET' ? (watch ? 'watch' : name === '' ? 'list' : 'get') : verbs[r.method]!;
  return `${group}/${resource} ${verb}`;
}

test('the printed Role grants exactly what the Kubernetes manager calls: deploy, scale, replace, logs, a failed deploy, reconcile, remove', async (t) => {
  const api = await fakeApi(t);
  const kubelet = startFakeKubelet(api, { runnerFor: nodeRunner(path.join(kExamplesDir, 'sum_model.mjs')), retryMs: 200 });
  t.after(() => kubelet.close());
  const secretHex = 'ab'.repeat(32);
  api.upsert('secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'clipper-rbac-replica-secret', namespace: 'default' },
    data: { secret: Buffer.from(secretHex).toString('base64') },
  });
  const events = { onReplicaStarted: () => {}, onReplicaStopped: () => {} };
  const options = (identity: string, deployTimeoutMs: number) => ({
    clusterName: 'rbac',
    kubeconfig: '',
    proxyAddr: '',
    namespace: 'default',
    registry: '',
    replicaPort: 7000,
    imagePullSecrets: [],
    deployTimeoutMs,
    replicaSecretName: 'clipper-rbac-replica-secret',
    identity,
    kubeConfig: api.kubeConfig(),
    lease: { leaseDurationS: 5, renewMs: 500, retryMs: 200 },
  });
  const model = (version: string, replicas: number, cpus: number, image = 'registry.local:5000/sum-model:1'): ModelRecord => ({
    model_name: 'sum-model',
    model_version: version,
    input_type: 'doubles',
    labels: [],
    container_name: image,
    model_data_path: '',
    batch_size: -1,
    num_replicas: replicas,
    container: { manager: 'kubernetes', image, cpus, memory_mb: 256 },
  });
  const first = await KubernetesManager.start(events, options('frontend-1', 60_000));
  await waitUntil(() => first.isLeader, 30_000, 'the first frontend to lead');
  await first.ensure(model('1', 1, 0.5)); // create
  await first.ensure(model('1', 2, 0.5)); // scale
  await first.ensure(model('1', 1, 0.25)); // a changed spec: replace
  assert.ok((await first.logs('sum-model', '1', 10)).length >= 1);
  await first.close(); // releases the Lease

  kubelet.failImagePull((image) => image.includes('missing'));
  const second = await KubernetesManager.start(events, options('frontend-2', 2_000));
  t.after(() => second.close());
  await waitUntil(() => second.isLeader, 30_000, 'the second frontend to lead');
  await second.reconcile(new Set(['sum-model:1', 'sum-model:2']));
  await assert.rejects(second.ensure(model('2', 1, 0.5, 'registry.local:5000/missing:2')), /ImagePull|ErrImagePull/);
  await second.reconcile(new Set()); // sum-model:1 is no longer wanted: deleted
  await second.remove('sum-model', '1');

  const used = new Set(api.requests.map(rbacOf));
  const granted = new Set(
    kManagerRules.flatMap((rule) => rule.resources!.flatMap((res) => rule.verbs.map((v) => `${rule.apiGroups![0]}/${res} ${v}`))),
  );
  assert.deepEqual(
    [...used].filter((u) => !granted.has(u)),
    [],
    'every call the manager made is granted',
  );
  assert.deepEqual(
    [...granted].filter((g) => !used.has(g)),
    [],
    'every verb granted is one the manager used',
  );
});
