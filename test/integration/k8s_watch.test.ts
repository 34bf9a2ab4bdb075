// The watch cache (src/containers/kubernetes/watch_cache.ts) against the fake Kubernetes API
// (test/helpers/fake_kube_api.ts): list then watch, every change reported in order, a lost watch
// resumed from its resourceVersion without missing anything, a 410 Gone answered by a relist that
// reports exactly the differences, clear errors when the first list fails, and nothing left open.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { ClipperError } from '../../src/errors.js';
import { kRepoRoot } from '../../src/paths.js';
import { startWatchCache, type WatchCache, type WatchCacheOptions } from '../../src/containers/kubernetes/watch_cache.js';
import { waitUntil } from '../helpers/cluster.js';
import { type FakeKubeApi, startFakeKubeApi } from '../helpers/fake_kube_api.js';

const kBoundMs = 20_000;
const podFixture = JSON.parse(readFileSync(path.join(kRepoRoot, 'test', 'fixtures', 'kubernetes', 'pod_running.json'), 'utf8')) as V1Pod;
let clusterCount = 0;

/** A pod of the fixture's shape, renamed and relabelled. */
function pod(name: string, cluster: string, extra: Record<string, string> = {}): V1Pod {
  const p = structuredClone(podFixture);
  p.metadata = { name, namespace: 'default', labels: { 'clipper.ai/cluster': cluster, ...extra } };
  return p;
}

interface Watched {
  cache: WatchCache<V1Pod>;
  calls: string[];
  errors: string[];
  cluster: string;
}

async function fakeApi(t: TestContext, bookmarkMs = 1000): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi({ bookmarkMs });
  t.after(() => api.close());
  return api;
}

/** A watch cache of the pods of a fresh cluster name, recording every listener call as text. */
function watchPods(t: TestContext, api: FakeKubeApi, options: Partial<WatchCacheOptions> = {}): Watched {
  const cluster = `w${process.pid}-${++clusterCount}`;
  const calls: string[] = [];
  const errors: string[] = [];
  const cache = startWatchCache<V1Pod>(
    {
      kubeConfig: api.kubeConfig(),
      path: '/api/v1/namespaces/default/pods',
      labelSelector: `clipper.ai/cluster=${cluster}`,
      backoffMsMin: 100,
      backoffMsMax: 1000,
      ...options,
    },
    {
      onUpsert: (obj, previous) => {
        const change = previous === undefined ? 'new' : `was ${previous.metadata?.labels?.['state'] ?? '-'}`;
        calls.push(`upsert ${obj.metadata?.name} ${obj.metadata?.labels?.['state'] ?? '-'} (${change})`);
      },
      onDelete: (obj) => calls.push(`delete ${obj.metadata?.name}`),
      onWatchError: (reason) => errors.push(reason),
    },
  );
  t.after(() => cache.close());
  return { cache, calls, errors, cluster };
}

const names = (cache: WatchCache<V1Pod>) =>
  cache
    .list()
    .map((p) => p.metadata?.name)
    .sort();
const listRequests = (api: FakeKubeApi) => api.requests.filter((r) => r.path.endsWith('/pods') && !r.query.has('watch')).length;

test('the first list reports every matching object; then adds, changes and deletes arrive in order', async (t) => {
  const api = await fakeApi(t);
  const w = watchPods(t, api);
  api.upsert('pods', pod('p1', w.cluster, { state: 'a' }));
  api.upsert('pods', pod('other', 'another-cluster'));
  await w.cache.ready;
  assert.deepEqual(w.calls, ['upsert p1 a (new)']);
  assert.deepEqual(names(w.cache), ['p1']);

  await waitUntil(() => api.openWatches() > 0, kBoundMs, 'the watch to open');
  api.upsert('pods', pod('p2', w.cluster, { state: 'a' }));
  api.upsert('pods', pod('p1', w.cluster, { state: 'b' }));
  api.upsert('pods', pod('ignored', 'another-cluster', { state: 'b' }));
  api.remove('pods', 'default', 'p2');
  api.upsert('pods', pod('p3', w.cluster, { state: 'a' }));
  await waitUntil(() => w.calls.length >= 5, kBoundMs, 'four more changes');
  assert.deepEqual(w.calls, ['upsert p1 a (new)', 'upsert p2 a (new)', 'upsert p1 b (was a)', 'delete p2', 'upsert p3 a (new)']);
  assert.deepEqual(names(w.cache), ['p1', 'p3']);
  assert.equal(w.cache.get('p1')?.metadata?.labels?.['state'], 'b');
  assert.equal(w.cache.get('p2'), undefined);
  assert.deepEqual(w.errors, []);

  const watch = api.requests.find((r) => r.query.get('watch') === 'true');
  assert.ok(watch, 'a watch request');
  assert.equal(watch.query.get('labelSelector'), `clipper.ai/cluster=${w.cluster}`);
  assert.equal(watch.query.get('allowWatchBookmarks'), 'true');
  assert.match(watch.query.get('resourceVersion') ?? '', /^[0-9]+$/, 'the watch starts from the list resourceVersion');
  assert.equal(watch.headers.authorization, 'Bearer fake-token');
});

for (const abrupt of [false, true]) {
  test(`a watch lost ${abrupt ? 'abruptly (socket destroyed)' : 'cleanly (response ended)'} resumes from its resourceVersion and misses nothing`, async (t) => {
    const api = await fakeApi(t);
    const w = watchPods(t, api);
    api.upsert('pods', pod('p1', w.cluster, { state: 'a' }));
    api.upsert('pods', pod('p2', w.cluster, { state: 'a' }));
    await w.cache.ready;
    await waitUntil(() => api.openWatches() > 0, kBoundMs, 'the watch to open');
    api.upsert('pods', pod('p1', w.cluster, { state: 'b' }));
    await waitUntil(() => w.calls.length === 3, kBoundMs, 'the change before the loss');
    const watchesBefore = api.requests.filter((r) => r.query.has('watch')).length;

    api.dropWatches(abrupt);
    // Changes while nobody watches (the cache waits at least backoffMsMin before watching again).
    api.upsert('pods', pod('p3', w.cluster, { state: 'a' }));
    api.upsert('pods', pod('p1', w.cluster, { state: 'c' }));
    api.remove('pods', 'default', 'p2');

    await waitUntil(() => w.calls.length === 6, kBoundMs, 'the changes made while the watch was down');
    assert.deepEqual(w.calls.slice(3), ['upsert p3 a (new)', 'upsert p1 c (was b)', 'delete p2']);
    assert.deepEqual(names(w.cache), ['p1', 'p3']);
    assert.equal(listRequests(api), 1, 'resumed by a watch from the last resourceVersion, not a relist');
    const rewatch = api.requests.filter((r) => r.query.has('watch'))[watchesBefore];
    assert.ok(rewatch, 'a new watch');
    assert.notEqual(rewatch.query.get('resourceVersion'), null);
    if (abrupt) assert.equal(w.errors.length, 1, `the broken watch is reported once: ${w.errors.join(' | ')}`);
    await waitUntil(() => api.openWatches() === 1, kBoundMs, 'one open watch again');
  });
}

test('a 410 Gone (compaction) relists and reports exactly the differences', async (t) => {
  const api = await fakeApi(t);
  const w = watchPods(t, api);
  for (const name of ['p1', 'p2', 'p3']) api.upsert('pods', pod(name, w.cluster, { state: 'a' }));
  await w.cache.ready;
  await waitUntil(() => api.openWatches() > 0, kBoundMs, 'the watch to open');
  assert.equal(w.calls.length, 3);

  api.dropWatches();
  api.upsert('pods', pod('p4', w.cluster, { state: 'a' }));
  api.upsert('pods', pod('p2', w.cluster, { state: 'b' }));
  api.remove('pods', 'default', 'p1');
  api.compact(); // the resourceVersion the cache holds is now too old: its next watch gets an ERROR 410

  await waitUntil(() => listRequests(api) === 2 && w.calls.length >= 6, kBoundMs, 'the relist');
  await waitUntil(() => api.openWatches() === 1, kBoundMs, 'the watch after the relist');
  assert.deepEqual(w.calls.slice(3), ['delete p1', 'upsert p2 b (was a)', 'upsert p4 a (new)'], 'p3 did not change: not reported');
  assert.deepEqual(names(w.cache), ['p2', 'p3', 'p4']);
  assert.deepEqual(w.errors, [], 'a 410 is routine, not a failure');

  // Watching goes on from the new list's resourceVersion.
  api.upsert('pods', pod('p5', w.cluster, { state: 'a' }));
  await waitUntil(() => w.calls.length === 7, kBoundMs, 'a change after the relist');
  assert.equal(w.calls[6], 'upsert p5 a (new)');
});

test('a watch answered 410 (not an event) also relists', async (t) => {
  const api = await fakeApi(t);
  const w = watchPods(t, api);
  api.upsert('pods', pod('p1', w.cluster, { state: 'a' }));
  await w.cache.ready;
  await waitUntil(() => api.openWatches() > 0, kBoundMs, 'the watch to open');
  api.failRequests({ resource: 'pods', watch: true }, 410, 'Expired', 'too old resource version');
  api.dropWatches();
  api.remove('pods', 'default', 'p1');
  await waitUntil(() => listRequests(api) === 2 && w.calls.length === 2, kBoundMs, 'the relist');
  assert.deepEqual(w.calls, ['upsert p1 a (new)', 'delete p1']);
});

test('later failures are retried with backoff, reported, and recover', async (t) => {
  const api = await fakeApi(t);
  const w = watchPods(t, api);
  await w.cache.ready;
  await waitUntil(() => api.openWatches() > 0, kBoundMs, 'the watch to open');
  api.failRequests({ resource: 'pods', watch: true }, 500, 'InternalError', 'etcd is having a bad day', 2);
  api.dropWatches();
  api.upsert('pods', pod('p1', w.cluster, { state: 'a' }));
  await waitUntil(() => w.calls.length === 1, kBoundMs, 'the change, once the watch works again');
  assert.equal(w.errors.length, 2, w.errors.join(' | '));
  assert.match(w.errors[0]!, /answered 500 InternalError to watch pods in namespace "default": etcd is having a bad day/);
});

test('a watch silent for longer than idleTimeoutMs is restarted, and nothing is missed', async (t) => {
  const api = await fakeApi(t, 3_600_000); // no periodic bookmark: the stream goes silent
  const w = watchPods(t, api, { idleTimeoutMs: 300 });
  await w.cache.ready;
  const watches = () => api.requests.filter((r) => r.query.has('watch')).length;
  await waitUntil(() => watches() >= 2 && w.errors.length >= 1, kBoundMs, 'a restarted watch');
  assert.match(w.errors[0]!, /the watch was silent for 300 ms \(no event, no bookmark\): presumed dead/);
  api.upsert('pods', pod('p1', w.cluster, { state: 'a' }));
  await waitUntil(() => w.calls.length === 1, kBoundMs, 'the change');
  assert.deepEqual(w.calls, ['upsert p1 a (new)']);
  assert.equal(listRequests(api), 1, 'restarted from its resourceVersion, not relisted');
});

test('a first list refused by RBAC rejects ready naming the verb, resource, namespace and the Role', async (t) => {
  const api = await fakeApi(t);
  api.failRequests({ resource: 'pods' }, 403, 'Forbidden');
  const w = watchPods(t, api);
  const err = await w.cache.ready.then(
    () => assert.fail('ready resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ClipperError);
  assert.match(err.message, /forbidden: cannot list pods in namespace "default"/);
  assert.match(err.message, /grant "list" on "pods" in the manager's Role \(clipper k8s manifests prints one\)/);
  assert.equal(err.details?.['status'], 403);
  const count = api.requests.length;
  assert.equal(count, 1, 'the cache stopped: no retry after the first list failed');
});

test('a first list of an unknown resource rejects ready with a 404 message', async (t) => {
  const api = await fakeApi(t);
  const w = watchPods(t, api, { path: '/api/v1/namespaces/default/nosuchthings' });
  await assert.rejects(w.cache.ready, (e: Error) => {
    assert.match(e.message, /not found \(404\) when trying to list nosuchthings in namespace "default"/);
    return true;
  });
});

test('an API server that is not there rejects ready naming its address', async (t) => {
  const api = await startFakeKubeApi();
  const kubeConfig = api.kubeConfig();
  const url = api.url;
  await api.close();
  const w = watchPods(t, api, { kubeConfig });
  await assert.rejects(w.cache.ready, (e: Error) => {
    assert.ok(e instanceof ClipperError);
    assert.ok(e.message.includes(`cannot reach the Kubernetes API server at ${url}`), e.message);
    assert.match(e.message, /ECONNREFUSED/);
    return true;
  });
});

test('close() while waiting to retry stops every request', async (t) => {
  const api = await fakeApi(t);
  const w = watchPods(t, api, { backoffMsMin: 200, backoffMsMax: 200 });
  await w.cache.ready;
  api.failRequests({ resource: 'pods', watch: true }, 503, 'ServiceUnavailable', undefined, Infinity);
  api.dropWatches();
  await waitUntil(() => w.errors.length >= 2, kBoundMs, 'two failed watches');
  w.cache.close();
  const count = api.requests.length;
  await new Promise((resolve) => setTimeout(resolve, 1000)); // five backoff periods
  assert.equal(api.requests.length, count, 'no request after close()');
});

test('close() leaves nothing open: a process that watched exits by itself', async (t) => {
  // No periodic bookmark: only close() itself can end the watch stream.
  const api = await fakeApi(t, 3_600_000);
  const cluster = `w${process.pid}-exit`;
  api.upsert('pods', pod('p1', cluster));
  const module = path.join(kRepoRoot, 'dist', 'src', 'containers', 'kubernetes', 'watch_cache.js');
  // The child closes the cache when told on stdin, which the test does once the fake counts its watch open.
  const script = `
    import { KubeConfig } from '@kubernetes/client-node';
    const { startWatchCache } = await import(${JSON.stringify(module)});
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(${JSON.stringify(api.writeKubeconfig())});
    let seen = 0;
    const cache = startWatchCache({ kubeConfig, path: '/api/v1/namespaces/default/pods', labelSelector: 'clipper.ai/cluster=${cluster}' },
      { onUpsert: () => { seen++; }, onDelete: () => {} });
    await cache.ready;
    await new Promise((resolve) => process.stdin.once('data', resolve));
    process.stdin.destroy();
    cache.close();
    console.log('closed after ' + seen + ' object(s)');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: kRepoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 2 * kBoundMs);
  t.after(() => {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  await waitUntil(() => api.openWatches() > 0 || child.exitCode !== null, kBoundMs, 'the child to open its watch');
  child.stdin.end('close\n');
  const status = await exited;
  assert.equal(status, 0, `the process exited by itself (status ${status}); stderr: ${stderr}`);
  assert.match(stdout, /closed after 1 object\(s\)/);
  await waitUntil(() => api.openWatches() === 0, kBoundMs, 'the fake to see the watch closed');
});
