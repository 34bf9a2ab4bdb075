// The objects of a Clipper cluster on Kubernetes, as `clipper k8s manifests` prints them and
// `clipper k8s apply` applies them (src/cli/k8s.ts): pure builders, options in, plain objects out.
// The options, names and labels are in manifest_options.ts; the parts beside this file:
// manifest_access.ts (namespace, service account, the manager's Role, Secrets), manifest_frontend.ts
// (ConfigMap, frontend Deployment, query and admin Services), manifest_redis.ts (the in-cluster
// Redis). Model replicas are not here: the leading frontend's container manager makes one
// Deployment per model version (deployment_spec.ts).

import type { KubernetesObject } from '@kubernetes/client-node';
import { accessObjects } from './manifest_access.js';
import { frontendObjects } from './manifest_frontend.js';
import { checkManifestOptions, type ClusterManifestOptions } from './manifest_options.js';
import { redisObjects } from './manifest_redis.js';

/** Every object, in the order they are applied (what others refer to comes first). */
export function clusterManifests(o: ClusterManifestOptions): KubernetesObject[] {
  checkManifestOptions(o);
  return [...accessObjects(o), ...(o.redisUrl === '' ? redisObjects(o) : []), ...frontendObjects(o)];
}
