// The open dashboard streams of one admin server. A new stream gets `event: history` (the sampler's
// ring, encoded once per new snapshot however many streams open) and then `event: snapshot` for each
// new snapshot, encoded once for every stream, and a `: ping` comment every pingMs so that idle
// proxies and the page can tell a live stream from a dead one. uWS itself does not close a quiet
// response (an SSE stream with no bytes for 25 s stayed open), but a proxy's idle timeout may be
// as short as 10 s, and the page (stream_client.ts) reopens a stream silent for four pings: 5 s
// keeps both well inside their limits at the cost of a few bytes. At most streamsMax streams are
// open at once (each costs a socket and a write per snapshot): one more gets a 503 naming the
// limit. The streams are the sampler's only subscriber: the sampler runs while one is open.

import { ClipperError } from '../errors.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { SnapshotSampler } from './snapshot_sampler.js';
import { SseStream, type SseResponse } from './sse.js';
import type { Snapshot } from './snapshot_types.js';

export interface StreamsOptions {
  clock?: Clock;
  /** Keep-alive comment period (default 5 s). */
  pingMs?: number;
  /** A client that has not read for this long is dropped (default 30 s). */
  stallMsMax?: number;
  /** Streams open at once (default 16); one more is refused with a 503. */
  streamsMax?: number;
}

export const kDefaultPingMs = 5_000;
export const kDefaultStreamsMax = 16;

const kStreamHeaders = { 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no', 'X-Content-Type-Options': 'nosniff' };

export class DashboardStreams {
  readonly #sampler: SnapshotSampler;
  readonly #clock: Clock;
  readonly #pingMs: number;
  readonly #stallMsMax: number;
  readonly #streamsMax: number;
  readonly #streams = new Set<SseStream>();
  #unsubscribe: (() => void) | null = null;
  #pingTimer: unknown = undefined;
  #closed = false;

  constructor(sampler: SnapshotSampler, options: StreamsOptions = {}) {
    this.#sampler = sampler;
    this.#clock = options.clock ?? systemClock;
    this.#pingMs = options.pingMs ?? kDefaultPingMs;
    this.#stallMsMax = options.stallMsMax ?? 30_000;
    this.#streamsMax = options.streamsMax ?? kDefaultStreamsMax;
    if (!(Number.isInteger(this.#streamsMax) && this.#streamsMax > 0)) throw new RangeError('streamsMax must be a positive integer');
  }

  get count(): number {
    return this.#streams.size;
  }

  /** Why a new stream would be refused now (the server is closing, or streamsMax are open), else null. */
  refusal(): ClipperError | null {
    if (this.#closed) return new ClipperError('CLP_ERR_OVERLOADED', 'The admin server is closing: the dashboard stream is not available');
    if (this.#streams.size < this.#streamsMax) return null;
    return new ClipperError(
      'CLP_ERR_OVERLOADED',
      `${this.#streams.size} dashboard streams are open, the most this server serves at once (streamsMax ${this.#streamsMax}): ` +
        'close a dashboard tab or retry later',
      { streamsMax: this.#streamsMax },
    );
  }

  /**
   * Serve one stream on `res` (call it from the request's handler, which must not answer otherwise,
   * after refusal() said null; a refused one here gets a bare 503).
   */
  open(res: SseResponse): void {
    if (this.refusal() !== null) {
      res.cork(() => {
        res.writeStatus('503 Service Unavailable');
        res.end();
      });
      return;
    }
    const stream = new SseStream(res, { clock: this.#clock, stallMsMax: this.#stallMsMax, headers: kStreamHeaders }, () =>
      this.#forget(stream),
    );
    stream.start();
    this.#streams.add(stream);
    stream.event('history', this.#sampler.historyJson());
    if (!stream.open) return;
    this.#unsubscribe ??= this.#sampler.subscribe((snapshot) => this.#broadcast(snapshot));
    if (this.#pingTimer === undefined) this.#armPing();
  }

  /** End every stream (the server is closing); later requests get a 503. */
  closeAll(): void {
    this.#closed = true;
    for (const stream of [...this.#streams]) stream.end();
  }

  #broadcast(snapshot: Snapshot): void {
    const data = JSON.stringify(snapshot);
    for (const stream of [...this.#streams]) stream.event('snapshot', data);
  }

  #armPing(): void {
    this.#pingTimer = this.#clock.setTimer(this.#pingMs, () => {
      this.#pingTimer = undefined;
      for (const stream of [...this.#streams]) stream.comment('ping');
      if (this.#streams.size > 0) this.#armPing();
    });
  }

  #forget(stream: SseStream): void {
    this.#streams.delete(stream);
    if (this.#streams.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#clock.clearTimer(this.#pingTimer);
    this.#pingTimer = undefined;
  }
}
