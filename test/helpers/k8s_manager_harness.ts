// A Kubernetes container manager (src/containers/kubernetes/kubernetes_manager.ts) against the fake
// API server and, optionally, the fake kubelet running a Node fixture model per pod on 127.x.y.z: the
// setup the manager and fault tests share, with the replica events recorded and everything stopped
// after the test.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { ReplicaEndpoint } from '../../src/containers/container_manager.js';
import { KubernetesManager, type KubernetesManagerOptions } from '../../src/containers/kubernetes/kubernetes_manager.js';
import { ClipperError } from '../../src/errors.js';
import type { ModelRecord } from '../../src/state/records.js';
import { kFixtureModels } from './cluster.js';
import { type FakeKubeApi, startFakeKubeApi } from './fake_kube_api.js';
import { type FakeKubelet, nodeRunner, startFakeKubelet } from './fake_kubelet.js';

export interface ReplicaEvent {
  kind: 'started' | 'stopped';
  endpoint: ReplicaEndpoint;
  reason?: string;
}

export interface ManagerUnderTest {
  manager: KubernetesManager;
  events: ReplicaEvent[];
  log: string[];
}

/** A port for the replicas of one test: distinct per process, so tests running beside each other do not meet. */
export function testReplicaPort(): number {
  return 20_000 + (process.pid % 20_000) + Math.floor(Math.random() * 500);
}

/** The first pod IP of a test: 127.<b>.<c>.2 for a fresh b.c, so concurrent tests use other addresses. */
export function testFirstIp(): number {
  const block = 16 + Math.floor(Math.random() * 200);
  return (block << 16) + ((process.pid % 250) << 8) + 2;
}

/** How long a test waits for a condition (with waitUntil of test/helpers/cluster.ts): a bound, not a speed assertion. */
export const kBoundMs = 20_000;
export const kTestCluster = 'k8stest';
export const kTestRegistry = 'registry.test:5000';
export const kSecretName = `clipper-${kTestCluster}-replica-secret`;

export async function startApi(t: TestContext): Promise<{ api: FakeKubeApi; secretHex: string }> {
  const api = await startFakeKubeApi();
  t.after(() => api.close());
  const secretHex = randomBytes(32).toString('hex');
  api.upsert('secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: kSecretName, namespace: 'default' },
    type: 'Opaque',
    data: { secret: Buffer.from(secretHex).toString('base64') },
  });
  return { api, secretHex };
}

export function startKubelet(t: TestContext, api: FakeKubeApi, model = 'behaviour_model.mjs'): FakeKubelet {
  const kubelet = startFakeKubelet(api, {
    runnerFor: nodeRunner(path.join(kFixtureModels, model)),
    firstIp: testFirstIp(),
    restartDelayMs: 200,
    retryMs: 200,
  });
  t.after(() => kubelet.close());
  return kubelet;
}

export async function startManager(
  t: TestContext,
  api: FakeKubeApi,
  options: Partial<KubernetesManagerOptions> = {},
): Promise<ManagerUnderTest> {
  const events: ReplicaEvent[] = [];
  const log: string[] = [];
  const manager = await KubernetesManager.start(
    {
      onReplicaStarted: (endpoint) => events.push({ kind: 'started', endpoint }),
      onReplicaStopped: (endpoint, reason) => events.push({ kind: 'stopped', endpoint, reason }),
    },
    {
      clusterName: kTestCluster,
      kubeconfig: '',
      proxyAddr: '',
      namespace: '',
      registry: kTestRegistry,
      replicaPort: testReplicaPort(),
      imagePullSecrets: ['regcred'],
      deployTimeoutMs: 20_000,
      replicaSecretName: '',
      identity: 'frontend-a',
      kubeConfig: api.kubeConfig(),
      lease: { leaseDurationS: 2, renewMs: 400, retryMs: 200 },
      watch: { backoffMsMin: 50, backoffMsMax: 500 },
      requestTimeoutMs: 5000,
      log: (line) => log.push(line),
      ...options,
    },
  );
  t.after(() => manager.close());
  return { manager, events, log };
}

export function modelRecord(name: string, version: string, numReplicas: number, extra: Partial<ModelRecord> = {}): ModelRecord {
  return {
    model_name: name,
    model_version: version,
    input_type: 'doubles',
    labels: [],
    container_name: `${name}:${version}`,
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    container: { manager: 'kubernetes' },
    num_replicas: numReplicas,
    ...extra,
  };
}

/** An assert.rejects check: a CLP_ERR_DEPLOY_FAILED whose message matches `pattern`. */
export function deployFailed(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.code, 'CLP_ERR_DEPLOY_FAILED', err.message);
    assert.match(err.message, pattern);
    return true;
  };
}
