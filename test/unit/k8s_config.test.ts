// The Kubernetes manager's configuration (src/config.ts): defaults, the flag and variable each option
// gets (src/config_sources.ts), and refusals that name the option.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kDefaultConfig, resolveConfig } from '../../src/config.js';
import { configFromSources, envNameOf, flagNameOf } from '../../src/config_sources.js';
import { ClipperError } from '../../src/errors.js';

function refused(option: string, pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.details?.option, option);
    assert.match(err.message, pattern);
    return true;
  };
}

test('defaults', () => {
  assert.equal(kDefaultConfig.kubeconfig, '');
  assert.equal(kDefaultConfig.kubernetesProxyAddr, '');
  assert.equal(kDefaultConfig.kubernetesNamespace, '');
  assert.deepEqual(kDefaultConfig.kubernetesImagePullSecrets, []);
  assert.equal(kDefaultConfig.kubernetesRegistry, '');
  assert.equal(kDefaultConfig.kubernetesReplicaPort, 7000);
  assert.equal(kDefaultConfig.kubernetesDeployTimeoutMs, 300_000);
  assert.equal(kDefaultConfig.kubernetesReplicaSecret, '');
  assert.equal(kDefaultConfig.kubernetesIdentity, '');
  assert.equal(flagNameOf('kubeconfig'), 'kubeconfig');
  assert.equal(envNameOf('kubernetesProxyAddr'), 'CLIPPER_KUBERNETES_PROXY_ADDR');
});

test('flags, variables and files set them; a list of pull secrets from text', () => {
  const { config, sources } = configFromSources({
    argv: ['--containers', 'kubernetes', '--kubeconfig', '/etc/kube/config', '--kubernetes-image-pull-secrets', 'regcred,other'],
    env: { CLIPPER_KUBERNETES_NAMESPACE: 'ml', CLIPPER_KUBERNETES_DEPLOY_TIMEOUT_MS: '60000', CLIPPER_REPLICA_SECRET_FILE: '/s/secret' },
    readText: () => '',
  });
  assert.equal(config.containers, 'kubernetes');
  assert.equal(config.kubeconfig, '/etc/kube/config');
  assert.deepEqual(config.kubernetesImagePullSecrets, ['regcred', 'other']);
  assert.ok(Object.isFrozen(config.kubernetesImagePullSecrets));
  assert.equal(config.kubernetesNamespace, 'ml');
  assert.equal(config.kubernetesDeployTimeoutMs, 60_000);
  assert.equal(sources.kubernetesNamespace, 'env CLIPPER_KUBERNETES_NAMESPACE');
});

test('bad values are refused naming the option', () => {
  assert.throws(() => resolveConfig({ containers: 'k8s' as never }), refused('containers', /'local', 'docker' or 'kubernetes'/));
  assert.throws(() => resolveConfig({ kubernetesNamespace: 'Bad_NS' }), refused('kubernetesNamespace', /namespace name/));
  assert.throws(
    () => resolveConfig({ kubernetesImagePullSecrets: ['ok', 'Not OK'] }),
    refused('kubernetesImagePullSecrets', /list of Secret names/),
  );
  assert.throws(() => resolveConfig({ kubernetesProxyAddr: 'https://h:1' }), refused('kubernetesProxyAddr', /kubectl proxy/));
  assert.throws(
    () => resolveConfig({ kubernetesProxyAddr: 'h:8001', kubeconfig: '/k' }),
    refused('kubernetesProxyAddr', /cannot be set together with kubeconfig/),
  );
  assert.throws(() => resolveConfig({ kubernetesReplicaPort: 0 }), refused('kubernetesReplicaPort', /integer in \[1, 65535\]/));
  assert.throws(() => resolveConfig({ kubernetesDeployTimeoutMs: 5 }), refused('kubernetesDeployTimeoutMs', /integer in/));
  assert.throws(() => resolveConfig({ kubernetesRegistry: 'http://r:5000' }), refused('kubernetesRegistry', /host\[:port\]/));
  assert.throws(() => resolveConfig({ kubernetesReplicaSecret: 'UPPER' }), refused('kubernetesReplicaSecret', /Secret name/));
  assert.equal(
    resolveConfig({ kubernetesProxyAddr: 'http://127.0.0.1:8001', kubernetesRegistry: 'localhost:5000' }).kubernetesRegistry,
    'localhost:5000',
  );
});

test('a Kubernetes cluster with replica auth needs the mounted replica secret file', () => {
  assert.throws(
    () => resolveConfig({ containers: 'kubernetes' }),
    refused('replicaSecretFile', /must name the file holding the replica secret .*clipper k8s manifests/),
  );
  assert.equal(resolveConfig({ containers: 'kubernetes', replicaAuth: 'off' }).containers, 'kubernetes');
  assert.equal(resolveConfig({ containers: 'kubernetes', replicaSecretFile: '/etc/s' }).replicaSecretFile, '/etc/s');
});
