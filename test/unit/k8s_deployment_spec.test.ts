// The Deployment of a model version (src/containers/kubernetes/deployment_spec.ts): the exact object,
// valid against the Kubernetes schema (kubernetes-models, offline), its image rule and its spec hash.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { deploymentOf, imageOf, type KubeDeployOptions, specHashOf } from '../../src/containers/kubernetes/deployment_spec.js';
import { ClipperError } from '../../src/errors.js';
import type { ModelRecord } from '../../src/state/records.js';

const kOptions: KubeDeployOptions = {
  clusterName: 'prod',
  namespace: 'ml',
  registry: 'registry.example.com:5000',
  containerPort: 7000,
  imagePullSecrets: ['regcred'],
  replicaSecretName: 'clipper-prod-replica-secret',
};

function model(extra: Partial<ModelRecord> = {}): ModelRecord {
  return {
    model_name: 'sum-model',
    model_version: '1',
    input_type: 'doubles',
    labels: [],
    container_name: 'sum-model:1',
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    container: { manager: 'kubernetes', cpus: 0.5, memory_mb: 256 },
    num_replicas: 3,
    ...extra,
  };
}

test('the Deployment of a model version, field by field, and valid for the API server', () => {
  const d = deploymentOf(model(), kOptions);
  const hash = specHashOf(model(), kOptions);
  assert.match(hash, /^[0-9a-f]{16}$/);
  const selector = {
    'clipper.ai/cluster': 'prod',
    'app.kubernetes.io/component': 'model-replica',
    'clipper.ai/model': 'sum-model',
    'clipper.ai/version': '1',
  };
  const labels = { ...selector, 'app.kubernetes.io/managed-by': 'clipper', 'app.kubernetes.io/part-of': 'clipper-prod' };
  const annotations = { 'clipper.ai/model-name': 'sum-model', 'clipper.ai/model-version': '1' };
  assert.deepEqual(d, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'clipper-prod-sum-model-1', namespace: 'ml', labels, annotations },
    spec: {
      replicas: 3,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...labels, 'clipper.ai/spec': hash }, annotations },
        spec: {
          containers: [
            {
              name: 'model',
              image: 'registry.example.com:5000/sum-model:1',
              ports: [{ name: 'clipper', containerPort: 7000, protocol: 'TCP' }],
              env: [
                { name: 'CLIPPER_MODEL_NAME', value: 'sum-model' },
                { name: 'CLIPPER_MODEL_VERSION', value: '1' },
                { name: 'CLIPPER_INPUT_TYPE', value: 'doubles' },
                { name: 'CLIPPER_REPLICA_SECRET', valueFrom: { secretKeyRef: { name: 'clipper-prod-replica-secret', key: 'secret' } } },
              ],
              readinessProbe: { tcpSocket: { port: 7000 }, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2 },
              livenessProbe: {
                exec: {
                  command: [
                    '/bin/sh',
                    '-c',
                    'if [ -e /tmp/clipper_hc ]; then [ /tmp/clipper_alive -nt /tmp/clipper_hc ]; else [ -e /tmp/clipper_alive ]; fi; r=$?; : > /tmp/clipper_hc; exit $r',
                  ],
                },
                initialDelaySeconds: 30,
                periodSeconds: 5,
                timeoutSeconds: 2,
                failureThreshold: 3,
              },
              resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
            },
          ],
          imagePullSecrets: [{ name: 'regcred' }],
          terminationGracePeriodSeconds: 10,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
        },
      },
    },
  });
  new Deployment(d as never).validate();
});

test('an image named by the model runs as it is; without replica auth the pods get no secret', () => {
  const m = model({ container: { manager: 'kubernetes', image: 'ghcr.io/acme/sum:2' }, num_replicas: 1 });
  const d = deploymentOf(m, { ...kOptions, replicaSecretName: null, imagePullSecrets: [] });
  const container = d.spec!.template.spec!.containers[0]!;
  assert.equal(container.image, 'ghcr.io/acme/sum:2');
  assert.equal(container.resources, undefined);
  assert.deepEqual(
    container.env!.map((e) => e.name),
    ['CLIPPER_MODEL_NAME', 'CLIPPER_MODEL_VERSION', 'CLIPPER_INPUT_TYPE'],
  );
  assert.equal(d.spec!.template.spec!.imagePullSecrets, undefined);
  new Deployment(d as never).validate();
});

test('a model with neither an image nor a registry is refused, saying how to build and push one', () => {
  assert.throws(
    () => imageOf(model(), { registry: '' }),
    (err: unknown) =>
      err instanceof ClipperError &&
      err.code === 'CLP_ERR_INVALID_ARG' &&
      /sum-model:1 names no container.image/.test(err.message) &&
      /clipper build --name sum-model --version 1 --registry HOST:PORT/.test(err.message) &&
      /--kubernetes-registry/.test(err.message),
  );
  assert.equal(imageOf(model(), { registry: 'localhost:5000/' }), 'localhost:5000/sum-model:1');
});

test('the spec hash follows the pod template, not the replica count', () => {
  const base = specHashOf(model(), kOptions);
  assert.equal(specHashOf(model({ num_replicas: 7 }), kOptions), base);
  assert.notEqual(specHashOf(model({ container: { manager: 'kubernetes', cpus: 1 } }), kOptions), base);
  assert.notEqual(specHashOf(model(), { ...kOptions, registry: 'other:5000' }), base);
  assert.notEqual(specHashOf(model(), { ...kOptions, containerPort: 7001 }), base);
});

test('names that are not valid label values still give a valid Deployment', () => {
  const m = model({ model_version: 'V1.0+build/7' as string });
  const d = deploymentOf(m, { ...kOptions, registry: 'r:5000' });
  new Deployment(d as never).validate();
  assert.equal(d.metadata!.annotations!['clipper.ai/model-version'], 'V1.0+build/7');
  assert.match(d.metadata!.name!, /^clipper-prod-sum-model-v1-0-build-7-[0-9a-f]{8}$/);
});
