// Per-level measurement window. Only requests whose INTENDED send time falls inside
// [windowStartMs, windowEndMs) count; warmup traffic before it and traffic after it are ignored.
// Latency = completion time − intended send time. In the open loop the intended time comes from
// the arrival schedule, not from when the generator got round to sending, so a stall (in the
// server, the network or the generator itself) is charged to every request queued behind it:
// no coordinated omission (the wrk2 method). In the closed loop the intended time is the send time.

import { Histogram } from './histogram.js';

export class LevelRecorder {
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly sloMs: number;
  readonly latencyUs = new Histogram();
  /** Generator lateness (actual send − intended send), open loop only. */
  readonly sendLagUs = new Histogram();
  sent = 0;
  /** Answers of any HTTP status. */
  responses = 0;
  /** 2xx answers, default outputs included. */
  okResponses = 0;
  /** Successful answers: 2xx and not a default output. */
  successCount = 0;
  /** Successful answers that ARRIVED inside the window, whenever intended: the basis for throughput. */
  successCompletedInWindow = 0;
  /** 2xx answers that were default outputs. */
  defaults = 0;
  /** Successful answers within the SLO. */
  withinSlo = 0;
  /** Requests that got no answer at all (refused, reset, timed out), by kind. */
  transportErrorCount = 0;
  readonly transportErrors = new Map<string, number>();
  readonly #statusCounts = new Map<number, number>();
  #status200 = 0;

  constructor(windowStartMs: number, windowEndMs: number, sloMs: number) {
    this.windowStartMs = windowStartMs;
    this.windowEndMs = windowEndMs;
    this.sloMs = sloMs;
  }

  inWindow(intendedMs: number): boolean {
    return intendedMs >= this.windowStartMs && intendedMs < this.windowEndMs;
  }

  /** Responses by HTTP status code. */
  get statusCounts(): Map<number, number> {
    const out = new Map(this.#statusCounts);
    if (this.#status200 > 0) out.set(200, this.#status200);
    return new Map([...out].sort((a, b) => a[0] - b[0]));
  }

  get outstanding(): number {
    return this.sent - this.responses - this.transportErrorCount;
  }

  /** A request was sent; `actualMs` (open loop only) also records how late the generator sent it. */
  onSent(intendedMs: number, actualMs?: number): void {
    if (!this.inWindow(intendedMs)) return;
    this.sent++;
    if (actualMs !== undefined) this.sendLagUs.record(actualMs > intendedMs ? (actualMs - intendedMs) * 1000 : 0);
  }

  onResponse(intendedMs: number, nowMs: number, status: number, isDefault: boolean): void {
    const success = status >= 200 && status < 300 && !isDefault;
    if (success && nowMs >= this.windowStartMs && nowMs < this.windowEndMs) this.successCompletedInWindow++;
    if (!this.inWindow(intendedMs)) return;
    const latencyMs = nowMs - intendedMs;
    this.responses++;
    this.latencyUs.record(latencyMs * 1000);
    if (status === 200) this.#status200++;
    else this.#statusCounts.set(status, (this.#statusCounts.get(status) ?? 0) + 1);
    if (status >= 200 && status < 300) {
      this.okResponses++;
      if (isDefault) this.defaults++;
    }
    if (success) {
      this.successCount++;
      if (latencyMs <= this.sloMs) this.withinSlo++;
    }
  }

  onError(intendedMs: number, kind: string): void {
    if (!this.inWindow(intendedMs)) return;
    this.countError(kind);
  }

  /** Requests sent in the window that never finished (drain timed out) count as `kind` errors. */
  failOutstanding(kind: string): void {
    const n = this.outstanding;
    for (let i = 0; i < n; i++) this.countError(kind);
  }

  private countError(kind: string): void {
    this.transportErrorCount++;
    this.transportErrors.set(kind, (this.transportErrors.get(kind) ?? 0) + 1);
  }
}
