// What the tests of the fake Kubernetes API itself (test/integration/fake_kube_api.test.ts and
// fake_kube_watch_faults.test.ts) share: a fake stopped after the test, a plain Deployment, the
// refusal a client call rejects with, and the key paths of an object for comparing shapes.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { ApiException, type V1Deployment } from '@kubernetes/client-node';
import { type FakeKubeApi, type Json, startFakeKubeApi } from './fake_kube_api.js';

export async function fake(t: TestContext, options: Parameters<typeof startFakeKubeApi>[0] = {}): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi(options);
  t.after(() => api.close());
  return api;
}

export function deployment(name: string, replicas = 2, labels: Record<string, string> = { app: name }): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'model', image: `registry.local:5000/${name}:1`, ports: [{ containerPort: 7000 }] }] },
      },
    },
  };
}

/** The ApiException a call rejects with (fails the test when it resolves). */
export async function refusal(call: Promise<unknown>): Promise<{ code: number; body: Json }> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected an ApiException, got ${err}`);
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, body };
  }
  assert.fail('the call was expected to be refused');
}

/** The keys of an object, recursively for plain objects, to compare shapes with the recorded fixtures. */
export function keysOf(o: Json, prefix = ''): string[] {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return [];
  return Object.keys(o).flatMap((k) => [`${prefix}${k}`, ...keysOf(o[k], `${prefix}${k}.`)]);
}

/** A minimal pod with these labels. */
export function pod(name: string, labels: Record<string, string>): Json {
  return { metadata: { name, namespace: 'default', labels }, spec: { containers: [{ name: 'model', image: 'm:1' }] } };
}
