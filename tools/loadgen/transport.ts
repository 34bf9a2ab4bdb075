// The seam between load drivers (closed/open loop) and wire clients (raw HTTP/1.1, WebSocket).
// Per-request work avoids closures: a connection remembers each in-flight request's intended send
// time itself and reports completions to one sink, which records and (closed loop) sends the next.

import type { InputItem } from './inputs.js';

export type RequestShape = 'clipper' | 'v2';

export interface ResultSink {
  /** A response arrived: `status` is the HTTP status (WebSocket replies report 200). */
  onResponse(conn: LoadConnection, intendedMs: number, status: number, isDefault: boolean): void;
  /** The request failed without a response (`kind`: e.g. ECONNREFUSED, conn_closed, parse_error). */
  onError(conn: LoadConnection, intendedMs: number, kind: string): void;
}

export interface LoadConnection {
  /** Requests sent and not yet answered on this connection. */
  readonly inflight: number;
  /** Send one request; latency will be measured from `intendedMs` (performance.now() time base). */
  send(item: InputItem, intendedMs: number): void;
  close(): void;
}

export interface Transport {
  /** Open `count` connections reporting to `sink`; resolves once all are usable (or failed). */
  connect(count: number, sink: ResultSink): Promise<LoadConnection[]>;
  readonly description: string;
}

const kDefaultKey = Buffer.from('"default":');

/**
 * True when the body says `"default": true` — a substring search instead of a JSON parse.
 * Looks at every `"default":` key occurrence in buf[start, end) (whitespace after the colon allowed).
 */
export function bodyIsDefault(buf: Buffer, start = 0, end = buf.length): boolean {
  let at = buf.indexOf(kDefaultKey, start);
  while (at !== -1 && at + kDefaultKey.length < end) {
    let i = at + kDefaultKey.length;
    while (i < end && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
    if (i < end && buf[i] === 0x74 /* t */) return true;
    at = buf.indexOf(kDefaultKey, i);
  }
  return false;
}

/** Same as bodyIsDefault for a string body (WebSocket text frames). */
export function textIsDefault(text: string): boolean {
  let at = text.indexOf('"default":');
  while (at !== -1) {
    let i = at + 10;
    while (i < text.length && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
    if (text.charCodeAt(i) === 0x74) return true;
    at = text.indexOf('"default":', i);
  }
  return false;
}

/** The JSON request body for `item` in the given shape. */
export function requestBody(shape: RequestShape, item: InputItem): string {
  return shape === 'clipper'
    ? `{"input":${item.json}}`
    : `{"inputs":[{"name":"input","shape":[1,${item.length}],"datatype":"FP64","data":${item.json}}]}`;
}

/** Default request path for a shape: `/<app>/predict` or `/v2/models/<app>/infer`. */
export function defaultPath(shape: RequestShape, app: string): string {
  return shape === 'clipper' ? `/${encodeURIComponent(app)}/predict` : `/v2/models/${encodeURIComponent(app)}/infer`;
}
