// The frontends (part of manifests.ts): the ConfigMap with their configuration file, the
// Deployment of `--frontends` pods running `clipper start --config`, the query Service (its type as
// asked) and the admin Service, which is ClusterIP only: the management API can start model
// replicas, so it is not reachable from outside the cluster unless someone forwards it.

import { createHash } from 'node:crypto';
import type { KubernetesObject, V1ConfigMap, V1Deployment, V1PodSpec, V1Service } from '@kubernetes/client-node';
import { kReplicaSecretKey } from './deployment_spec.js';
import { kAdminTokenKey } from './manifest_access.js';
import {
  clusterObjectNames,
  componentLabels,
  componentSelector,
  serverImageOf,
  stateUrlOf,
  type ClusterManifestOptions,
} from './manifest_options.js';

export const kQueryPort = 1337;
export const kAdminPort = 1338;
/** Where the frontend pod finds its configuration and secrets. */
export const kConfigDir = '/etc/clipper/config';
export const kConfigFileName = 'config.json';
export const kAdminTokenDir = '/etc/clipper/admin-token';
export const kReplicaSecretDir = '/etc/clipper/replica-secret';
/** The server image's entry point is `node /opt/clipper/bin/clipper.js` (containers/docker/system_images.ts). */
const kServerArgs = ['start', '--config', `${kConfigDir}/${kConfigFileName}`];

/**
 * The frontends' configuration (src/config.ts options): listening on every interface of the pod,
 * the management API behind the token, replicas as Kubernetes Deployments in this namespace, the
 * shared Redis state, and batching threads that fit the pod's CPU limit (the process sees the
 * node's cores, not its limit).
 */
export function frontendConfig(o: ClusterManifestOptions): Record<string, unknown> {
  const names = clusterObjectNames(o.clusterName);
  return {
    host: '0.0.0.0',
    queryPort: kQueryPort,
    adminPort: kAdminPort,
    adminTokenFile: `${kAdminTokenDir}/${kAdminTokenKey}`,
    replicaSecretFile: `${kReplicaSecretDir}/${kReplicaSecretKey}`,
    state: stateUrlOf(o),
    clusterName: o.clusterName,
    batchingThreads: Math.max(1, o.frontendCpus - 1),
    containers: 'kubernetes',
    kubernetesNamespace: o.namespace,
    kubernetesRegistry: o.registry,
    kubernetesImagePullSecrets: [...o.imagePullSecrets],
    kubernetesReplicaSecret: names.replicaSecret,
  };
}

export function frontendObjects(o: ClusterManifestOptions): KubernetesObject[] {
  const names = clusterObjectNames(o.clusterName);
  const labels = componentLabels(o.clusterName, 'frontend');
  const configText = `${JSON.stringify(frontendConfig(o), null, 2)}\n`;
  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names.config, namespace: o.namespace, labels },
    data: { [kConfigFileName]: configText },
  };
  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: names.frontend, namespace: o.namespace, labels },
    spec: {
      replicas: o.frontends,
      selector: { matchLabels: componentSelector(o.clusterName, 'frontend') },
      template: {
        // A changed configuration changes the template, so `apply` rolls the frontends onto it.
        metadata: { labels, annotations: { 'clipper.ai/config-hash': createHash('sha256').update(configText).digest('hex').slice(0, 16) } },
        spec: frontendPodSpec(o),
      },
    },
  };
  return [configMap, deployment, ...frontendServices(o)];
}

function frontendPodSpec(o: ClusterManifestOptions): V1PodSpec {
  const names = clusterObjectNames(o.clusterName);
  const probe = { httpGet: { path: '/healthz', port: 'admin' }, timeoutSeconds: 5 };
  return {
    serviceAccountName: names.serviceAccount,
    // Service links would put variables such as CLIPPER_ADMIN_PORT=tcp://… (from a Service named
    // clipper-admin) in the environment, where `clipper start` reads its options.
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 30,
    ...(o.imagePullSecrets.length > 0 ? { imagePullSecrets: o.imagePullSecrets.map((name) => ({ name })) } : {}),
    affinity: {
      // Frontends on different nodes, where the scheduler can: one node going away leaves the others serving.
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: 'kubernetes.io/hostname',
              labelSelector: { matchLabels: componentSelector(o.clusterName, 'frontend') },
            },
          },
        ],
      },
    },
    containers: [
      {
        name: 'frontend',
        image: serverImageOf(o),
        args: [...kServerArgs],
        ports: [
          { name: 'query', containerPort: kQueryPort, protocol: 'TCP' },
          { name: 'admin', containerPort: kAdminPort, protocol: 'TCP' },
        ],
        // `clipper` admin commands run with `kubectl exec` find the token here.
        env: [{ name: 'CLIPPER_ADMIN_TOKEN_FILE', value: `${kAdminTokenDir}/${kAdminTokenKey}` }],
        readinessProbe: { ...probe, periodSeconds: 5, failureThreshold: 3 },
        livenessProbe: { ...probe, initialDelaySeconds: 15, periodSeconds: 10, failureThreshold: 6 },
        resources: {
          requests: { cpu: String(o.frontendCpus), memory: `${o.frontendMemoryMb}Mi` },
          limits: { cpu: String(o.frontendCpus), memory: `${o.frontendMemoryMb}Mi` },
        },
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
        volumeMounts: [
          { name: 'config', mountPath: kConfigDir, readOnly: true },
          { name: 'admin-token', mountPath: kAdminTokenDir, readOnly: true },
          { name: 'replica-secret', mountPath: kReplicaSecretDir, readOnly: true },
        ],
      },
    ],
    volumes: [
      { name: 'config', configMap: { name: names.config } },
      { name: 'admin-token', secret: { secretName: names.adminToken, defaultMode: 0o400 } },
      { name: 'replica-secret', secret: { secretName: names.replicaSecret, defaultMode: 0o400 } },
    ],
  };
}

function frontendServices(o: ClusterManifestOptions): V1Service[] {
  const names = clusterObjectNames(o.clusterName);
  const labels = componentLabels(o.clusterName, 'frontend');
  const selector = componentSelector(o.clusterName, 'frontend');
  const query: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: names.queryService, namespace: o.namespace, labels },
    spec: {
      type: o.queryServiceType,
      selector,
      ports: [{ name: 'query', port: kQueryPort, targetPort: 'query', protocol: 'TCP' }],
    },
  };
  const admin: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: names.adminService, namespace: o.namespace, labels },
    spec: { type: 'ClusterIP', selector, ports: [{ name: 'admin', port: kAdminPort, targetPort: 'admin', protocol: 'TCP' }] },
  };
  return [query, admin];
}
