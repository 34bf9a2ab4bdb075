// Where the Kubernetes manager finds its API server (src/containers/kubernetes/kube_config.ts): a
// kubectl proxy address, --kubeconfig, the pod's service account (files in a temp dir standing in for
// /var/run/secrets/...), $KUBECONFIG and ~/.kube/config; and the messages when none fits.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadKubeConfig } from '../../src/containers/kubernetes/kube_config.js';
import { ClipperError } from '../../src/errors.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-kubeconfig-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function kubeconfigText(server: string, namespace?: string, user = 'u'): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: ${server}
users:
- name: ${user}
  user:
    token: token-of-${user}
contexts:
- name: ctx
  context:
    cluster: c
    user: ${user}${namespace === undefined ? '' : `\n    namespace: ${namespace}`}
current-context: ctx
`;
}

function refusedWith(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.code, 'CLP_ERR_INVALID_ARG');
    assert.match(err.message, pattern);
    return true;
  };
}

async function authorization(kc: import('@kubernetes/client-node').KubeConfig): Promise<unknown> {
  const options: { headers?: Record<string, unknown> } = {};
  await kc.applyToHTTPSOptions(options);
  return options.headers?.Authorization;
}

test('a kubectl proxy address: plain HTTP, no credentials, namespace default', async () => {
  for (const addr of ['127.0.0.1:8001', 'http://127.0.0.1:8001']) {
    const loaded = loadKubeConfig({ kubeconfig: '', proxyAddr: addr, env: {} });
    assert.equal(loaded.server, 'http://127.0.0.1:8001');
    assert.equal(loaded.namespace, 'default');
    assert.equal(loaded.kubeConfig.getCurrentCluster()?.server, 'http://127.0.0.1:8001');
    assert.equal(await authorization(loaded.kubeConfig), undefined);
  }
  for (const bad of ['https://127.0.0.1:8001', 'localhost', 'http://h:1/api']) {
    assert.throws(() => loadKubeConfig({ kubeconfig: '', proxyAddr: bad, env: {} }), refusedWith(/kubernetesProxyAddr must be host:port/));
  }
  assert.throws(
    () => loadKubeConfig({ kubeconfig: '/x', proxyAddr: 'h:1', env: {} }),
    refusedWith(/give one of --kubernetes-proxy-addr and --kubeconfig/),
  );
});

test('--kubeconfig FILE: its current context, server, namespace and credentials; missing or broken files named', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'config');
  writeFileSync(file, kubeconfigText('https://127.0.0.2:6443', 'ml'));
  // The service account is ignored when a file is named.
  const loaded = loadKubeConfig({ kubeconfig: file, proxyAddr: '', env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } });
  assert.equal(loaded.server, 'https://127.0.0.2:6443');
  assert.equal(loaded.namespace, 'ml');
  assert.equal(loaded.source, `kubeconfig ${file}`);
  assert.equal(await authorization(loaded.kubeConfig), 'Bearer token-of-u');
  const missing = path.join(dir, 'nope');
  assert.throws(
    () => loadKubeConfig({ kubeconfig: missing, proxyAddr: '', env: {} }),
    refusedWith(new RegExp(`the kubeconfig file ${missing} \\(from kubeconfig \\(--kubeconfig\\)\\) does not exist`)),
  );
  const noContext = path.join(dir, 'no-context');
  writeFileSync(noContext, 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n');
  assert.throws(() => loadKubeConfig({ kubeconfig: noContext, proxyAddr: '', env: {} }), refusedWith(/has no current context/));
  const noNamespace = path.join(dir, 'no-namespace');
  writeFileSync(noNamespace, kubeconfigText('https://127.0.0.3:6443'));
  assert.equal(loadKubeConfig({ kubeconfig: noNamespace, proxyAddr: '', env: {} }).namespace, 'default');
  const plain = path.join(dir, 'plain-http');
  writeFileSync(plain, kubeconfigText('http://127.0.0.3:8080'));
  assert.throws(
    () => loadKubeConfig({ kubeconfig: plain, proxyAddr: '', env: {} }),
    refusedWith(/cluster 'c' is plain HTTP \(http:\/\/127.0.0.3:8080\); set insecure-skip-tls-verify: true/),
  );
});

test('in a pod: the service account token, CA and namespace, and the address from the environment', async (t) => {
  const prefix = tempDir(t);
  const sa = path.join(prefix, 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount');
  mkdirSync(sa, { recursive: true });
  const env = { KUBERNETES_SERVICE_HOST: '127.0.0.2', KUBERNETES_SERVICE_PORT: '6443', KUBECONFIG: '/not/used' };
  assert.throws(
    () => loadKubeConfig({ kubeconfig: '', proxyAddr: '', env, inClusterPathPrefix: prefix }),
    refusedWith(new RegExp(`service account file ${path.join(sa, 'token')} is missing`)),
  );
  writeFileSync(path.join(sa, 'token'), 'sa-token');
  writeFileSync(path.join(sa, 'ca.crt'), '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
  writeFileSync(path.join(sa, 'namespace'), 'clipper-ns');
  const loaded = loadKubeConfig({ kubeconfig: '', proxyAddr: '', env, inClusterPathPrefix: prefix });
  assert.equal(loaded.server, 'https://127.0.0.2:6443');
  assert.equal(loaded.kubeConfig.getCurrentCluster()?.server, 'https://127.0.0.2:6443');
  assert.equal(loaded.kubeConfig.getCurrentCluster()?.caFile, path.join(sa, 'ca.crt'));
  assert.equal(loaded.namespace, 'clipper-ns');
  assert.equal(await authorization(loaded.kubeConfig), 'Bearer sa-token');
  assert.throws(
    () => loadKubeConfig({ kubeconfig: '', proxyAddr: '', env: { KUBERNETES_SERVICE_HOST: 'h' }, inClusterPathPrefix: prefix }),
    refusedWith(/KUBERNETES_SERVICE_PORT is not a port/),
  );
  // Ports that look like plain HTTP still get HTTPS verified with the CA: the token never travels in clear.
  for (const port of ['80', '8080', '8001']) {
    const inPod = loadKubeConfig({
      kubeconfig: '',
      proxyAddr: '',
      env: { ...env, KUBERNETES_SERVICE_PORT: port },
      inClusterPathPrefix: prefix,
    });
    assert.equal(inPod.server, `https://127.0.0.2:${port}`);
    const cluster = inPod.kubeConfig.getCurrentCluster();
    assert.equal(cluster?.server, `https://127.0.0.2:${port}`);
    assert.equal(cluster?.skipTLSVerify, false, `port ${port}`);
    assert.equal(cluster?.caFile, path.join(sa, 'ca.crt'));
  }
  const v6 = loadKubeConfig({
    kubeconfig: '',
    proxyAddr: '',
    env: { ...env, KUBERNETES_SERVICE_HOST: 'fd00::1' },
    inClusterPathPrefix: prefix,
  });
  assert.equal(v6.server, 'https://[fd00::1]:6443');
});

test('$KUBECONFIG (the first file wins), then ~/.kube/config, else a message listing every way', (t) => {
  const dir = tempDir(t);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  writeFileSync(a, kubeconfigText('https://127.0.0.4:6443', 'from-a'));
  writeFileSync(b, kubeconfigText('https://127.0.0.5:6443', 'from-b', 'v'));
  const fromEnv = loadKubeConfig({ kubeconfig: '', proxyAddr: '', env: { KUBECONFIG: `${a}${path.delimiter}${b}`, HOME: dir } });
  assert.equal(fromEnv.server, 'https://127.0.0.4:6443');
  assert.equal(fromEnv.namespace, 'from-a');
  const home = path.join(dir, 'home');
  mkdirSync(path.join(home, '.kube'), { recursive: true });
  assert.throws(
    () => loadKubeConfig({ kubeconfig: '', proxyAddr: '', env: { HOME: home } }),
    refusedWith(
      /no Kubernetes API server is configured: run the frontend in a pod .*--kubeconfig FILE.*\$KUBECONFIG.*\.kube\/config.*--kubernetes-proxy-addr/,
    ),
  );
  writeFileSync(path.join(home, '.kube', 'config'), kubeconfigText('https://127.0.0.6:6443'));
  const fromHome = loadKubeConfig({ kubeconfig: '', proxyAddr: '', env: { HOME: home } });
  assert.equal(fromHome.server, 'https://127.0.0.6:6443');
  assert.equal(fromHome.namespace, 'default');
});
