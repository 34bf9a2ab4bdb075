// The rules of leader election on a Kubernetes Lease (src/containers/kubernetes/lease_rules.ts), with
// made-up times: who may take the Lease, when it counts as expired, and what each step writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acquiredLease,
  decideLease,
  type LeaseObject,
  leaseExpired,
  microTime,
  mustStepDown,
  newLease,
  parseMicroTime,
  releasedLease,
  renewDeadlineMs,
  renewedLease,
} from '../../src/containers/kubernetes/lease_rules.js';

const t0 = Date.parse('2024-05-01T10:00:00.000Z');

function held(holder: string, renewedMs: number, durationS = 15, resourceVersion = '7'): LeaseObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'clipper-c-manager', namespace: 'ns', resourceVersion },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: durationS,
      acquireTime: microTime(renewedMs - 60_000),
      renewTime: microTime(renewedMs),
      leaseTransitions: 3,
    },
  };
}

test('MicroTime: RFC 3339 with exactly six fraction digits, read back to the same instant', () => {
  assert.equal(microTime(t0 + 123.456), '2024-05-01T10:00:00.123456Z');
  assert.equal(microTime(t0), '2024-05-01T10:00:00.000000Z');
  assert.equal(parseMicroTime('2024-05-01T10:00:00.123456Z'), t0 + 123.456);
  assert.equal(parseMicroTime('2024-05-01T10:00:00Z'), t0);
  assert.equal(parseMicroTime('2024-05-01T12:00:00.5+02:00'), t0 + 500);
  assert.equal(parseMicroTime(null), undefined);
  assert.equal(parseMicroTime('yesterday'), undefined);
  for (const ms of [t0, t0 + 1, t0 + 999.999, t0 + 86_400_000.25]) {
    assert.ok(Math.abs(parseMicroTime(microTime(ms))! - ms) < 0.002, `round trip of ${ms}`);
  }
});

test('no Lease yet: create it', () => {
  assert.deepEqual(decideLease(undefined, 'a', t0, t0, 15), { kind: 'create' });
});

test('my own Lease: renew it, however old', () => {
  assert.deepEqual(decideLease(held('a', t0 - 1000), 'a', t0, t0, 15), { kind: 'renew' });
  assert.deepEqual(decideLease(held('a', t0 - 3_600_000), 'a', t0, t0, 15), { kind: 'renew' });
});

test("another's live Lease: follow; taken over only once this frontend has seen it unchanged for its duration", () => {
  const lease = held('b', t0);
  // Seen changing at t0 (this frontend's monotonic clock): alive until t0 + 15 s.
  assert.deepEqual(decideLease(lease, 'a', t0 + 14_999, t0, 15), { kind: 'follow', holder: 'b' });
  assert.deepEqual(decideLease(lease, 'a', t0 + 15_000, t0, 15), { kind: 'follow', holder: 'b' }, 'exactly at the end: still alive');
  assert.deepEqual(decideLease(lease, 'a', t0 + 15_001, t0, 15), { kind: 'acquire', previousHolder: 'b' });
  assert.deepEqual(decideLease(lease, 'a', t0 + 15_001, t0 + 10_000, 15), { kind: 'follow', holder: 'b' }, 'it changed 5 s ago');
});

test("the Lease's own duration counts, not the follower's default", () => {
  const lease = held('b', t0, 60);
  assert.equal(decideLease(lease, 'a', t0 + 30_000, t0, 15).kind, 'follow');
  assert.equal(decideLease(lease, 'a', t0 + 60_001, t0, 15).kind, 'acquire');
  const noDuration: LeaseObject = { ...lease, spec: { ...lease.spec, leaseDurationSeconds: undefined } };
  assert.equal(decideLease(noDuration, 'a', t0 + 15_001, t0, 15).kind, 'acquire', 'without one, the default');
});

test('a released Lease (no holder) is taken at once', () => {
  const released = releasedLease(held('b', t0), t0);
  assert.deepEqual(decideLease(released, 'a', t0 + 1, t0 + 1, 15), { kind: 'acquire', previousHolder: null });
  const empty = held('', t0);
  assert.deepEqual(decideLease(empty, 'a', t0 + 1, t0 + 1, 15), { kind: 'acquire', previousHolder: null });
});

test('clocks apart: the times written in the Lease never make a live one look expired, nor an abandoned one alive', () => {
  // This frontend's clock runs an hour ahead of the holder's: the renewTime it reads is an hour old,
  // yet the Lease changed just now, so it is alive.
  const behind = held('b', t0 - 3_600_000);
  assert.deepEqual(decideLease(behind, 'a', t0, t0 - 1000, 15), { kind: 'follow', holder: 'b' });
  assert.equal(leaseExpired(behind, t0 + 14_000, t0, 15), false);
  // The holder's clock runs an hour ahead: a renewTime in the future keeps nothing alive once the Lease stops changing.
  const ahead = held('b', t0 + 3_600_000);
  assert.equal(leaseExpired(ahead, t0 + 10_000, t0, 15), false, 'seen unchanged for 10 s');
  assert.equal(leaseExpired(ahead, t0 + 15_001, t0, 15), true, 'seen unchanged for 15 s');
});

test('a Lease without times is judged the same way, by when it was seen to change', () => {
  const lease: LeaseObject = { metadata: { name: 'x' }, spec: { holderIdentity: 'b', leaseDurationSeconds: 15 } };
  assert.equal(leaseExpired(lease, t0, t0, 15), false);
  assert.equal(leaseExpired(lease, t0 + 15_001, t0, 15), true);
});

test('a new Lease: held by me, acquired and renewed now, no transitions yet, my labels', () => {
  const lease = newLease({ name: 'clipper-c-manager', namespace: 'ns', identity: 'a', leaseDurationS: 15, nowMs: t0, labels: { x: 'y' } });
  assert.deepEqual(lease, {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'clipper-c-manager', namespace: 'ns', labels: { x: 'y' } },
    spec: {
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: '2024-05-01T10:00:00.000000Z',
      renewTime: '2024-05-01T10:00:00.000000Z',
      leaseTransitions: 0,
    },
  });
});

test('renewing moves only renewTime; the resourceVersion read is kept for the replace', () => {
  const before = held('a', t0 - 5000);
  const after = renewedLease(before, 'a', 15, t0);
  assert.equal(after.metadata.resourceVersion, '7');
  assert.equal(after.spec?.renewTime, microTime(t0));
  assert.equal(after.spec?.acquireTime, before.spec?.acquireTime);
  assert.equal(after.spec?.leaseTransitions, 3);
  assert.equal(after.spec?.holderIdentity, 'a');
  assert.equal(before.spec?.renewTime, microTime(t0 - 5000), 'the Lease read is not changed');
});

test('taking over: new holder, acquireTime and renewTime now, one more transition', () => {
  const after = acquiredLease(held('b', t0 - 20_000, 15), 'a', 15, t0);
  assert.deepEqual(after.spec, {
    holderIdentity: 'a',
    leaseDurationSeconds: 15,
    acquireTime: microTime(t0),
    renewTime: microTime(t0),
    leaseTransitions: 4,
  });
  assert.equal(after.metadata.resourceVersion, '7');
  assert.equal(acquiredLease(releasedLease(held('b', t0), t0), 'a', 15, t0).spec?.leaseTransitions, 4, 'after a release too');
});

test('releasing clears the holder and keeps the rest', () => {
  const after = releasedLease(held('a', t0 - 1000), t0);
  assert.equal('holderIdentity' in (after.spec ?? {}), false);
  assert.equal(after.spec?.leaseTransitions, 3);
  assert.equal(after.spec?.renewTime, microTime(t0));
  assert.equal(after.metadata.resourceVersion, '7');
});

test('a leader steps down after two thirds of the duration without a renewal, before anyone may take over', () => {
  assert.equal(renewDeadlineMs(15), 10_000);
  assert.equal(mustStepDown(t0, t0 + 9_999, 15), false);
  assert.equal(mustStepDown(t0, t0 + 10_000, 15), true);
  // A follower takes over only 15 s after it saw the last renewal: the old leader has stopped by then.
  const lease = held('a', t0);
  assert.equal(decideLease(lease, 'b', t0 + 10_000, t0, 15).kind, 'follow');
});
