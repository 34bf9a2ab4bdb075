// The HTTP edge both servers (query and admin) share, over uWebSockets.js: reading a bounded body,
// parsing it as JSON, and writing a response or an error (the error's reply comes from reply.ts,
// the one place errors become HTTP). Every response is corked (one syscall) and checks for abort.
// The hot path allocates little per request: one onAborted and one onData callback, a body that is
// a view of uWS's receive buffer when it arrives in one chunk, and no closure per response.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ClipperError } from '../errors.js';
import { errorReply, kJsonType, type HttpReply } from './reply.js';

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
  200: '200 OK',
  400: '400 Bad Request',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

export function statusLine(status: number): string {
  return kStatusText[status] ?? `${status} Unknown`;
}

// The response being written inside res.cork(): module state instead of a closure per response
// (cork calls back synchronously, and a response never writes another one from inside it).
let corkRes: HttpResponse | null = null;
let corkStatus = 200;
let corkContentType = '';
let corkBody: string | Uint8Array = '';
let corkHeaders: Readonly<Record<string, string>> | undefined;

function writeCorked(): void {
  const res = corkRes!;
  if (corkStatus !== 200) res.writeStatus(statusLine(corkStatus)); // uWS writes 200 OK by default
  res.writeHeader('Content-Type', corkContentType);
  if (corkHeaders !== undefined) for (const [k, v] of Object.entries(corkHeaders)) res.writeHeader(k, v);
  res.end(corkBody);
}

export function sendBody(
  res: HttpResponse,
  state: ResponseState,
  status: number,
  contentType: string,
  body: string | Uint8Array,
  extraHeaders?: Readonly<Record<string, string>>,
): void {
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
  sendBody(res, state, status, kJsonType, body);
}

export function sendReply(res: HttpResponse, state: ResponseState, reply: HttpReply): void {
  sendBody(res, state, reply.status, reply.contentType, reply.body, reply.headers);
}

/** Any error as its reply (reply.ts): a ClipperError keeps its status, anything else is a 500. */
export function sendError(res: HttpResponse, state: ResponseState, err: unknown): void {
  sendReply(res, state, errorReply(err));
}

/** The body parsed as JSON (any value); a 400 CLP_ERR_JSON_PARSE that says why when it is not. */
export function parseJsonBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // Only a failed parse pays for the check: an empty body gets a message a person can act on.
    const why = text.trim() === '' ? 'the request body is empty' : (err as Error).message;
    throw new ClipperError('CLP_ERR_JSON_PARSE', `Error parsing JSON: ${why}`);
  }
}

/** The body parsed as a JSON object (the query server's bodies); a 400 naming what it is instead. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  const parsed = parseJsonBody(body);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing JSON: the body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/**
 * Read the whole body, at most `bodyBytesMax` bytes. Calls back exactly once unless the client
 * aborts. Must be called synchronously inside the uWS handler (it registers onAborted/onData).
 * The body is valid only during `onBody` (a one-chunk body is a view of uWS's receive buffer, not a
 * copy): parse it there. An oversized body is answered through `onError` (a protocol's own error
 * body; default sendError).
 */
export function readBody(
  res: HttpResponse,
  req: HttpRequest,
  state: ResponseState,
  bodyBytesMax: number,
  onBody: (body: Buffer) => void,
  onError: (res: HttpResponse, state: ResponseState, err: unknown) => void = sendError,
): void {
  res.onAborted(() => {
    state.aborted = true;
    const listener = state.abortListener;
    state.abortListener = null;
    listener?.onAbort();
  });
  const declared = req.getHeader('content-length');
  if (declared !== '' && Number(declared) > bodyBytesMax) {
    onError(
      res,
      state,
      new ClipperError('CLP_ERR_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${bodyBytesMax} bytes`),
    );
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
      onError(res, state, new ClipperError('CLP_ERR_BODY_TOO_LARGE', `request body exceeds the limit of ${bodyBytesMax} bytes`));
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
