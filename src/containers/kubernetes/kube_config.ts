// Where the Kubernetes manager finds its API server, in Clipper's order of choices: a `kubectl
// proxy` address (kubernetes_proxy_addr: plain HTTP, the proxy authenticates), a kubeconfig file
// named by --kubeconfig, the pod's service account when running inside a cluster, else $KUBECONFIG
// or ~/.kube/config. Also the namespace to work in when none is configured: the service account's,
// the current context's, else 'default'. Every failure names the file or option to fix.

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ClipperError } from '../../errors.js';

export interface KubeConfigOptions {
  /** A kubeconfig file (--kubeconfig); '' = none. */
  kubeconfig: string;
  /** A `kubectl proxy` address, `host:port` or `http://host:port` (--kubernetes-proxy-addr); '' = none. */
  proxyAddr: string;
  /** Prefix of the service account's files (tests point it at a temp dir); default ''. */
  inClusterPathPrefix?: string;
  /** The environment (KUBERNETES_SERVICE_HOST/PORT, KUBECONFIG, HOME). */
  env: Readonly<Record<string, string | undefined>>;
}

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  /** The namespace the configuration implies ('default' when it says none). */
  namespace: string;
  /** The API server's URL, for messages. */
  server: string;
  /** How it was found, for messages: e.g. "kubeconfig /home/u/.kube/config". */
  source: string;
}

const kServiceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

function refuse(message: string): never {
  throw new ClipperError('CLP_ERR_INVALID_ARG', message);
}

/** The API server configuration `o` selects; throws CLP_ERR_INVALID_ARG naming the file or option at fault. */
export function loadKubeConfig(o: KubeConfigOptions): LoadedKubeConfig {
  if (o.proxyAddr !== '' && o.kubeconfig !== '') {
    refuse('kubernetesProxyAddr and kubeconfig are both set: give one of --kubernetes-proxy-addr and --kubeconfig');
  }
  if (o.proxyAddr !== '') return fromProxy(o.proxyAddr);
  if (o.kubeconfig !== '') return fromFile(o.kubeconfig, 'kubeconfig (--kubeconfig)');
  if ((o.env.KUBERNETES_SERVICE_HOST ?? '') !== '') return fromServiceAccount(o);
  const fromEnv = (o.env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  if (fromEnv.length > 0) return fromFiles(fromEnv, '$KUBECONFIG');
  const home = o.env.HOME ?? os.homedir();
  const file = path.join(home, '.kube', 'config');
  if (existsSync(file)) return fromFile(file, 'the default kubeconfig');
  return refuse(
    'no Kubernetes API server is configured: run the frontend in a pod (service account), give --kubeconfig FILE ' +
      `(CLIPPER_KUBECONFIG), set $KUBECONFIG, create ${file}, or give the address of a \`kubectl proxy\` with ` +
      '--kubernetes-proxy-addr host:port',
  );
}

function fromProxy(addr: string): LoadedKubeConfig {
  const text = /^[a-z]+:\/\//i.test(addr) ? addr : `http://${addr}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse(`kubernetesProxyAddr must be host:port or http://host:port of a \`kubectl proxy\` (got ${JSON.stringify(addr)})`);
  }
  if (url.protocol !== 'http:' || url.port === '' || (url.pathname !== '/' && url.pathname !== '')) {
    refuse(`kubernetesProxyAddr must be host:port or http://host:port of a \`kubectl proxy\`, plain HTTP (got ${JSON.stringify(addr)})`);
  }
  const server = `http://${url.host}`;
  const kubeConfig = new KubeConfig();
  // The proxy holds the credentials: requests to it carry none. Plain HTTP has no certificate to
  // verify, and client-node refuses an http:// server unless told so (skipTLSVerify).
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'proxy', server, skipTLSVerify: true }],
    users: [{ name: 'proxy' }],
    contexts: [{ name: 'proxy', cluster: 'proxy', user: 'proxy' }],
    currentContext: 'proxy',
  });
  return { kubeConfig, namespace: 'default', server, source: `kubectl proxy at ${server}` };
}

/** Several files merged as kubectl does: the first file to name a cluster, user or context wins. */
function fromFiles(files: string[], source: string): LoadedKubeConfig {
  const first = fromFile(files[0]!, source);
  const kc = first.kubeConfig;
  for (const file of files.slice(1)) {
    const more = new KubeConfig();
    more.loadFromFile(file);
    for (const c of more.clusters) if (kc.getCluster(c.name) === null) kc.addCluster(c);
    for (const u of more.users) if (kc.getUser(u.name) === null) kc.addUser(u);
    for (const c of more.contexts) if (kc.getContextObject(c.name) === null) kc.addContext(c);
  }
  return first;
}

function fromFile(file: string, option: string): LoadedKubeConfig {
  if (!existsSync(file)) refuse(`the kubeconfig file ${file} (from ${option}) does not exist`);
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromFile(file);
  } catch (err) {
    refuse(`the kubeconfig file ${file} (from ${option}) cannot be read: ${(err as Error).message}`);
  }
  const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
  if (context === null) {
    refuse(`the kubeconfig file ${file} (from ${option}) has no current context: set one with \`kubectl config use-context NAME\``);
  }
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null || cluster.server === '') {
    refuse(`the kubeconfig file ${file} (from ${option}): context '${context.name}' names no cluster with a server address`);
  }
  if (cluster.server.startsWith('http:') && cluster.skipTLSVerify !== true) {
    // client-node refuses it at the first request, in words that do not say where to look.
    refuse(
      `the kubeconfig file ${file} (from ${option}): cluster '${cluster.name}' is plain HTTP (${cluster.server}); ` +
        'set insecure-skip-tls-verify: true on it to allow that, or give a kubectl proxy with --kubernetes-proxy-addr',
    );
  }
  return { kubeConfig, namespace: context.namespace ?? 'default', server: cluster.server, source: `kubeconfig ${file}` };
}

function fromServiceAccount(o: KubeConfigOptions): LoadedKubeConfig {
  const prefix = o.inClusterPathPrefix ?? '';
  const dir = `${prefix}${kServiceAccountDir}`;
  const host = o.env.KUBERNETES_SERVICE_HOST!;
  const port = o.env.KUBERNETES_SERVICE_PORT ?? '';
  if (!/^[0-9]{1,5}$/.test(port)) {
    refuse(`KUBERNETES_SERVICE_HOST is set (running in a pod) but KUBERNETES_SERVICE_PORT is not a port (got ${JSON.stringify(port)})`);
  }
  for (const file of ['token', 'ca.crt']) {
    if (!existsSync(path.join(dir, file))) {
      refuse(
        `running in a pod (KUBERNETES_SERVICE_HOST is set) but the service account file ${path.join(dir, file)} is missing: ` +
          'mount the service account token (automountServiceAccountToken) or give --kubeconfig',
      );
    }
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromCluster(prefix);
  // loadFromCluster reads process.env; the address is taken from the environment given here. Always
  // HTTPS, verified with the mounted ca.crt (as client-go's InClusterConfig does), whatever the port:
  // the service account token must never travel in clear. Plain HTTP is only an explicit kubectl proxy.
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const cluster = kubeConfig.clusters[0]!;
  kubeConfig.clusters = [{ ...cluster, server, caFile: path.join(dir, 'ca.crt'), skipTLSVerify: false }];
  const namespaceFile = path.join(dir, 'namespace');
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() : '';
  return { kubeConfig, namespace: namespace === '' ? 'default' : namespace, server, source: `service account in ${dir}` };
}
