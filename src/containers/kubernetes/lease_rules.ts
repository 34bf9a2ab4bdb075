// The decisions of leader election on a coordination.k8s.io/v1 Lease, as pure functions of the
// Lease last read, this frontend's identity and the time: may I take it, is it expired, what do I
// write. leader_lease.ts does the requests and the timers; test/unit/k8s_lease.test.ts checks these
// rules with made-up times.
//
// Times on the Lease are MicroTime (RFC 3339 with microseconds), written by each holder from its own
// wall clock, so they say nothing reliable to another frontend whose clock may run ahead or behind.
// Expiry is therefore judged as client-go's leader election judges it: only by when THIS frontend
// last saw the Lease change (any write bumps its resourceVersion), on its own monotonic clock, plus
// the Lease's duration. renewTime is for people reading the Lease.

/** The Lease as it travels (the fields leader election reads and writes). */
export interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
    [key: string]: unknown;
  };
}

export type LeaseAction =
  /** No Lease yet: create it, holding it. */
  | { kind: 'create' }
  /** I hold it: write a new renewTime. */
  | { kind: 'renew' }
  /** Free (no holder) or expired: take it over. */
  | { kind: 'acquire'; previousHolder: string | null }
  /** Someone else holds it and it is alive. */
  | { kind: 'follow'; holder: string };

/** `ms` (since the epoch) as a Kubernetes MicroTime: 2024-05-01T10:00:00.123456Z. */
export function microTime(ms: number): string {
  const whole = Math.floor(ms);
  const micros = Math.min(999, Math.floor((ms - whole) * 1000));
  return `${new Date(whole).toISOString().slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

/** A MicroTime or RFC 3339 time in ms since the epoch (undefined when absent or unreadable). */
export function parseMicroTime(text: string | null | undefined): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (m === null) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  const fraction = m[2] === undefined ? 0 : Number(`0.${m[2]}`);
  return seconds + fraction * 1000;
}

/** Who holds the Lease (null when nobody: never held, or released). */
export function leaseHolder(lease: LeaseObject | undefined): string | null {
  const holder = lease?.spec?.holderIdentity;
  return typeof holder === 'string' && holder !== '' ? holder : null;
}

/**
 * Whether the holder of `lease` has let it lapse at `nowMs`: this frontend has seen the Lease
 * unchanged since `observedAtMs` for longer than its duration. Both times are this frontend's own
 * monotonic clock; the times written in the Lease (another machine's clock) are not used.
 */
export function leaseExpired(lease: LeaseObject, nowMs: number, observedAtMs: number, defaultDurationS: number): boolean {
  const durationS = lease.spec?.leaseDurationSeconds;
  const durationMs = (typeof durationS === 'number' && durationS > 0 ? durationS : defaultDurationS) * 1000;
  return observedAtMs + durationMs < nowMs;
}

/**
 * What `identity` should do about `lease` (undefined: there is none) at `nowMs`, having seen it
 * change last at `observedAtMs` (both on this frontend's monotonic clock).
 */
export function decideLease(
  lease: LeaseObject | undefined,
  identity: string,
  nowMs: number,
  observedAtMs: number,
  defaultDurationS: number,
): LeaseAction {
  if (lease === undefined) return { kind: 'create' };
  const holder = leaseHolder(lease);
  if (holder === identity) return { kind: 'renew' };
  if (holder === null || leaseExpired(lease, nowMs, observedAtMs, defaultDurationS)) {
    return { kind: 'acquire', previousHolder: holder };
  }
  return { kind: 'follow', holder };
}

export interface NewLeaseOptions {
  name: string;
  namespace: string;
  identity: string;
  leaseDurationS: number;
  nowMs: number;
  labels?: Record<string, string>;
}

/** A new Lease held by `identity` since `nowMs`. */
export function newLease(o: NewLeaseOptions): LeaseObject {
  const now = microTime(o.nowMs);
  const metadata: LeaseObject['metadata'] = { name: o.name, namespace: o.namespace };
  if (o.labels !== undefined) metadata.labels = { ...o.labels };
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata,
    spec: { holderIdentity: o.identity, leaseDurationSeconds: o.leaseDurationS, acquireTime: now, renewTime: now, leaseTransitions: 0 },
  };
}

/** `lease` (held by `identity`) renewed at `nowMs`; its resourceVersion is kept for the replace. */
export function renewedLease(lease: LeaseObject, identity: string, leaseDurationS: number, nowMs: number): LeaseObject {
  return {
    ...lease,
    spec: { ...lease.spec, holderIdentity: identity, leaseDurationSeconds: leaseDurationS, renewTime: microTime(nowMs) },
  };
}

/** `lease` taken over by `identity` at `nowMs`: a new acquireTime, and one more transition when the holder changes. */
export function acquiredLease(lease: LeaseObject, identity: string, leaseDurationS: number, nowMs: number): LeaseObject {
  const now = microTime(nowMs);
  const transitions = lease.spec?.leaseTransitions ?? 0;
  return {
    ...lease,
    spec: {
      ...lease.spec,
      holderIdentity: identity,
      leaseDurationSeconds: leaseDurationS,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: leaseHolder(lease) === identity ? transitions : transitions + 1,
    },
  };
}

/** `lease` given up at `nowMs`: no holder, so the next frontend to look takes it at once. */
export function releasedLease(lease: LeaseObject, nowMs: number): LeaseObject {
  const { holderIdentity: _dropped, ...spec } = lease.spec ?? {};
  return { ...lease, spec: { ...spec, renewTime: microTime(nowMs) } };
}

/**
 * How long a leader keeps leading without a successful renewal: two thirds of the lease duration,
 * so that it has stopped before any other frontend may take the Lease over (at the full duration).
 */
export function renewDeadlineMs(leaseDurationS: number): number {
  return Math.floor((leaseDurationS * 1000 * 2) / 3);
}

/** Whether a leader whose last successful renewal was written at `lastRenewMs` must step down at `nowMs`. */
export function mustStepDown(lastRenewMs: number, nowMs: number, leaseDurationS: number): boolean {
  return nowMs - lastRenewMs >= renewDeadlineMs(leaseDurationS);
}
