// The options of the cluster's manifests (manifests.ts) and what every part shares: the objects'
// names, labels and images, and the checks that refuse a bad option with a message naming its flag.

import { ClipperError } from '../../errors.js';
import { commonLabels, dnsName, kDns1123Label, kDns1123Subdomain, kLabelCluster, kLabelComponent, labelValue } from './labels.js';

export const kQueryServiceTypes = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;
export type QueryServiceType = (typeof kQueryServiceTypes)[number];

/** Everything the manifests depend on; `checkManifestOptions` refuses bad values with messages naming the flag. */
export interface ClusterManifestOptions {
  /** The cluster's name (config.clusterName): key namespace in Redis, label on every replica. */
  clusterName: string;
  namespace: string;
  /** Also make the Namespace object. */
  createNamespace: boolean;
  /** Where `clipper build --registry` and the system images were pushed ('' = images the nodes already have). */
  registry: string;
  /** The server image's tag (the package version, as `clipper docker-images` tags it). */
  serverVersion: string;
  /** Overrides `<registry>/clipper-ts/server:<serverVersion>` ('' = that). */
  serverImage: string;
  /** Overrides `<registry>/clipper-ts/redis:local` ('' = that). */
  redisImage: string;
  /** An external Redis (redis://…); '' runs one in the cluster. */
  redisUrl: string;
  /** Frontend replicas (pods); they share the Redis state, one of them (the Lease holder) writes Deployments. */
  frontends: number;
  /** CPU cores (requests = limits) of one frontend pod; it runs cpus − 1 batching threads, at least 1. */
  frontendCpus: number;
  frontendMemoryMb: number;
  /** Secrets (docker-registry) every pod pulls its images with: frontends, Redis and model replicas. */
  imagePullSecrets: string[];
  queryServiceType: QueryServiceType;
  /** Include the Secrets (replica secret, admin token); false to re-apply the rest without rotating them. */
  includeSecrets: boolean;
  /** `bytes` random bytes as hex (injected: tests pass a seeded source). */
  randomHex(bytes: number): string;
}

export const kDefaultManifestOptions: Readonly<Omit<ClusterManifestOptions, 'serverVersion' | 'randomHex'>> = Object.freeze({
  clusterName: 'default',
  namespace: 'default',
  createNamespace: false,
  registry: '',
  serverImage: '',
  redisImage: '',
  redisUrl: '',
  frontends: 1,
  frontendCpus: 2,
  frontendMemoryMb: 2048,
  imagePullSecrets: [],
  queryServiceType: 'ClusterIP',
  includeSecrets: true,
});

/** The names of the cluster's objects (RFC 1123 labels, shortened with a hash when long). */
export interface ClusterObjectNames {
  serviceAccount: string;
  role: string;
  config: string;
  replicaSecret: string;
  adminToken: string;
  redis: string;
  frontend: string;
  queryService: string;
  adminService: string;
}

export function clusterObjectNames(clusterName: string): ClusterObjectNames {
  return {
    serviceAccount: dnsName('clipper', clusterName),
    role: dnsName('clipper', clusterName, 'manager'),
    config: dnsName('clipper', clusterName, 'config'),
    replicaSecret: dnsName('clipper', clusterName, 'replica-secret'),
    adminToken: dnsName('clipper', clusterName, 'admin-token'),
    redis: dnsName('clipper', clusterName, 'redis'),
    frontend: dnsName('clipper', clusterName, 'frontend'),
    queryService: dnsName('clipper', clusterName, 'query'),
    adminService: dnsName('clipper', clusterName, 'admin'),
  };
}

/** What the frontend, Redis and access objects carry (labels.ts: the cluster, the component, clipper's). */
export function componentLabels(clusterName: string, component: 'frontend' | 'redis'): Record<string, string> {
  return commonLabels(clusterName, component);
}

/**
 * The selector of a component's pods: the cluster and the component, never the model-replica
 * component the manager selects (labels.ts replicaSelectorOf), so it never touches these.
 */
export function componentSelector(clusterName: string, component: 'frontend' | 'redis'): Record<string, string> {
  return { [kLabelCluster]: labelValue(clusterName), [kLabelComponent]: component };
}

/** The server image, `<registry>/clipper-ts/server:<version>`, unless overridden. */
export function serverImageOf(o: Pick<ClusterManifestOptions, 'registry' | 'serverImage' | 'serverVersion'>): string {
  return o.serverImage !== '' ? o.serverImage : withRegistry(o.registry, `clipper-ts/server:${o.serverVersion}`);
}

export function redisImageOf(o: Pick<ClusterManifestOptions, 'registry' | 'redisImage'>): string {
  return o.redisImage !== '' ? o.redisImage : withRegistry(o.registry, 'clipper-ts/redis:local');
}

function withRegistry(registry: string, image: string): string {
  return registry === '' ? image : `${registry}/${image}`;
}

/** The state store URL the frontends use: the external one, else the in-cluster Redis Service. */
export function stateUrlOf(o: Pick<ClusterManifestOptions, 'redisUrl' | 'clusterName'>): string {
  return o.redisUrl !== '' ? o.redisUrl : `redis://${clusterObjectNames(o.clusterName).redis}:6379`;
}

/** HOST[:PORT][/PATH]: a registry as `docker push` takes it, without a scheme, tag or trailing slash. */
const kRegistry = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
/** An image reference NAME[:TAG][@DIGEST], loosely: no spaces, no scheme. */
const kImage = /^[A-Za-z0-9][A-Za-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$/;

function refuse(message: string): never {
  throw new ClipperError('CLP_ERR_INVALID_ARG', message);
}

/** Refuses options that would make objects the API server rejects, or a cluster that cannot work. */
export function checkManifestOptions(o: ClusterManifestOptions): void {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(o.clusterName)) {
    refuse(
      `--cluster-name must be lower-case letters, digits and '-', starting with a letter or digit, at most 63 (got ${JSON.stringify(o.clusterName)})`,
    );
  }
  if (!kDns1123Label.test(o.namespace)) {
    refuse(
      `--namespace must be an RFC 1123 label: lower-case letters, digits and '-', at most 63, alphanumeric at both ends (got ${JSON.stringify(o.namespace)})`,
    );
  }
  if (o.registry !== '' && (!kRegistry.test(o.registry) || o.registry.includes('://'))) {
    refuse(
      `--registry must be HOST[:PORT][/PATH] as given to \`clipper build --registry\`, without a scheme or tag (got ${JSON.stringify(o.registry)})`,
    );
  }
  for (const [flag, image] of [
    ['--server-image', o.serverImage],
    ['--redis-image', o.redisImage],
  ] as const) {
    if (image !== '' && !kImage.test(image))
      refuse(`${flag} must be an image reference such as registry:5000/clipper-ts/server:1.0.0 (got ${JSON.stringify(image)})`);
  }
  if (o.redisUrl !== '' && !/^redis:\/\/[^/\s]+/.test(o.redisUrl)) {
    refuse(`--redis-url must be a redis:// URL such as redis://redis.example:6379 (got ${JSON.stringify(o.redisUrl)})`);
  }
  if (!Number.isInteger(o.frontends) || o.frontends < 1 || o.frontends > 100) {
    refuse(`--frontends must be an integer from 1 to 100 (got ${o.frontends})`);
  }
  if (!Number.isInteger(o.frontendCpus) || o.frontendCpus < 1 || o.frontendCpus > 256) {
    refuse(`--frontend-cpus must be an integer from 1 to 256 (got ${o.frontendCpus})`);
  }
  if (!Number.isInteger(o.frontendMemoryMb) || o.frontendMemoryMb < 256) {
    refuse(`--frontend-memory-mb must be an integer of at least 256 (got ${o.frontendMemoryMb})`);
  }
  for (const secret of o.imagePullSecrets) {
    if (!kDns1123Subdomain.test(secret)) {
      refuse(`--image-pull-secret must name a Secret (RFC 1123: lower-case letters, digits, '-' and '.') (got ${JSON.stringify(secret)})`);
    }
  }
  if (!(kQueryServiceTypes as readonly string[]).includes(o.queryServiceType)) {
    refuse(`--query-service-type must be one of ${kQueryServiceTypes.join(', ')} (got ${JSON.stringify(o.queryServiceType)})`);
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(o.serverVersion))
    refuse(`the server version must be an image tag (got ${JSON.stringify(o.serverVersion)})`);
}
