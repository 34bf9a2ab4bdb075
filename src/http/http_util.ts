// The HTTP edge: reading a bounded body from uWebSockets.js, and the one place that turns a
// ClipperError into an HTTP response. Every response is corked (one syscall) and checks for abort.
// The hot path allocates little per request: one onAborted and one onData callback, a body that is
// a view of uWS's receive buffer when it arrives in one chunk, and no closure per response.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ClipperError, errorBody, kErrors } from '../errors.js';

/** The app name of a `/:app/...` route, percent-decoded; '' when the encoding is malformed. */
export function appNameOf(req: HttpRequest): string {
  const raw = req.getParameter(0) ?? '';
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return '';
  }
}

/** Told when the client goes away before its response is written (e.g. to cancel its queries). */
export interface AbortListener {
  onAbort(): void;
}

/** State uWS needs us to keep per in-flight response. */
export interface ResponseState {
  aborted: boolean;
  /** Set by a handler that has work to undo if the client goes away; called at most once. */
  abortListener?: AbortListener | null;
}

const kStatusText: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 404: '404 Not Found', 405: '405 Method Not Allowed',
  413: '413 Payload Too Large', 429: '429 Too Many Requests', 500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return kStatusText[status] ?? `${status} Unknown`;
}

// The response being written inside res.cork(): module state instead of a closure per response
// (cork calls back synchronously, and a response never writes another one from inside it).
let corkRes: HttpResponse | null = null;
let corkStatus = 200;
let corkContentType = '';
let corkBody = '';
let corkHeaders: Record<string, string> | undefined;

function writeCorked(): void {
  const res = corkRes!;
  if (corkStatus !== 200) res.writeStatus(statusLine(corkStatus)); // uWS writes 200 OK by default
  res.writeHeader('Content-Type', corkContentType);
  if (corkHeaders !== undefined) for (const [k, v] of Object.entries(corkHeaders)) res.writeHeader(k, v);
  res.end(corkBody);
}

export function sendBody(res: HttpResponse, state: ResponseState, status: number, contentType: string, body: string,
  extraHeaders?: Record<string, string>): void {
  if (state.aborted) return;
  state.aborted = true; // a response is written once
  corkRes = res;
  corkStatus = status;
  corkContentType = contentType;
  corkBody = body;
  corkHeaders = extraHeaders;
  try {
    res.cork(writeCorked);
  } finally {
    corkRes = null;
    corkBody = '';
    corkHeaders = undefined;
  }
}

export function sendJson(res: HttpResponse, state: ResponseState, status: number, body: string): void {
  sendBody(res, state, status, 'application/json', body);
}

export function sendError(res: HttpResponse, state: ResponseState, err: unknown): void {
  const clipperErr = err instanceof ClipperError ? err : new ClipperError('CLP_ERR_INTERNAL',
    `unexpected error: ${err instanceof Error ? err.message : String(err)}`);
  const headers = clipperErr.code === 'CLP_ERR_OVERLOADED' || clipperErr.code === 'CLP_ERR_SHED'
    ? { 'Retry-After': String(clipperErr.details?.retryAfterS ?? 1) } : undefined;
  sendBody(res, state, kErrors[clipperErr.code].status, 'application/json', errorBody(clipperErr), headers);
}

/**
 * Read the whole body, at most `bodyBytesMax` bytes. Calls back exactly once unless the client
 * aborts. Must be called synchronously inside the uWS handler (it registers onAborted/onData).
 * The body is valid only during `onBody` (a one-chunk body is a view of uWS's receive buffer, not a
 * copy): parse it there.
 */
export function readBody(res: HttpResponse, req: HttpRequest, state: ResponseState, bodyBytesMax: number,
  onBody: (body: Buffer) => void): void {
  res.onAborted(() => {
    state.aborted = true;
    const listener = state.abortListener;
    state.abortListener = null;
    listener?.onAbort();
  });
  const declared = req.getHeader('content-length');
  if (declared !== '' && Number(declared) > bodyBytesMax) {
    sendError(res, state, new ClipperError('CLP_ERR_BODY_TOO_LARGE',
      `request body of ${declared} bytes exceeds the limit of ${bodyBytesMax} bytes`));
    return;
  }
  let chunks: Buffer[] | null = null;
  let total = 0;
  let done = false;
  res.onData((chunk, isLast) => {
    if (done) return;
    total += chunk.byteLength;
    if (total > bodyBytesMax) {
      done = true;
      sendError(res, state, new ClipperError('CLP_ERR_BODY_TOO_LARGE',
        `request body exceeds the limit of ${bodyBytesMax} bytes`));
      return;
    }
    if (isLast && chunks === null) {
      done = true;
      onBody(Buffer.from(chunk)); // a view, valid during this call only
      return;
    }
    // uWS reuses the chunk's memory after this callback: copy it (small copies come from Node's pool).
    const copy = Buffer.allocUnsafe(chunk.byteLength);
    copy.set(new Uint8Array(chunk));
    chunks ??= [];
    chunks.push(copy);
    if (isLast) {
      done = true;
      onBody(Buffer.concat(chunks, total));
    }
  });
}
