// One Server-Sent Events response on uWS (text/event-stream, chunked): events and comment lines,
// written corked because they are written from timers, not from the request's handler. A client
// that does not read is never given more than its socket already holds: once a write leaves data
// buffered (backpressure), later events are skipped until uWS says the socket drained, and a client
// still blocked after stallMsMax is dropped. So a slow client costs memory for one event, at most.

import type { Clock } from '../lib/clock.js';

/** The part of uWS's HttpResponse a stream uses (tests pass a fake). */
export interface SseResponse {
  cork(cb: () => void): unknown;
  writeStatus(status: string): unknown;
  writeHeader(key: string, value: string): unknown;
  /** False when the chunk was left buffered (backpressure). */
  write(chunk: string): boolean;
  end(): unknown;
  close(): unknown;
  onWritable(handler: (offset: number) => boolean): unknown;
  onAborted(handler: () => void): unknown;
}

export interface SseOptions {
  clock: Clock;
  /** A client whose socket has not drained for this long is dropped. */
  stallMsMax: number;
  /** Response headers besides the content type (e.g. Cache-Control). */
  headers?: Readonly<Record<string, string>>;
}

export const kSseContentType = 'text/event-stream; charset=utf-8';

/** `data:` lines for a payload (one per line of it, as the format requires). */
function dataLines(data: string): string {
  return data.includes('\n')
    ? data
        .split('\n')
        .map((line) => `data: ${line}\n`)
        .join('')
    : `data: ${data}\n`;
}

export class SseStream {
  /** Events not written because the client was still reading earlier ones. */
  skippedCount = 0;
  readonly #res: SseResponse;
  readonly #o: SseOptions;
  readonly #onGone: () => void;
  #open = false;
  #blockedSinceMs: number | null = null;
  #chunk = '';
  #written = false;

  /** `onGone`: called once when the stream ends, whoever ends it (client, end(), a stall). */
  constructor(res: SseResponse, options: SseOptions, onGone: () => void) {
    this.#res = res;
    this.#o = options;
    this.#onGone = onGone;
  }

  get open(): boolean {
    return this.#open;
  }

  get blocked(): boolean {
    return this.#blockedSinceMs !== null;
  }

  /** Answer the request with the stream's headers; call it in the request's handler. */
  start(): void {
    this.#open = true;
    this.#res.onAborted(() => this.#gone());
    this.#res.onWritable(() => {
      this.#blockedSinceMs = null;
      return true;
    });
    this.#res.cork(() => {
      this.#res.writeStatus('200 OK');
      this.#res.writeHeader('Content-Type', kSseContentType);
      for (const [name, value] of Object.entries(this.#o.headers ?? {})) this.#res.writeHeader(name, value);
      // Some proxies hold a response back until its first bytes: a comment sends them now.
      this.#res.write(': stream open\n\n');
    });
  }

  /** Send one event; false when it was skipped (the client is behind) or the stream is over. */
  event(name: string, data: string): boolean {
    return this.#write(`event: ${name}\n${dataLines(data)}\n`);
  }

  /** A comment line (`: text`), e.g. a keep-alive ping. */
  comment(text: string): boolean {
    return this.#write(`: ${text}\n\n`);
  }

  /** End the response cleanly (the client sees the stream end). */
  end(): void {
    if (!this.#open) return;
    this.#res.cork(() => this.#res.end());
    this.#gone();
  }

  #write(chunk: string): boolean {
    if (!this.#open) return false;
    if (this.#blockedSinceMs !== null) {
      if (this.#o.clock.nowMs() - this.#blockedSinceMs >= this.#o.stallMsMax) {
        this.#gone();
        this.#res.close(); // its onAborted finds the stream already gone
      } else {
        this.skippedCount++;
      }
      return false;
    }
    this.#chunk = chunk;
    this.#res.cork(this.#corkedWrite);
    this.#chunk = '';
    if (!this.#written) this.#blockedSinceMs = this.#o.clock.nowMs();
    return true;
  }

  readonly #corkedWrite = (): void => {
    this.#written = this.#res.write(this.#chunk);
  };

  #gone(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#onGone();
  }
}
