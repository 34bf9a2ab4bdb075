// What a frontend thread asks the main thread for, because only main has it: the /metrics documents
// (main's Metrics adds up every thread's counters and the batching workers') and the batching
// workers' actor stats (OIP statistics). One 'ask' per request, answered by an 'answer' with its
// requestId; a request main does not answer within kAskTimeoutMs fails rather than hanging its client.

import { ClipperError, fromWireError } from '../errors.js';
import type { ModelStatsSource } from '../frontend/oip/stats.js';
import type { Clock } from '../lib/clock.js';
import type { FrontendAsk, FrontendError, FrontendEvent } from './messages.js';

/** How long a request waits for main's answer (a metrics scrape reads every thread, bounded by its own timeout). */
export const kAskTimeoutMs = 10_000;

interface AskWaiter {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: unknown;
}

/** An answer of the wrong shape fails its request (a 500), rather than the thread. */
function wrongAnswer(what: FrontendAsk): ClipperError {
  return new ClipperError('CLP_ERR_INTERNAL', `the main thread's answer to ${what} has the wrong shape`);
}

function askError(error: FrontendError): ClipperError {
  return typeof error === 'string' ? new ClipperError('CLP_ERR_INTERNAL', error) : fromWireError(error);
}

export class MainAsks {
  readonly #post: (event: FrontendEvent) => void;
  readonly #clock: Clock;
  readonly #waiters = new Map<number, AskWaiter>();
  #nextRequestId = 1;
  #closed = false;

  constructor(post: (event: FrontendEvent) => void, clock: Clock) {
    this.#post = post;
    this.#clock = clock;
  }

  /** Asks main; resolves with its answer's value (the caller knows the type `what` answers with). */
  ask(what: FrontendAsk, format?: string): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClipperError('CLP_ERR_INTERNAL', 'the server is shutting down'));
    const requestId = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimer(kAskTimeoutMs, () => {
        this.#waiters.delete(requestId);
        reject(new ClipperError('CLP_ERR_INTERNAL', `the main thread did not answer (${what}) within ${kAskTimeoutMs} ms`));
      });
      this.#waiters.set(requestId, { resolve, reject, timer });
      this.#post(format === undefined ? { kind: 'ask', requestId, what } : { kind: 'ask', requestId, what, format });
    });
  }

  /** GET /metrics as text: main's Metrics (Prometheus or OpenMetrics). */
  async metricsText(format: string): Promise<{ contentType: string; body: string }> {
    const value = (await this.ask('metrics_text', format)) as { contentType?: unknown; body?: unknown } | null;
    if (typeof value?.contentType !== 'string' || typeof value.body !== 'string') throw wrongAnswer('metrics_text');
    return { contentType: value.contentType, body: value.body };
  }

  /** GET /metrics as Clipper's JSON document. */
  async metricsJson(): Promise<string> {
    const value = await this.ask('metrics_json');
    if (typeof value !== 'string') throw wrongAnswer('metrics_json');
    return value;
  }

  /** The batching workers' model actor stats (OIP statistics). */
  async actorStats(): Promise<readonly ModelStatsSource[]> {
    const value = await this.ask('actor_stats');
    if (!Array.isArray(value)) throw wrongAnswer('actor_stats');
    return value as ModelStatsSource[];
  }

  /** Main's answer to one ask (a late one, after its timeout, is dropped). */
  onAnswer(requestId: number, value: unknown, error: FrontendError | null): void {
    const waiter = this.#waiters.get(requestId);
    if (waiter === undefined) return;
    this.#waiters.delete(requestId);
    this.#clock.clearTimer(waiter.timer);
    if (error === null) waiter.resolve(value);
    else waiter.reject(askError(error));
  }

  /** Open asks fail (the thread is closing), and so do later ones. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.values()) {
      this.#clock.clearTimer(waiter.timer);
      waiter.reject(new ClipperError('CLP_ERR_INTERNAL', 'the server is shutting down'));
    }
    this.#waiters.clear();
  }
}
