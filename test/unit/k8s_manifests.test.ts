// The cluster's Kubernetes manifests (src/containers/kubernetes/manifests.ts, `clipper k8s
// manifests`): every object validates offline against the Kubernetes schema (kubernetes-models) for
// several option combinations, names and labels are ones the API server accepts, the manager's Role
// grants exactly the verbs it uses, the admin Service never leaves the cluster, the frontends'
// configuration file is one `clipper start` accepts, and bad options are refused naming the flag.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { manifestsYaml } from '../../src/cli/k8s.js';
import { configFromSources } from '../../src/config_sources.js';
import { deploymentOf, kReplicaSecretKey } from '../../src/containers/kubernetes/deployment_spec.js';
import { frontendConfig } from '../../src/containers/kubernetes/manifest_frontend.js';
import { kDefaultManifestOptions, type ClusterManifestOptions } from '../../src/containers/kubernetes/manifest_options.js';
import { clusterManifests } from '../../src/containers/kubernetes/manifests.js';
import { replicaSelectorOf } from '../../src/containers/kubernetes/labels.js';
import { ClipperError } from '../../src/errors.js';
import type { ModelRecord } from '../../src/state/records.js';

/** Options as the CLI makes them, with a counter for randomness so the objects are reproducible. */
function optionsWith(overrides: Partial<ClusterManifestOptions> = {}): ClusterManifestOptions {
  let n = 0;
  return {
    ...kDefaultManifestOptions,
    serverVersion: '1.2.3',
    randomHex: (bytes) => (++n).toString(16).padStart(2 * bytes, '0'),
    ...overrides,
  };
}

const kModels: Record<string, new (data: never) => { validate(): void }> = {
  Namespace,
  ServiceAccount,
  Role,
  RoleBinding,
  Secret,
  ConfigMap,
  Deployment,
  Service,
};

const kDns1123Label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const kLabelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Schema (kubernetes-models), then what the schema leaves to the API server: names, label values, namespaces. */
function validateObject(obj: KubernetesObject, namespace: string): void {
  const where = `${obj.kind}/${obj.metadata?.name}`;
  const Model = kModels[obj.kind ?? ''];
  assert.ok(Model !== undefined, `${where}: an unexpected kind`);
  const model = new Model(obj as never) as unknown as KubernetesObject & { validate(): void };
  assert.equal(model.apiVersion, obj.apiVersion, `${where}: apiVersion`);
  model.validate();
  assert.match(obj.metadata?.name ?? '', kDns1123Label, `${where}: name`);
  assert.equal(obj.metadata?.namespace, obj.kind === 'Namespace' ? undefined : namespace, `${where}: namespace`);
  const labelSets = [obj.metadata?.labels ?? {}];
  const template = (obj as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec?.template;
  if (template !== undefined) labelSets.push(template.metadata?.labels ?? {});
  for (const labels of labelSets) {
    for (const [key, value] of Object.entries(labels)) {
      assert.match(value, kLabelValue, `${where}: label ${key}`);
      assert.ok(value.length <= 63, `${where}: label ${key} is longer than 63`);
    }
  }
}

// biome-ignore lint/suspicious/noExplicitAny: the built objects as free-form JSON, which the tests index freely
type Loose = any;

function byKindName(objects: KubernetesObject[], kind: string, name: string): Loose {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  assert.ok(found !== undefined, `no ${kind}/${name} among ${objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`);
  return found as Loose;
}

const kCombinations: Array<[string, Partial<ClusterManifestOptions>]> = [
  ['the defaults', {}],
  [
    'a namespace of its own, a registry, pull secrets, 3 frontends behind a load balancer',
    {
      namespace: 'serving',
      createNamespace: true,
      registry: 'registry.example.com:5000/team',
      imagePullSecrets: ['regcred', 'other.cred'],
      frontends: 3,
      frontendCpus: 4,
      frontendMemoryMb: 4096,
      queryServiceType: 'LoadBalancer',
    },
  ],
  [
    'an external Redis, NodePort, no Secrets',
    { redisUrl: 'redis://redis.example:6380', queryServiceType: 'NodePort', includeSecrets: false },
  ],
  ['a 63-character cluster name', { clusterName: `c${'x'.repeat(61)}z`, serverImage: 'mirror.example/clipper:dev', redisImage: 'redis:7' }],
];

test('every object validates against the Kubernetes schema, for each combination of options', () => {
  for (const [what, overrides] of kCombinations) {
    const o = optionsWith(overrides);
    const objects = clusterManifests(o);
    for (const obj of objects) validateObject(obj, o.namespace);
    const kinds = objects.map((obj) => obj.kind);
    assert.equal(kinds.includes('Namespace'), o.createNamespace, `${what}: the Namespace only when asked`);
    assert.equal(kinds.filter((k) => k === 'Secret').length, o.includeSecrets ? 2 : 0, `${what}: Secrets`);
    assert.equal(kinds.filter((k) => k === 'Deployment').length, o.redisUrl === '' ? 2 : 1, `${what}: Redis only without --redis-url`);
    const names = new Set(objects.map((obj) => `${obj.kind}/${obj.metadata?.name}`));
    assert.equal(names.size, objects.length, `${what}: no two objects share a kind and name`);
  }
});

test('the printed YAML parses back to exactly the objects built (no field dropped by the serializer)', () => {
  for (const [, overrides] of kCombinations) {
    const objects = clusterManifests(optionsWith(overrides));
    const parsed = loadAllYaml(manifestsYaml(objects)) as KubernetesObject[];
    assert.deepEqual(JSON.parse(JSON.stringify(parsed)), JSON.parse(JSON.stringify(objects)));
  }
});

test("the manager's Role grants exactly the verbs the manager and its lease use, to its service account", () => {
  const o = optionsWith({ namespace: 'ml' });
  const objects = clusterManifests(o);
  const role = byKindName(objects, 'Role', 'clipper-default-manager');
  assert.deepEqual(role.rules, [
    { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  ]);
  const binding = byKindName(objects, 'RoleBinding', 'clipper-default-manager');
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'clipper-default-manager' });
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'clipper-default', namespace: 'ml' }]);
  const frontend = byKindName(objects, 'Deployment', 'clipper-default-frontend');
  assert.equal(frontend.spec.template.spec.serviceAccountName, 'clipper-default');
  assert.ok(!objects.some((obj) => obj.kind === 'ClusterRole' || obj.kind === 'ClusterRoleBinding'), 'nothing cluster-wide');
});

test('the admin Service is ClusterIP whatever the query Service type; both select the frontend pods', () => {
  for (const queryServiceType of ['ClusterIP', 'NodePort', 'LoadBalancer'] as const) {
    const objects = clusterManifests(optionsWith({ queryServiceType }));
    const admin = byKindName(objects, 'Service', 'clipper-default-admin');
    const query = byKindName(objects, 'Service', 'clipper-default-query');
    assert.equal(admin.spec.type, 'ClusterIP');
    assert.equal(query.spec.type, queryServiceType);
    assert.deepEqual(admin.spec.ports, [{ name: 'admin', port: 1338, targetPort: 'admin', protocol: 'TCP' }]);
    assert.deepEqual(query.spec.ports, [{ name: 'query', port: 1337, targetPort: 'query', protocol: 'TCP' }]);
    const podLabels = byKindName(objects, 'Deployment', 'clipper-default-frontend').spec.template.metadata.labels;
    for (const service of [admin, query]) {
      for (const [key, value] of Object.entries(service.spec.selector as Record<string, string>)) assert.equal(podLabels[key], value);
    }
  }
});

test("the frontends' configuration file is accepted by clipper start and points at the Secrets the pod mounts", () => {
  const o = optionsWith({ registry: 'reg.example:5000', imagePullSecrets: ['regcred'], frontendCpus: 3 });
  const objects = clusterManifests(o);
  const configMap = byKindName(objects, 'ConfigMap', 'clipper-default-config');
  const text = configMap.data['config.json'] as string;
  assert.deepEqual(JSON.parse(text), frontendConfig(o));
  const { config } = configFromSources({ argv: ['--config', 'config.json'], env: {}, readText: () => text });
  assert.equal(config.containers, 'kubernetes');
  assert.equal(config.state, 'redis://clipper-default-redis:6379');
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.batchingThreads, 2, 'one core left to the main thread');
  assert.equal(config.kubernetesRegistry, 'reg.example:5000');
  assert.deepEqual(config.kubernetesImagePullSecrets, ['regcred']);
  assert.equal(config.kubernetesReplicaSecret, 'clipper-default-replica-secret');

  const pod = byKindName(objects, 'Deployment', 'clipper-default-frontend').spec.template.spec;
  assert.equal(pod.enableServiceLinks, false, 'no CLIPPER_* service variables in the environment clipper start reads');
  const container = pod.containers[0];
  assert.equal(container.image, 'reg.example:5000/clipper-ts/server:1.2.3');
  assert.deepEqual(container.args, ['start', '--config', '/etc/clipper/config/config.json']);
  assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
  const mountOf = (volume: string): string => container.volumeMounts.find((m: { name: string }) => m.name === volume).mountPath;
  const volumeOf = (volume: string) => pod.volumes.find((v: { name: string }) => v.name === volume);
  assert.equal(`${mountOf('replica-secret')}/${kReplicaSecretKey}`, config.replicaSecretFile);
  assert.equal(volumeOf('replica-secret').secret.secretName, config.kubernetesReplicaSecret);
  const replicaSecret = byKindName(objects, 'Secret', config.kubernetesReplicaSecret);
  assert.match(Buffer.from(replicaSecret.data[kReplicaSecretKey], 'base64').toString(), /^[0-9a-f]{64}$/, '32 bytes as hex');
  const tokenSecret = byKindName(objects, 'Secret', volumeOf('admin-token').secret.secretName);
  assert.equal(`${mountOf('admin-token')}/token`, config.adminTokenFile);
  assert.ok(tokenSecret.data.token !== replicaSecret.data[kReplicaSecretKey], 'two different random values');
  assert.equal(`${mountOf('config')}/config.json`, container.args[2]);
  assert.equal(volumeOf('config').configMap.name, configMap.metadata?.name);
  assert.equal(container.resources.limits.cpu, '3');
  assert.deepEqual(container.resources.requests, container.resources.limits);
  assert.equal(container.readinessProbe.httpGet.path, '/healthz');
  assert.equal(container.readinessProbe.httpGet.port, 'admin');
});

test('frontend and Redis pods never match the selector of the model replicas the manager watches and deletes', () => {
  const objects = clusterManifests(optionsWith());
  const selector = Object.fromEntries(
    replicaSelectorOf('default')
      .split(',')
      .map((kv) => kv.split('=') as [string, string]),
  );
  for (const obj of objects) {
    const labels = [obj.metadata?.labels ?? {}, (obj as Loose).spec?.template?.metadata?.labels ?? {}];
    for (const set of labels) assert.ok(!Object.entries(selector).every(([k, v]) => set[k] === v), `${obj.kind}/${obj.metadata?.name}`);
  }
  const redis = byKindName(objects, 'Deployment', 'clipper-default-redis');
  assert.equal(redis.spec.strategy.type, 'Recreate', 'never two Redis pods with separate data');
});

test('a changed configuration changes the frontend pod template (apply rolls the frontends)', () => {
  const hashOf = (o: ClusterManifestOptions) =>
    byKindName(clusterManifests(o), 'Deployment', 'clipper-default-frontend').spec.template.metadata.annotations['clipper.ai/config-hash'];
  assert.equal(hashOf(optionsWith()), hashOf(optionsWith()));
  assert.notEqual(hashOf(optionsWith()), hashOf(optionsWith({ redisUrl: 'redis://elsewhere:6379' })));
});

test('bad options are refused with a message naming the flag', () => {
  const refused: Array<[Partial<ClusterManifestOptions>, RegExp]> = [
    [{ namespace: 'Serving' }, /--namespace must be an RFC 1123 label/],
    [{ namespace: 'a_b' }, /--namespace .*"a_b"/],
    [{ namespace: 'x'.repeat(64) }, /--namespace/],
    [{ clusterName: 'My Cluster' }, /--cluster-name must be lower-case/],
    [{ frontends: 0 }, /--frontends must be an integer from 1 to 100 \(got 0\)/],
    [{ frontends: 1.5 }, /--frontends/],
    [{ frontendCpus: 0 }, /--frontend-cpus/],
    [{ frontendMemoryMb: 100 }, /--frontend-memory-mb must be an integer of at least 256/],
    [{ registry: 'https://reg.example:5000' }, /--registry must be HOST\[:PORT\]\[\/PATH\]/],
    [{ registry: 'reg.example:5000/Team' }, /--registry/],
    [{ registry: 'reg.example:5000/img:tag' }, /--registry/],
    [{ redisUrl: 'http://redis:6379' }, /--redis-url must be a redis:\/\/ URL/],
    [{ imagePullSecrets: ['Reg_Cred'] }, /--image-pull-secret must name a Secret/],
    [{ queryServiceType: 'ExternalName' as never }, /--query-service-type must be one of ClusterIP, NodePort, LoadBalancer/],
    [{ serverImage: 'has space:1' }, /--server-image must be an image reference/],
  ];
  for (const [overrides, message] of refused) {
    assert.throws(
      () => clusterManifests(optionsWith(overrides)),
      (err: unknown) => err instanceof ClipperError && err.code === 'CLP_ERR_INVALID_ARG' && message.test(err.message),
      JSON.stringify(overrides),
    );
  }
});

test("the manager's model Deployment (deployment_spec.ts) validates against the schema too", () => {
  const model: ModelRecord = {
    model_name: 'Sum_Model',
    model_version: '1',
    input_type: 'doubles',
    labels: [],
    container_name: 'reg.example:5000/sum-model:1',
    model_data_path: '',
    batch_size: -1,
    num_replicas: 2,
    container: { image: 'reg.example:5000/sum-model:1', cpus: 1, memory_mb: 512 },
  };
  const spec = deploymentOf(model, {
    clusterName: 'default',
    namespace: 'ml',
    registry: '',
    containerPort: 7000,
    imagePullSecrets: ['regcred'],
    replicaSecretName: 'clipper-default-replica-secret',
  });
  validateObject(spec, 'ml');
});
