// The batching worker's end of the reply ring. Replies that do not fit (the frontend is behind)
// wait in a backlog and are retried on the next flush, so none is lost.

import { DefaultReason, encodeReply, replyFits, ReplyStatus } from '../ipc/records.js';
import type { RingProducer } from '../ipc/ring_buffer.js';

interface PendingReply {
  token: number;
  status: ReplyStatus;
  reason: DefaultReason;
  text: string;
}

export class ReplyWriter {
  readonly #ring: RingProducer;
  #backlog: PendingReply[] = [];
  #backlogHead = 0;
  #written = 0;
  #flushScheduled = false;
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(ring: RingProducer) {
    this.#ring = ring;
  }

  ok(token: number, outputJson: string): void {
    this.#write(token, ReplyStatus.Ok, DefaultReason.None, outputJson);
  }

  fallback(token: number, reason: DefaultReason, detail = ''): void {
    this.#write(token, ReplyStatus.Default, reason, detail);
  }

  get backlogCount(): number {
    return this.#backlog.length - this.#backlogHead;
  }

  /**
   * Retry the backlog and wake the frontend if anything was written since the last flush. Writes
   * schedule a flush on the microtask queue, so a burst (all results of one socket read) wakes the
   * frontend once.
   */
  flush(): void {
    this.#flushScheduled = false;
    while (this.#backlogHead < this.#backlog.length) {
      const r = this.#backlog[this.#backlogHead]!;
      if (!this.#tryWrite(r.token, r.status, r.reason, r.text)) break;
      this.#backlogHead++;
    }
    if (this.#backlogHead === this.#backlog.length) {
      this.#backlog = [];
      this.#backlogHead = 0;
    }
    if (this.#written > 0) {
      this.#written = 0;
      this.#ring.wake();
    }
    if (this.backlogCount > 0 && this.#retryTimer === null) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null;
        this.flush();
      }, 1);
    }
  }

  close(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      if (this.#flushScheduled) this.flush();
    });
  }

  #write(token: number, status: ReplyStatus, reason: DefaultReason, text: string): void {
    if (!replyFits(this.#ring, text)) {
      // Could never fit: answer with the default output and say why, instead of waiting forever.
      status = ReplyStatus.Default;
      reason = DefaultReason.ModelError;
      text = `model output of ${text.length} characters exceeds the reply ring's record limit`;
    }
    if (this.backlogCount > 0 || !this.#tryWrite(token, status, reason, text)) {
      this.#backlog.push({ token, status, reason, text });
    }
    this.#scheduleFlush();
  }

  #tryWrite(token: number, status: ReplyStatus, reason: DefaultReason, text: string): boolean {
    if (!encodeReply(this.#ring, token, status, reason, text)) return false;
    this.#written++;
    return true;
  }
}
