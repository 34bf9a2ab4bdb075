// The page's end of GET /dashboard/stream: reads the Server-Sent Events with fetch() (so it can
// send the admin token), hands each history and snapshot event on, and keeps reconnecting with
// backoff when the stream ends or breaks (a server restart), waiting for a token when the server
// answers 401/403. A stream silent for four pings (the server pings every 5 s, dashboard_streams.ts) is
// treated as dead and reopened.

import { describeAnswer } from './format.js';
import { SseParser } from './sse_parser.js';
import type { HistoryEvent, Snapshot } from './types.js';

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'unauthorized';

export interface StreamHandlers {
  onHistory(history: HistoryEvent): void;
  onSnapshot(snapshot: Snapshot): void;
  /** Every change of state; `detail` says why when the stream is not live. */
  onState(state: StreamState, detail: string | null): void;
}

export interface StreamOptions {
  /** First wait before reconnecting; doubles up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** No bytes (not even a ping) for this long: the connection is dead. */
  stallMs: number;
  now: () => number;
  /** 0..1, spreads the reconnects of many pages after a restart. */
  random: () => number;
}

const kDefaults: StreamOptions = { initialDelayMs: 500, maxDelayMs: 5000, stallMs: 20_000, now: () => Date.now(), random: Math.random };

type Outcome = { kind: 'ended' | 'error' | 'unauthorized'; detail: string };

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class StreamClient {
  readonly #url: string;
  readonly #token: () => string | null;
  readonly #on: StreamHandlers;
  readonly #opts: StreamOptions;
  #stopped = true;
  #abort: AbortController | null = null;
  /** Ends the current wait (backoff or waiting for a token) early. */
  #wake: (() => void) | null = null;
  /** Set by reconnectNow: the next connection starts without a backoff wait. */
  #hurry = false;

  constructor(url: string, token: () => string | null, handlers: StreamHandlers, opts: Partial<StreamOptions> = {}) {
    this.#url = url;
    this.#token = token;
    this.#on = handlers;
    this.#opts = { ...kDefaults, ...opts };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
    this.#wake?.();
  }

  /** Drops the current connection or wait and connects now (a new token was entered). */
  reconnectNow(): void {
    this.#hurry = true;
    this.#abort?.abort();
    this.#wake?.();
  }

  async #run(): Promise<void> {
    let delayMs = this.#opts.initialDelayMs;
    while (!this.#stopped) {
      this.#on.onState('connecting', null);
      const { outcome, gotData } = await this.#once();
      if (this.#stopped) return;
      if (gotData) delayMs = this.#opts.initialDelayMs;
      if (this.#hurry) {
        this.#hurry = false;
        continue;
      }
      if (outcome.kind === 'unauthorized') {
        this.#on.onState('unauthorized', outcome.detail);
        await this.#wait(null);
        this.#hurry = false;
        delayMs = this.#opts.initialDelayMs;
        continue;
      }
      const waitMs = Math.round(delayMs * (0.75 + 0.5 * this.#opts.random()));
      this.#on.onState('reconnecting', `${outcome.detail}; retrying in ${(waitMs / 1000).toFixed(1)} s`);
      await this.#wait(waitMs);
      this.#hurry = false;
      delayMs = Math.min(delayMs * 2, this.#opts.maxDelayMs);
    }
  }

  /** Waits `ms` (null: until reconnectNow or stop). */
  #wait(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const done = (): void => {
        if (timer !== null) clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      this.#wake = done;
      if (ms !== null) timer = setTimeout(done, ms);
    });
  }

  /** One connection, to its end. */
  async #once(): Promise<{ outcome: Outcome; gotData: boolean }> {
    const abort = new AbortController();
    this.#abort = abort;
    const token = this.#token();
    let res: Response;
    try {
      res = await fetch(this.#url, {
        headers: token === null ? {} : { Authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
    } catch (err) {
      return { outcome: { kind: 'error', detail: `cannot reach the server (${errorText(err)})` }, gotData: false };
    }
    if (res.status === 401 || res.status === 403) {
      const body = await res.text().catch(() => '');
      return { outcome: { kind: 'unauthorized', detail: describeAnswer(res.status, body) }, gotData: false };
    }
    if (!res.ok || res.body === null) {
      const body = await res.text().catch(() => '');
      return { outcome: { kind: 'error', detail: `the stream answered ${describeAnswer(res.status, body)}` }, gotData: false };
    }
    this.#on.onState('live', null);
    return this.#read(res.body, abort);
  }

  async #read(body: ReadableStream<Uint8Array>, abort: AbortController): Promise<{ outcome: Outcome; gotData: boolean }> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    let lastByteMs = this.#opts.now();
    let gotData = false;
    const stall = setInterval(
      () => {
        if (this.#opts.now() - lastByteMs > this.#opts.stallMs) abort.abort();
      },
      Math.max(1000, this.#opts.stallMs / 5),
    );
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { outcome: { kind: 'ended', detail: 'the stream ended (server restart?)' }, gotData };
        lastByteMs = this.#opts.now();
        for (const ev of parser.feed(decoder.decode(value, { stream: true }))) gotData = this.#dispatch(ev.event, ev.data) || gotData;
      }
    } catch (err) {
      const why = abort.signal.aborted ? 'the stream went silent or was dropped' : `the stream broke (${errorText(err)})`;
      return { outcome: { kind: 'error', detail: why }, gotData };
    } finally {
      clearInterval(stall);
      reader.cancel().catch(() => {});
    }
  }

  /** Hands one event on; true when it carried data. A malformed event is skipped, not fatal. */
  #dispatch(event: string, data: string): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return false;
    }
    if (event === 'history') {
      const h = parsed as HistoryEvent;
      if (!Array.isArray(h.snapshots)) return false;
      this.#on.onHistory(h);
      return true;
    }
    if (event === 'snapshot') {
      this.#on.onSnapshot(parsed as Snapshot);
      return true;
    }
    return false;
  }
}
