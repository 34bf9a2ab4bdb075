// `clipper k8s manifests|apply`: a Clipper cluster on Kubernetes (docs/kubernetes.md).
//   manifests  prints the cluster's objects as multi-document YAML (for `kubectl apply -f -`):
//              ServiceAccount, the manager's Role and RoleBinding, the Secrets, the ConfigMap,
//              Redis (unless --redis-url), the frontends and their query and admin Services;
//   apply      applies the same objects through the API (server-side apply; Secrets only when
//              absent) and says how to reach the frontend.
// The objects are built by src/containers/kubernetes/manifests.ts; applying them by manifest_apply.ts.

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { dumpYaml, type KubernetesObject, type V1Service } from '@kubernetes/client-node';
import { configFromSources } from '../config_sources.js';
import { packageVersion } from '../containers/docker/system_images.js';
import { loadKubeConfig, type LoadedKubeConfig } from '../containers/kubernetes/kube_config.js';
import { kubeRequestJson } from '../containers/kubernetes/kube_request.js';
import { applyObjects, objectPath, objectRef, type AppliedObject } from '../containers/kubernetes/manifest_apply.js';
import { frontendConfig, kAdminPort, kQueryPort } from '../containers/kubernetes/manifest_frontend.js';
import {
  checkManifestOptions,
  clusterObjectNames,
  kDefaultManifestOptions,
  type ClusterManifestOptions,
  type QueryServiceType,
} from '../containers/kubernetes/manifest_options.js';
import { clusterManifests } from '../containers/kubernetes/manifests.js';
import { ClipperError } from '../errors.js';

export const kK8sUsage = `  k8s       a cluster on Kubernetes (docs/kubernetes.md)
            k8s manifests  print the YAML of the cluster's objects (pipe it to kubectl apply -f -)
            k8s apply      apply them through the Kubernetes API (Secrets only made when absent)
            [--namespace N] [--create-namespace] [--cluster-name C] [--registry HOST[:PORT][/PATH]]
            [--frontends K (default 1)] [--redis-url redis://… (else Redis runs in the cluster)]
            [--image-pull-secret S ...] [--query-service-type ClusterIP|NodePort|LoadBalancer (default ClusterIP)]
            [--server-image IMAGE] [--redis-image IMAGE] [--frontend-cpus N (2)] [--frontend-memory-mb MB (2048)]
            [--omit-secrets (leave the Secrets out)]
            apply also takes: [--kubeconfig FILE | --kubernetes-proxy-addr HOST:PORT] [--context NAME]
`;

const kOptions = {
  namespace: { type: 'string' },
  'create-namespace': { type: 'boolean' },
  'cluster-name': { type: 'string' },
  registry: { type: 'string' },
  frontends: { type: 'string' },
  'redis-url': { type: 'string' },
  'image-pull-secret': { type: 'string', multiple: true },
  'query-service-type': { type: 'string' },
  'server-image': { type: 'string' },
  'redis-image': { type: 'string' },
  'frontend-cpus': { type: 'string' },
  'frontend-memory-mb': { type: 'string' },
  'omit-secrets': { type: 'boolean' },
  kubeconfig: { type: 'string' },
  'kubernetes-proxy-addr': { type: 'string' },
  context: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseK8sArgs(args: string[]) {
  return parseArgs({ args, options: kOptions, strict: true, allowPositionals: true });
}

type K8sValues = ReturnType<typeof parseK8sArgs>['values'];

function refuse(message: string): never {
  throw new ClipperError('CLP_ERR_INVALID_ARG', message);
}

function intFlag(values: K8sValues, flag: 'frontends' | 'frontend-cpus' | 'frontend-memory-mb', fallback: number): number {
  const text = values[flag];
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text.trim())) refuse(`--${flag} must be a whole number (got ${JSON.stringify(text)})`);
  return Number(text.trim());
}

/** The manifests' options from the flags; `namespace` when --namespace is not given. */
export function manifestOptionsOf(values: K8sValues, namespace: string, serverVersion: string): ClusterManifestOptions {
  const d = kDefaultManifestOptions;
  const o: ClusterManifestOptions = {
    clusterName: values['cluster-name'] ?? d.clusterName,
    namespace: values.namespace ?? namespace,
    createNamespace: values['create-namespace'] === true,
    registry: (values.registry ?? d.registry).replace(/\/+$/, ''),
    serverVersion,
    serverImage: values['server-image'] ?? d.serverImage,
    redisImage: values['redis-image'] ?? d.redisImage,
    redisUrl: values['redis-url'] ?? d.redisUrl,
    frontends: intFlag(values, 'frontends', d.frontends),
    frontendCpus: intFlag(values, 'frontend-cpus', d.frontendCpus),
    frontendMemoryMb: intFlag(values, 'frontend-memory-mb', d.frontendMemoryMb),
    imagePullSecrets: values['image-pull-secret'] ?? [],
    queryServiceType: (values['query-service-type'] ?? d.queryServiceType) as QueryServiceType,
    includeSecrets: values['omit-secrets'] !== true,
    randomHex: (bytes) => randomBytes(bytes).toString('hex'),
  };
  checkManifestOptions(o);
  checkFrontendConfig(o);
  return o;
}

/** The ConfigMap's file must be one `clipper start --config` accepts: checked here, not when the pods start. */
function checkFrontendConfig(o: ClusterManifestOptions): void {
  const text = JSON.stringify(frontendConfig(o));
  try {
    configFromSources({ argv: ['--config', 'config.json'], env: {}, readText: () => text });
  } catch (err) {
    refuse(`the frontends' configuration would be refused: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function runK8s(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(`usage: clipper k8s manifests|apply [options]\n${kK8sUsage}`);
    return sub === undefined ? 1 : 0;
  }
  if (sub !== 'manifests' && sub !== 'apply') refuse(`clipper k8s: unknown subcommand '${sub}': use manifests or apply`);
  const { values, positionals } = parseK8sArgs(rest);
  if (positionals.length > 0) refuse(`clipper k8s ${sub}: unexpected argument '${positionals[0]}'`);
  if (values.help === true) {
    process.stdout.write(`usage: clipper k8s ${sub} [options]\n${kK8sUsage}`);
    return 0;
  }
  const version = await packageVersion();
  if (sub === 'manifests') {
    for (const flag of ['kubeconfig', 'kubernetes-proxy-addr', 'context'] as const) {
      if (values[flag] !== undefined) refuse(`--${flag} is for clipper k8s apply; manifests only prints`);
    }
    process.stdout.write(manifestsYaml(clusterManifests(manifestOptionsOf(values, 'default', version))));
    return 0;
  }
  return apply(values, version);
}

/** Multi-document YAML, a comment first saying what the Secrets mean for a re-apply. */
export function manifestsYaml(objects: readonly KubernetesObject[]): string {
  const header =
    '# Made by `clipper k8s manifests`. The Secrets hold fresh random values: apply them once. Applying this\n' +
    '# output again replaces them and the frontends and model replicas stop agreeing; re-apply with\n' +
    '# --omit-secrets, or use `clipper k8s apply`, which never replaces an existing Secret.\n';
  return header + objects.map((obj) => `---\n${dumpYaml(obj, { lineWidth: -1, noRefs: true })}`).join('');
}

/** The kubeconfig the flags select, with --context applied. */
function kubeConfigOf(values: K8sValues): LoadedKubeConfig {
  const loaded = loadKubeConfig({
    kubeconfig: values.kubeconfig ?? '',
    proxyAddr: values['kubernetes-proxy-addr'] ?? '',
    env: process.env,
  });
  const contextName = values.context;
  if (contextName === undefined) return loaded;
  const context = loaded.kubeConfig.getContextObject(contextName);
  if (context === null) {
    const known = loaded.kubeConfig.getContexts().map((c) => c.name);
    refuse(`--context ${contextName} is not in ${loaded.source} (contexts: ${known.join(', ') || 'none'})`);
  }
  loaded.kubeConfig.setCurrentContext(contextName);
  const server = loaded.kubeConfig.getCurrentCluster()?.server ?? '';
  if (server === '') refuse(`--context ${contextName} in ${loaded.source} names no cluster with a server address`);
  return { ...loaded, namespace: context.namespace ?? 'default', server };
}

async function apply(values: K8sValues, version: string): Promise<number> {
  const loaded = kubeConfigOf(values);
  const o = manifestOptionsOf(values, loaded.namespace, version);
  process.stdout.write(`clipper: applying cluster ${o.clusterName} to namespace ${o.namespace} at ${loaded.server} (${loaded.source})\n`);
  await applyObjects(clusterManifests(o), {
    kubeConfig: loaded.kubeConfig,
    source: loaded.source,
    onApplied: (a: AppliedObject) => process.stdout.write(`${objectRef(a)} ${outcomeText(a)}\n`),
  });
  process.stdout.write(await howToReach(o, loaded));
  return 0;
}

function outcomeText(a: AppliedObject): string {
  return a.outcome === 'kept' ? 'unchanged (exists; Secrets are never replaced)' : a.outcome;
}

/** Where the query frontend and the management API are, from the query Service as stored. */
async function howToReach(o: ClusterManifestOptions, loaded: LoadedKubeConfig): Promise<string> {
  const names = clusterObjectNames(o.clusterName);
  const ns = `-n ${o.namespace}`;
  const lines = ['', `The frontends start in a minute: kubectl ${ns} rollout status deployment/${names.frontend}`];
  const service = await kubeRequestJson<V1Service>(loaded.kubeConfig, {
    path: objectPath({ apiVersion: 'v1', kind: 'Service', metadata: { name: names.queryService, namespace: o.namespace } }, true),
    timeoutMs: 30_000,
  }).catch(() => null);
  const ingress = service?.status?.loadBalancer?.ingress?.[0];
  const nodePort = service?.spec?.ports?.[0]?.nodePort;
  if (o.queryServiceType === 'LoadBalancer' && ingress !== undefined) {
    lines.push(`Query frontend: http://${ingress.ip ?? ingress.hostname}:${kQueryPort}`);
  } else if (o.queryServiceType === 'LoadBalancer') {
    lines.push(`Query frontend: the load balancer's address, once it has one: kubectl ${ns} get service ${names.queryService} -w`);
  } else if (o.queryServiceType === 'NodePort') {
    const port = nodePort ?? `<the node port: kubectl ${ns} get service ${names.queryService}>`;
    lines.push(`Query frontend: http://<any node's address>:${port} (addresses: kubectl get nodes -o wide)`);
  } else {
    lines.push(
      `Query frontend: kubectl ${ns} port-forward service/${names.queryService} ${kQueryPort}:${kQueryPort}, then http://127.0.0.1:${kQueryPort}`,
    );
  }
  lines.push(
    `Management API (inside the cluster only): kubectl ${ns} port-forward service/${names.adminService} ${kAdminPort}:${kAdminPort}`,
    `  its token: kubectl ${ns} get secret ${names.adminToken} -o jsonpath='{.data.token}' | base64 -d`,
    '',
  );
  return lines.join('\n');
}
