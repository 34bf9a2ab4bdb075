// Leader election among the frontends of one cluster on a coordination.k8s.io/v1 Lease, so that
// exactly one of them (the Kubernetes manager's leader) writes Deployments while the others only
// follow. The rules (take over only a free or expired Lease, what to write) are lease_rules.ts; this
// file runs them: read the Lease, create / renew / take it over with optimistic concurrency (a
// replace carries the resourceVersion read, so a 409 Conflict means someone else wrote first),
// renew every `renewMs` while leading, retry every `retryMs` while following. A leader that could
// not renew for two thirds of the duration steps down on its own (a timer, so a hung request
// cannot keep it leading); close() releases a Lease that still names this frontend (holderIdentity
// cleared) so that another frontend takes over at once instead of after the duration. Expiry and
// the renew deadline are measured on this process's monotonic clock; the wall clock only writes the
// Lease's times.

import type { KubeConfig } from '@kubernetes/client-node';
import { ClipperError } from '../../errors.js';
import { monotonicNowMs } from '../../lib/clock.js';
import { kubeError, kubeStatusCode } from './kube_errors.js';
import { isAbortError, kubeRequestJson, kubeServer } from './kube_request.js';
import {
  acquiredLease,
  decideLease,
  type LeaseObject,
  leaseHolder,
  mustStepDown,
  newLease,
  releasedLease,
  renewDeadlineMs,
  renewedLease,
} from './lease_rules.js';

export interface LeaderLeaseOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The Lease's name, e.g. clipper-<cluster>-manager. */
  name: string;
  /** This frontend (pod name + pid): unique among the candidates. */
  identity: string;
  leaseDurationS?: number; // default 15
  /** Try to renew this often while leading (default 5000); must be under two thirds of the duration. */
  renewMs?: number;
  /** A follower retries acquiring this often; also the retry after a failed request (default 2000). */
  retryMs?: number;
  /** Wall-clock time in ms, for the times written in the Lease; default Date.now. */
  clock?: () => number;
  /** Monotonic time in ms, for expiry and the renew deadline (injected for tests); default performance-based. */
  monotonicClock?: () => number;
  /** Labels put on the Lease when this frontend creates it. */
  labels?: Record<string, string>;
  /** Became leader. */
  onLeading(): void;
  /** Lost the lead, or found another holder when it started (holder null: unknown). */
  onFollowing(holder: string | null): void;
  log?(line: string): void;
}

type Role = 'unknown' | 'leading' | 'following';

function validate(o: LeaderLeaseOptions): { durationS: number; renewMs: number; retryMs: number } {
  const bad = (what: string): never => {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `leader lease: ${what}`);
  };
  const durationS = o.leaseDurationS ?? 15;
  const renewMs = o.renewMs ?? 5000;
  const retryMs = o.retryMs ?? 2000;
  if (!Number.isInteger(durationS) || durationS < 1) bad(`leaseDurationS must be a whole number of seconds >= 1 (got ${durationS})`);
  if (!(renewMs > 0 && renewMs < renewDeadlineMs(durationS))) {
    bad(`renewMs must be > 0 and under two thirds of leaseDurationS (${renewDeadlineMs(durationS)} ms) (got ${renewMs})`);
  }
  if (!(retryMs > 0)) bad(`retryMs must be > 0 (got ${retryMs})`);
  if (o.identity === '') bad('identity must not be empty (it names this frontend in the Lease)');
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(o.name)) bad(`name must be a DNS subdomain name (got ${JSON.stringify(o.name)})`);
  return { durationS, renewMs, retryMs };
}

export class LeaderLease {
  readonly #o: LeaderLeaseOptions;
  readonly #durationS: number;
  readonly #renewMs: number;
  readonly #retryMs: number;
  readonly #wall: () => number;
  readonly #now: () => number;
  #role: Role = 'unknown';
  #holder: string | null = null;
  #lastRenewMs = 0;
  /** The Lease's resourceVersion last seen (null: none yet) and when it was first seen (monotonic): what expiry is judged by. */
  #seen: { version: string | null; sinceMs: number } = { version: null, sinceMs: 0 };
  #started = false;
  #closed = false;
  #tickTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #abort: AbortController | undefined;
  #inFlight: Promise<void> | undefined;
  #lastError = '';
  /** The verb of the request in flight, for messages. */
  #verb = 'get';
  /** True from a write of this frontend's identity until a read shows another holder: close() must then release. */
  #mayHold = false;
  /** Conflicts in a row: only the first is looked at again at once. */
  #conflicts = 0;

  constructor(o: LeaderLeaseOptions) {
    const v = validate(o);
    this.#o = o;
    this.#durationS = v.durationS;
    this.#renewMs = v.renewMs;
    this.#retryMs = v.retryMs;
    this.#wall = o.clock ?? Date.now;
    this.#now = o.monotonicClock ?? monotonicNowMs;
  }

  get isLeader(): boolean {
    return this.#role === 'leading';
  }

  /** The identity holding the Lease as last seen (this frontend's own while leading); null when free or unknown. */
  get holder(): string | null {
    return this.#holder;
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule(0);
  }

  /** Stops the loop; releases the Lease (holderIdentity cleared) if it may still name this frontend. Calls no callback. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#tickTimer);
    clearTimeout(this.#deadlineTimer);
    this.#abort?.abort();
    await this.#inFlight;
    this.#role = 'following';
    if (this.#mayHold) await this.#release();
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/leases`;
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#tickTimer = setTimeout(() => {
      this.#inFlight = this.#tick().finally(() => {
        this.#inFlight = undefined;
      });
    }, delayMs);
    this.#tickTimer.unref();
  }

  async #request<T>(method: 'GET' | 'POST' | 'PUT', name: string, body?: LeaseObject): Promise<T> {
    this.#abort = new AbortController();
    this.#verb = method === 'GET' ? 'get' : method === 'POST' ? 'create' : 'update';
    if (method !== 'GET') this.#mayHold = true;
    const r = { method, path: name === '' ? this.#path : `${this.#path}/${encodeURIComponent(name)}`, signal: this.#abort.signal };
    return await kubeRequestJson<T>(this.#o.kubeConfig, {
      ...r,
      ...(body === undefined ? {} : { body }),
      timeoutMs: Math.max(1000, renewDeadlineMs(this.#durationS) / 2),
    });
  }

  async #read(): Promise<LeaseObject | undefined> {
    try {
      return await this.#request<LeaseObject>('GET', this.#o.name);
    } catch (err) {
      if (kubeStatusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** One round: read, decide, write; then schedules the next. Never throws. */
  async #tick(): Promise<void> {
    let nextMs = this.#retryMs;
    try {
      const lease = await this.#read();
      if (this.#closed) return;
      const nowMs = this.#now();
      this.#observe(lease, nowMs);
      const action = decideLease(lease, this.#o.identity, nowMs, this.#seen.sinceMs, this.#durationS);
      if (action.kind === 'follow') {
        // Read back naming another holder: nothing of this frontend's is left to release.
        this.#mayHold = false;
        this.#follow(action.holder);
      } else {
        const wallMs = this.#wall();
        const written =
          action.kind === 'create'
            ? await this.#request<LeaseObject>('POST', '', this.#newLease(wallMs))
            : await this.#request<LeaseObject>('PUT', this.#o.name, this.#nextLease(action.kind, lease!, wallMs));
        if (this.#closed) return;
        this.#observe(written, nowMs);
        this.#lead(nowMs);
        nextMs = this.#renewMs;
      }
      this.#lastError = '';
      this.#conflicts = 0;
    } catch (err) {
      if (this.#closed && isAbortError(err)) return;
      nextMs = this.#failed(err);
    }
    this.#schedule(nextMs);
  }

  #newLease(nowMs: number): LeaseObject {
    const { name, namespace, identity, labels } = this.#o;
    return newLease({ name, namespace, identity, leaseDurationS: this.#durationS, nowMs, ...(labels === undefined ? {} : { labels }) });
  }

  #nextLease(kind: 'renew' | 'acquire', lease: LeaseObject, nowMs: number): LeaseObject {
    return kind === 'renew'
      ? renewedLease(lease, this.#o.identity, this.#durationS, nowMs)
      : acquiredLease(lease, this.#o.identity, this.#durationS, nowMs);
  }

  /** Notes the Lease read or written at `nowMs` (monotonic): a new resourceVersion restarts its expiry. */
  #observe(lease: LeaseObject | undefined, nowMs: number): void {
    const version = lease?.metadata.resourceVersion ?? '';
    if (version !== this.#seen.version) this.#seen = { version, sinceMs: nowMs };
    this.#holder = leaseHolder(lease);
  }

  /** A failed round: a first conflict (someone wrote first) is looked at again at once; anything else waits. */
  #failed(err: unknown): number {
    if (kubeStatusCode(err) === 409) return ++this.#conflicts === 1 ? 0 : this.#retryMs;
    const message = this.#describe(err);
    if (message !== this.#lastError) this.#o.log?.(`leader lease ${this.#o.name}: ${message}; retrying every ${this.#retryMs} ms`);
    this.#lastError = message;
    if (this.#role === 'leading' && mustStepDown(this.#lastRenewMs, this.#now(), this.#durationS)) this.#stepDown();
    return Math.min(this.#retryMs, this.#renewMs);
  }

  #describe(err: unknown): string {
    const { namespace, name, kubeConfig } = this.#o;
    return kubeError(err, { verb: this.#verb, resource: 'leases', namespace, name, server: kubeServer(kubeConfig) }).message;
  }

  /** The Lease was written at `renewedMs` naming this frontend: lead until the renew deadline after it. */
  #lead(renewedMs: number): void {
    this.#lastRenewMs = renewedMs;
    clearTimeout(this.#deadlineTimer);
    // A write that took long may land after its own deadline: it counts for nothing.
    const leftMs = renewDeadlineMs(this.#durationS) - (this.#now() - renewedMs);
    if (leftMs <= 0) return this.#stepDown();
    this.#deadlineTimer = setTimeout(() => this.#stepDown(), leftMs);
    this.#deadlineTimer.unref();
    if (this.#role === 'leading') return;
    this.#role = 'leading';
    this.#o.log?.(`leader lease ${this.#o.name}: ${this.#o.identity} leads`);
    this.#o.onLeading();
  }

  #follow(holder: string | null): void {
    if (this.#role === 'following') return;
    clearTimeout(this.#deadlineTimer);
    const was = this.#role;
    this.#role = 'following';
    if (was === 'leading')
      this.#o.log?.(`leader lease ${this.#o.name}: ${this.#o.identity} lost the lead to ${holder ?? 'an unknown holder'}`);
    this.#o.onFollowing(holder);
  }

  /**
   * No successful renewal for too long: stop acting as leader before anyone else may take over. The
   * Lease may still name this frontend (#mayHold stays set), so close() still releases it.
   */
  #stepDown(): void {
    if (this.#closed || this.#role !== 'leading') return;
    this.#o.log?.(`leader lease ${this.#o.name}: no renewal for ${renewDeadlineMs(this.#durationS)} ms: stepping down`);
    this.#holder = null;
    this.#follow(null);
  }

  /** Clears the holder if it is still this frontend (read fresh: an aborted renewal may have landed). */
  async #release(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const lease = await this.#read();
        if (lease === undefined || leaseHolder(lease) !== this.#o.identity) return;
        await this.#request('PUT', this.#o.name, releasedLease(lease, this.#wall()));
        this.#holder = null;
        return;
      } catch (err) {
        if (kubeStatusCode(err) === 409) continue;
        this.#o.log?.(
          `leader lease ${this.#o.name}: could not release it (others take over after ${this.#durationS} s): ${this.#describe(err)}`,
        );
        return;
      }
    }
  }
}
