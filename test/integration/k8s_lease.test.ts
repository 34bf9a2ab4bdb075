// Leader election (src/containers/kubernetes/leader_lease.ts) against the fake Kubernetes API
// (test/helpers/fake_kube_api.ts): of two frontends exactly one leads; closing the leader hands the
// lead over; a leader that cannot renew steps down, and still releases the Lease on close; one that
// loses a conflict follows the new holder; an expired Lease is taken over, a live one is not, even
// when its times come from a clock an hour apart; the Lease written has the right fields.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { LeaderLease, type LeaderLeaseOptions } from '../../src/containers/kubernetes/leader_lease.js';
import { type LeaseObject, microTime, parseMicroTime } from '../../src/containers/kubernetes/lease_rules.js';
import { waitUntil } from '../helpers/cluster.js';
import { type FakeKubeApi, startFakeKubeApi } from '../helpers/fake_kube_api.js';

const kBoundMs = 20_000;
const kMicroTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
let leaseCount = 0;

interface Candidate {
  lease: LeaderLease;
  identity: string;
  /** 'leading' / 'following <holder>' as the callbacks said, in order. */
  events: string[];
}

async function fakeApi(t: TestContext): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi();
  t.after(() => api.close());
  return api;
}

function candidate(t: TestContext, api: FakeKubeApi, name: string, identity: string, options: Partial<LeaderLeaseOptions> = {}): Candidate {
  const events: string[] = [];
  const { onLeading, onFollowing, ...rest } = options;
  const lease = new LeaderLease({
    kubeConfig: api.kubeConfig(),
    namespace: 'default',
    name,
    identity,
    leaseDurationS: 2,
    renewMs: 300,
    retryMs: 200,
    labels: { 'app.kubernetes.io/managed-by': 'clipper' },
    ...rest,
    onLeading: () => {
      events.push('leading');
      onLeading?.();
    },
    onFollowing: (holder) => {
      events.push(`following ${holder}`);
      onFollowing?.(holder);
    },
  });
  t.after(() => lease.close());
  return { lease, identity, events };
}

function leaseName(): string {
  return `clipper-l${process.pid}-${++leaseCount}-manager`;
}

function stored(api: FakeKubeApi, name: string): LeaseObject | undefined {
  return api.get<LeaseObject>('leases', 'default', name);
}

test('two frontends: exactly one leads, the other follows it; the Lease says so and is renewed', async (t) => {
  const api = await fakeApi(t);
  const name = leaseName();
  // Who leads right now, by the callbacks: never more than one at any moment.
  const leading = new Set<string>();
  let most = 0;
  const track = (identity: string): Partial<LeaderLeaseOptions> => ({
    onLeading: () => {
      leading.add(identity);
      most = Math.max(most, leading.size);
    },
    onFollowing: () => leading.delete(identity),
  });
  const a = candidate(t, api, name, 'frontend-a', track('frontend-a'));
  const b = candidate(t, api, name, 'frontend-b', track('frontend-b'));
  a.lease.start();
  b.lease.start();
  await waitUntil(() => leading.size === 1 && a.lease.holder !== null && b.lease.holder !== null, kBoundMs, 'both to decide');
  const [leader, follower] = a.lease.isLeader ? [a, b] : [b, a];
  assert.equal(leader.lease.isLeader, true);
  assert.equal(follower.lease.isLeader, false);
  assert.deepEqual(leader.events, ['leading']);
  assert.deepEqual(follower.events, [`following ${leader.identity}`]);
  assert.equal(follower.lease.holder, leader.identity);

  const lease = stored(api, name)!;
  assert.equal(lease.spec?.holderIdentity, leader.identity);
  assert.equal(lease.spec?.leaseDurationSeconds, 2);
  assert.equal(lease.spec?.leaseTransitions, 0);
  assert.match(lease.spec?.acquireTime ?? '', kMicroTime);
  assert.match(lease.spec?.renewTime ?? '', kMicroTime);
  assert.equal(lease.metadata.labels?.['app.kubernetes.io/managed-by'], 'clipper');
  new Lease(lease as ConstructorParameters<typeof Lease>[0]).validate();
  const creates = api.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/leases'));
  assert.ok(creates.length >= 1 && creates.length <= 2, 'created once (a second try, if any, met AlreadyExists)');
  assert.equal(api.objects('leases', 'default').length, 1);

  const firstRenew = parseMicroTime(lease.spec?.renewTime)!;
  await waitUntil(() => (parseMicroTime(stored(api, name)?.spec?.renewTime) ?? 0) > firstRenew, kBoundMs, 'a renewal');
  const renewed = stored(api, name)!;
  assert.equal(renewed.spec?.holderIdentity, leader.identity);
  assert.equal(renewed.spec?.acquireTime, lease.spec?.acquireTime, 'a renewal keeps acquireTime');
  assert.equal(a.lease.isLeader && b.lease.isLeader, false, 'never both');
  assert.equal(most, 1, 'never two leaders at once');
  assert.deepEqual([...leading], [leader.identity]);
});

test('closing the leader releases the Lease and the other frontend takes over', async (t) => {
  const api = await fakeApi(t);
  const name = leaseName();
  const a = candidate(t, api, name, 'frontend-a');
  a.lease.start();
  await waitUntil(() => a.lease.isLeader, kBoundMs, 'a to lead');
  const b = candidate(t, api, name, 'frontend-b');
  b.lease.start();
  await waitUntil(() => b.events.length > 0, kBoundMs, 'b to decide');
  assert.deepEqual(b.events, ['following frontend-a']);

  await a.lease.close();
  assert.equal(a.lease.isLeader, false);
  assert.deepEqual(a.events, ['leading'], 'close() calls no callback');
  await waitUntil(() => b.lease.isLeader, kBoundMs, 'b to take over');
  assert.deepEqual(b.events, ['following frontend-a', 'leading']);
  const lease = stored(api, name)!;
  assert.equal(lease.spec?.holderIdentity, 'frontend-b');
  assert.equal(lease.spec?.leaseTransitions, 1);
  const release = api.requests.find(
    (r) => r.method === 'PUT' && r.path.endsWith(`/leases/${name}`) && !(r.body as LeaseObject).spec?.holderIdentity,
  );
  assert.ok(release, 'a replace that cleared holderIdentity');
});

test('a leader whose renewals fail steps down on its own', async (t) => {
  const api = await fakeApi(t);
  const name = leaseName();
  const lines: string[] = [];
  const a = candidate(t, api, name, 'frontend-a', { log: (line) => lines.push(line) });
  a.lease.start();
  await waitUntil(() => a.lease.isLeader, kBoundMs, 'a to lead');
  api.failRequests({ resource: 'leases' }, 503, 'ServiceUnavailable', 'the API server is overloaded', Infinity);
  await waitUntil(() => !a.lease.isLeader, kBoundMs, 'a to step down');
  assert.deepEqual(a.events, ['leading', 'following null']);
  assert.ok(
    lines.some((l) => /answered 503 ServiceUnavailable to (get|update) leases "clipper-.*" in namespace "default"/.test(l)),
    lines.join('\n'),
  );
  assert.ok(lines.some((l) => /stepping down/.test(l)));
});

test('a leader that stepped down still releases the Lease on close while it names it', async (t) => {
  const api = await fakeApi(t);
  const name = leaseName();
  const a = candidate(t, api, name, 'frontend-a');
  a.lease.start();
  await waitUntil(() => a.lease.isLeader, kBoundMs, 'a to lead');
  api.failRequests({ resource: 'leases' }, 503, 'ServiceUnavailable', 'the API server is overloaded', Infinity);
  await waitUntil(() => !a.lease.isLeader, kBoundMs, 'a to step down');
  assert.equal(stored(api, name)?.spec?.holderIdentity, 'frontend-a', 'the Lease still names a');
  api.clearFaults();
  await a.lease.close();
  assert.equal(stored(api, name)?.spec?.holderIdentity, undefined, 'released: the next frontend need not wait out the duration');
});

test('a leader that loses a conflict to another holder follows it', async (t) => {
  const api = await fakeApi(t);
  const name = leaseName();
  const a = candidate(t, api, name, 'frontend-a');
  a.lease.start();
  await waitUntil(() => a.lease.isLeader, kBoundMs, 'a to lead');
  // Another frontend (with its own idea of time) writes itself in: a's next renewal conflicts.
  const current = stored(api, name)!;
  api.upsert('leases', {
    ...current,
    spec: { ...current.spec, holderIdentity: 'intruder', renewTime: microTime(Date.now() + 60_000), leaseDurationSeconds: 120 },
  });
  await waitUntil(() => !a.lease.isLeader, kBoundMs, 'a to follow');
  assert.deepEqual(a.events, ['leading', 'following intruder']);
  assert.equal(a.lease.holder, 'intruder');
  assert.equal(stored(api, name)?.spec?.holderIdentity, 'intruder', 'a did not take it back');
});

test('an expired Lease is taken over; a live one is left alone', async (t) => {
  const api = await fakeApi(t);
  const expired = leaseName();
  const live = leaseName();
  const hourAgo = Date.now() - 3_600_000;
  const lease = (name: string, holder: string, renewMs: number, durationS: number) => ({
    metadata: { name, namespace: 'default' },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: durationS,
      acquireTime: microTime(hourAgo),
      renewTime: microTime(renewMs),
      leaseTransitions: 4,
    },
  });
  // Abandoned: it stops changing, so 1 s after a frontend first saw it, it is expired.
  api.upsert('leases', lease(expired, 'ghost', hourAgo, 1));
  api.upsert('leases', lease(live, 'alive', Date.now(), 3600));

  const a = candidate(t, api, expired, 'frontend-a');
  const b = candidate(t, api, live, 'frontend-b');
  a.lease.start();
  b.lease.start();
  await waitUntil(() => a.lease.isLeader && b.events.length > 0, kBoundMs, 'a to take over and b to decide');
  // First seen now, the abandoned Lease counts as alive for its duration (1 s), then it is taken.
  assert.deepEqual(a.events, ['following ghost', 'leading']);
  const taken = stored(api, expired)!;
  assert.equal(taken.spec?.holderIdentity, 'frontend-a');
  assert.equal(taken.spec?.leaseTransitions, 5);
  assert.ok(parseMicroTime(taken.spec?.acquireTime)! > hourAgo, 'a new acquireTime');
  new Lease(taken as ConstructorParameters<typeof Lease>[0]).validate();

  assert.deepEqual(b.events, ['following alive']);
  assert.equal(stored(api, live)?.spec?.holderIdentity, 'alive');
  assert.equal(api.requests.filter((r) => r.method !== 'GET' && r.path.endsWith(`/leases/${live}`)).length, 0, 'no write to a live Lease');
});

test("a live Lease whose renewTime is an hour behind this frontend's clock is not taken over", async (t) => {
  const api = await fakeApi(t);
  const name = leaseName();
  // Its holder's clock runs an hour behind ours: by the times written, it expired long ago.
  const behindMs = Date.now() - 3_600_000;
  api.upsert('leases', {
    metadata: { name, namespace: 'default' },
    spec: { holderIdentity: 'skewed', leaseDurationSeconds: 30, acquireTime: microTime(behindMs), renewTime: microTime(behindMs) },
  });
  const b = candidate(t, api, name, 'frontend-b');
  b.lease.start();
  await waitUntil(() => b.events.length > 0, kBoundMs, 'b to decide');
  assert.deepEqual(b.events, ['following skewed']);
  assert.equal(b.lease.isLeader, false);
  assert.equal(stored(api, name)?.spec?.holderIdentity, 'skewed');
  assert.equal(api.requests.filter((r) => r.method !== 'GET' && r.path.endsWith(`/leases/${name}`)).length, 0, 'no write to it');
});

test('bad options are refused with the option named', () => {
  const base = { kubeConfig: undefined as never, namespace: 'default', name: 'x', identity: 'a', onLeading() {}, onFollowing() {} };
  assert.throws(() => new LeaderLease({ ...base, leaseDurationS: 0 }), /leaseDurationS must be a whole number of seconds >= 1/);
  assert.throws(
    () => new LeaderLease({ ...base, leaseDurationS: 3, renewMs: 2000 }),
    /renewMs must be > 0 and under two thirds of leaseDurationS \(2000 ms\)/,
  );
  assert.throws(() => new LeaderLease({ ...base, identity: '' }), /identity must not be empty/);
  assert.throws(() => new LeaderLease({ ...base, name: 'Not_A_Name' }), /name must be a DNS subdomain name/);
});
