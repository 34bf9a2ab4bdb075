// An HTTP answer as plain data, independent of the server that writes it, and the one place that
// turns an error into one: the status and `error` name come from the ClipperError's code
// (errors.ts), the body is errorBody(), and the headers a code implies are added here (Retry-After
// on overload and shedding, Allow on a wrong method, WWW-Authenticate on a missing admin token).

import { asClipperError, errorBody } from '../errors.js';

export interface HttpReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export const kJsonType = 'application/json';
export const kTextType = 'text/plain; charset=utf-8';

export function textReply(body: string): HttpReply {
  return { status: 200, contentType: kTextType, body };
}

export function jsonReply(value: unknown): HttpReply {
  return { status: 200, contentType: kJsonType, body: JSON.stringify(value) };
}

/**
 * The reply for any error: a ClipperError keeps its code's status; anything else is a 500
 * CLP_ERR_INTERNAL that quotes it. `details.retryAfterS` (overload, shedding) and `details.allow`
 * (method not allowed) become headers.
 */
export function errorReply(err: unknown): HttpReply {
  const e = asClipperError(err);
  const body = errorBody(e);
  if (e.code === 'CLP_ERR_OVERLOADED' || e.code === 'CLP_ERR_SHED') {
    return { status: e.status, contentType: kJsonType, body, headers: { 'Retry-After': String(e.details?.retryAfterS ?? 1) } };
  }
  if (e.code === 'CLP_ERR_UNAUTHORIZED') {
    // RFC 6750: a missing or malformed bearer token is answered with the scheme to use.
    return { status: e.status, contentType: kJsonType, body, headers: { 'WWW-Authenticate': 'Bearer realm="clipper-admin"' } };
  }
  if (e.code === 'CLP_ERR_METHOD_NOT_ALLOWED' && typeof e.details?.allow === 'string') {
    return { status: e.status, contentType: kJsonType, body, headers: { Allow: e.details.allow } };
  }
  return { status: e.status, contentType: kJsonType, body };
}
