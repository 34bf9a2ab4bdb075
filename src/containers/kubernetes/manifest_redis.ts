// The in-cluster Redis that holds the cluster's state (apps, models, links) for every frontend
// (part of manifests.ts; left out with --redis-url). One pod, replaced rather than doubled on an
// update (strategy Recreate), its append-only file on an emptyDir: the state survives a restart of
// the container, not the pod's deletion; a durable state wants an external Redis (--redis-url).

import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import { clusterObjectNames, componentLabels, componentSelector, redisImageOf, type ClusterManifestOptions } from './manifest_options.js';

export const kRedisPort = 6379;

export function redisObjects(o: ClusterManifestOptions): KubernetesObject[] {
  const names = clusterObjectNames(o.clusterName);
  const labels = componentLabels(o.clusterName, 'redis');
  const selector = componentSelector(o.clusterName, 'redis');
  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: names.redis, namespace: o.namespace, labels },
    spec: {
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          enableServiceLinks: false,
          ...(o.imagePullSecrets.length > 0 ? { imagePullSecrets: o.imagePullSecrets.map((name) => ({ name })) } : {}),
          containers: [
            {
              name: 'redis',
              image: redisImageOf(o),
              // Arguments only: clipper-ts/redis's entry point is redis-server, and the official
              // redis image passes arguments that start with '--' to it as well.
              args: [
                '--bind',
                '0.0.0.0',
                '--port',
                String(kRedisPort),
                '--protected-mode',
                'no',
                '--dir',
                '/data',
                '--appendonly',
                'yes',
                '--save',
                '',
              ],
              ports: [{ name: 'redis', containerPort: kRedisPort, protocol: 'TCP' }],
              readinessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 5 },
              livenessProbe: { tcpSocket: { port: 'redis' }, initialDelaySeconds: 10, periodSeconds: 10 },
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  };
  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: names.redis, namespace: o.namespace, labels },
    spec: { type: 'ClusterIP', selector, ports: [{ name: 'redis', port: kRedisPort, targetPort: 'redis', protocol: 'TCP' }] },
  };
  return [deployment, service];
}
