// The faults a test can inject into the fake Kubernetes API server (test/helpers/fake_kube_api.ts):
// a Status (or a reset connection) for the next matching requests, and delays. A delay holds a
// request either before the server handles it (as a request waiting in a busy API server's queue:
// dropped, never handled, when its client gave up meanwhile) or after (handled at once, the answer
// held back: a write that landed although its client never heard so).

import type { route } from './fake_kube_routes.js';

export interface FailMatch {
  method?: string;
  /** A resource ('deployments') or a subresource ('pods/log', 'deployments/scale'). */
  resource?: string;
  watch?: boolean;
}

export interface Fault extends FailMatch {
  status: number;
  reason: string;
  message: string | undefined;
  times: number;
}

export interface DelayOptions {
  delayMs: number;
  /** 'before': held before it is handled (dropped if the client went away); 'after': handled at once, answered late. */
  when: 'before' | 'after';
  /** How many matching requests (default 1; Infinity for all). */
  times?: number;
}

/** What became of a delayed request: handled (its change made), or dropped because its client had gone. */
export type DelayOutcome = 'handled' | 'dropped';

export interface DelayedRequests {
  /** One entry per delayed request, once its delay is over. */
  readonly outcomes: DelayOutcome[];
}

export interface Delay extends FailMatch, DelayedRequests {
  delayMs: number;
  when: 'before' | 'after';
  times: number;
  outcomes: DelayOutcome[];
}

type RouteLike = ReturnType<typeof route>;

function matches(f: FailMatch, method: string, r: RouteLike, watch: boolean): boolean {
  const resource = r !== undefined && 'info' in r ? r.info.resource : undefined;
  const sub = r !== undefined && 'info' in r && r.sub !== undefined ? `${resource}/${r.sub}` : resource;
  return (
    (f.method === undefined || f.method.toUpperCase() === method) &&
    (f.resource === undefined || f.resource === resource || f.resource === sub) &&
    (f.watch === undefined || f.watch === watch)
  );
}

/** The faults planned for the fake; each one matched counts down its `times`. */
export class FaultPlan {
  #faults: Fault[] = [];
  #delays: Delay[] = [];

  fail(fault: Fault): void {
    this.#faults.push(fault);
  }

  delay(match: FailMatch, o: DelayOptions): DelayedRequests {
    const delay: Delay = { ...match, delayMs: o.delayMs, when: o.when, times: o.times ?? 1, outcomes: [] };
    this.#delays.push(delay);
    return delay;
  }

  /** Forgets every planned fault and delay (requests already held keep their delay). */
  clear(): void {
    this.#faults = [];
    this.#delays = [];
  }

  takeFailure(method: string, r: RouteLike, watch: boolean): Fault | undefined {
    const fault = this.#faults.find((f) => matches(f, method, r, watch));
    if (fault !== undefined && --fault.times <= 0) this.#faults = this.#faults.filter((f) => f !== fault);
    return fault;
  }

  takeDelay(method: string, r: RouteLike, watch: boolean): Delay | undefined {
    const delay = this.#delays.find((d) => matches(d, method, r, watch));
    if (delay !== undefined && --delay.times <= 0) this.#delays = this.#delays.filter((d) => d !== delay);
    return delay;
  }
}

/** Resolves after `ms`; the timer does not keep a test process alive. */
export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
