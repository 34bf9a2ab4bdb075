// Who the frontends are and what they may do (part of manifests.ts): the Namespace (when asked),
// the frontends' ServiceAccount, the manager's Role with only the verbs the Kubernetes container
// manager and its Lease use, the RoleBinding, and the two Secrets (the replicas' shared secret and
// the management API's token), made from fresh random bytes each time they are printed.

import type {
  KubernetesObject,
  V1Namespace,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { kReplicaSecretKey } from './deployment_spec.js';
import { clusterObjectNames, componentLabels, type ClusterManifestOptions } from './manifest_options.js';

/**
 * The manager's rules, verb by verb what src/containers/kubernetes/ calls: Deployments (one per
 * model version: read, list this cluster's, create, replace, scale by patch, delete;
 * deployment_writer.ts), pods (listed and watched for the replicas' addresses and readiness,
 * watch_cache.ts) and their logs (`clipper logs`), events (a failed deploy's reasons), and the
 * Lease that elects the one frontend that writes Deployments (leader_lease.ts: get, create, update).
 */
export const kManagerRules: readonly V1PolicyRule[] = Object.freeze([
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['list'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
]);

/** The admin token Secret's key (the replica secret's is deployment_spec.ts's kReplicaSecretKey): the frontends mount both. */
export const kAdminTokenKey = 'token';
/** 32 bytes: what src/rpc/replica_auth.ts requires at least; the admin token is as long. */
const kSecretBytes = 32;

function meta(o: ClusterManifestOptions, name: string) {
  return { name, namespace: o.namespace, labels: componentLabels(o.clusterName, 'frontend') };
}

export function accessObjects(o: ClusterManifestOptions): KubernetesObject[] {
  const names = clusterObjectNames(o.clusterName);
  const out: KubernetesObject[] = [];
  if (o.createNamespace) {
    const ns: V1Namespace = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: o.namespace, labels: { 'app.kubernetes.io/managed-by': 'clipper' } },
    };
    out.push(ns);
  }
  const account: V1ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(o, names.serviceAccount) };
  const role: V1Role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(o, names.role),
    rules: kManagerRules.map((rule) => ({ ...rule })),
  };
  const binding: V1RoleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(o, names.role),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.role },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: o.namespace }],
  };
  out.push(account, role, binding);
  if (o.includeSecrets) out.push(...secretObjects(o));
  return out;
}

/** The replica secret and the admin token, fresh random hex (apply makes them only when absent). */
export function secretObjects(o: ClusterManifestOptions): V1Secret[] {
  const names = clusterObjectNames(o.clusterName);
  const secret = (name: string, key: string): V1Secret => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(o, name),
    type: 'Opaque',
    data: { [key]: Buffer.from(o.randomHex(kSecretBytes)).toString('base64') },
  });
  return [secret(names.replicaSecret, kReplicaSecretKey), secret(names.adminToken, kAdminTokenKey)];
}
