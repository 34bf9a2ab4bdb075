// Reads one Kubernetes watch response: newline-delimited JSON events (`{"type","object"}`), handed
// to a callback one by one, in order. An idle timer ends a watch that stays silent too long (a
// half-open connection would otherwise hang forever; servers send BOOKMARKs, so silence means
// trouble). Used by watch_cache.ts, which decides what each event means.

import type { IncomingMessage } from 'node:http';
import type { Clock } from '../../lib/clock.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  /** The object (a Status for ERROR). */
  object: unknown;
}

export interface WatchStreamOptions<E extends string> {
  idleTimeoutMs: number;
  clock: Clock;
  /** Aborted to end the request when reading stops early (idle, a bad line, the callback's end). */
  abort: AbortController;
  /** Returns a value to stop reading (the promise resolves with it); throws to fail the watch. */
  onEvent(event: WatchEvent): E | undefined;
}

const kTypes = new Set<string>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/** One line of a watch as an event; throws on anything else. */
export function parseWatchLine(line: string): WatchEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`the watch sent a line that is not JSON: ${line.slice(0, 200)}`);
  }
  const event = value as { type?: unknown; object?: unknown };
  if (typeof event?.type !== 'string' || !kTypes.has(event.type) || typeof event.object !== 'object' || event.object === null) {
    throw new Error(`the watch sent a line that is not a watch event: ${line.slice(0, 200)}`);
  }
  return { type: event.type as WatchEventType, object: event.object };
}

/**
 * Feeds the events of `res` to `onEvent` until the stream ends ('ended'), `onEvent` returns a value
 * (that value), or it fails: a broken connection, a bad line, `onEvent` throwing or the idle timeout
 * (rejects; the request is aborted).
 */
export function readWatchStream<E extends string>(res: IncomingMessage, o: WatchStreamOptions<E>): Promise<E | 'ended'> {
  return new Promise<E | 'ended'>((resolve, reject) => {
    let settled = false;
    let buffer = '';
    let timer: unknown;
    const stop = (outcome: () => void, abortRequest: boolean) => {
      if (settled) return;
      settled = true;
      o.clock.clearTimer(timer);
      if (abortRequest) o.abort.abort();
      outcome();
    };
    const armIdle = () => {
      o.clock.clearTimer(timer);
      timer = o.clock.setTimer(o.idleTimeoutMs, () => {
        stop(() => reject(new Error(`the watch was silent for ${o.idleTimeoutMs} ms (no event, no bookmark): presumed dead`)), true);
      });
    };
    // Handles complete lines; returns false once reading stopped.
    const drain = (final: boolean): boolean => {
      for (;;) {
        const newline = buffer.indexOf('\n');
        if (newline < 0 && !(final && buffer.trim() !== '')) return true;
        const line = (newline < 0 ? buffer : buffer.slice(0, newline)).trim();
        buffer = newline < 0 ? '' : buffer.slice(newline + 1);
        if (line === '') continue;
        try {
          const end = o.onEvent(parseWatchLine(line));
          if (end !== undefined) {
            stop(() => resolve(end), true);
            return false;
          }
        } catch (err) {
          stop(() => reject(err), true);
          return false;
        }
      }
    };
    armIdle();
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (settled) return;
      armIdle();
      buffer += chunk;
      drain(false);
    });
    res.on('end', () => {
      if (!settled && drain(true)) stop(() => resolve('ended'), false);
    });
    res.on('error', (err) => stop(() => reject(err), false));
    res.on('close', () => {
      stop(() => (res.complete ? resolve('ended') : reject(new Error('the watch connection closed before its end'))), false);
    });
  });
}
