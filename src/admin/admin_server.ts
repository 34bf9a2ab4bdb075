// The management HTTP server (Clipper's port 1338): POST /admin/<name>, GET /admin/ping,
// GET /healthz. Unknown paths answer 404 and known paths with the wrong method 405 (Clipper sent
// nothing at all); bodies over the limit 413; malformed JSON 400 naming the problem. Every request
// gets exactly one response, and a user mistake is never a 500.

import { App, us_listen_socket_close, us_socket_local_port, type HttpResponse, type us_listen_socket } from 'uWebSockets.js';
import { ClipperError, errorBody, kErrors } from '../errors.js';
import { readBody, sendBody, sendError, type ResponseState } from '../http/http_util.js';
import type { AdminContext } from './admin_context.js';
import { errorReply } from './admin_core.js';
import { AdminService } from './admin_service.js';

export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  bodyBytesMax: number;
}

export interface AdminServer {
  readonly port: number;
  close(): void;
}

const kAdminPrefix = '/admin/';

function sendMethodNotAllowed(res: HttpResponse, state: ResponseState, method: string, url: string, allowed: string): void {
  const err = new ClipperError('CLP_ERR_METHOD_NOT_ALLOWED', `${method.toUpperCase()} is not allowed on ${url}; use ${allowed}`);
  sendBody(res, state, kErrors[err.code].status, 'application/json', errorBody(err), { Allow: allowed });
}

/** The parsed body, or the 400 that says why it is not JSON. */
export function parseJsonBody(body: Buffer): { ok: true; value: unknown } | { ok: false; error: ClipperError } {
  const text = body.toString('utf8');
  if (text.trim() === '') {
    return { ok: false, error: new ClipperError('CLP_ERR_JSON_PARSE', 'Error parsing JSON: the request body is empty') };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: new ClipperError('CLP_ERR_JSON_PARSE', `Error parsing JSON: ${(err as Error).message}`) };
  }
}

/** Routes also served on GET with their fields in the query string. */
const kGetRoutes = new Set(['get_logs']);

/** Fields that are integers when they come in a query string (everything else stays a string). */
const kIntQueryFields = new Set(['tail_lines']);

function queryBody(query: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(query)) {
    body[key] = kIntQueryFields.has(key) && /^-?[0-9]{1,15}$/.test(value) ? Number(value) : value;
  }
  return body;
}

export function startAdminServer(ctx: AdminContext, opts: AdminServerOptions): Promise<AdminServer> {
  const service = new AdminService(ctx);
  const app = App();

  app.any('/*', (res, req) => {
    const state: ResponseState = { aborted: false };
    const method = req.getMethod(); // lower case
    let url = req.getUrl(); // path without the query string
    if (url.length > 1 && url.endsWith('/')) url = url.slice(0, -1);

    if (url === '/healthz') {
      if (method !== 'get') return sendMethodNotAllowed(res, state, method, url, 'GET');
      return sendBody(res, state, 200, 'application/json', '{"status":"ok"}');
    }
    if (url === '/admin/ping') {
      if (method !== 'get') return sendMethodNotAllowed(res, state, method, url, 'GET');
      return sendBody(res, state, 200, 'text/plain; charset=utf-8', 'PONG');
    }
    const route = url.startsWith(kAdminPrefix) ? url.slice(kAdminPrefix.length) : '';
    if (!service.hasRoute(route)) {
      return sendError(res, state, new ClipperError('CLP_ERR_ROUTE_NOT_FOUND', `No endpoint ${method.toUpperCase()} ${url}`));
    }
    if (method === 'get' && kGetRoutes.has(route)) {
      // Read-only routes also take their fields from the query string (curl-friendly).
      const query = Object.fromEntries(new URLSearchParams(req.getQuery() ?? ''));
      service.handle(route, queryBody(query)).then(
        (reply) => sendBody(res, state, reply.status, reply.contentType, reply.body),
        (err: unknown) => { const reply = errorReply(err); sendBody(res, state, reply.status, reply.contentType, reply.body); });
      res.onAborted(() => { state.aborted = true; });
      return;
    }
    if (method !== 'post') return sendMethodNotAllowed(res, state, method, url, 'POST');

    readBody(res, req, state, opts.bodyBytesMax, (body) => {
      const parsed = parseJsonBody(body);
      if (!parsed.ok) return sendError(res, state, parsed.error);
      service.handle(route, parsed.value).then(
        (reply) => sendBody(res, state, reply.status, reply.contentType, reply.body),
        (err: unknown) => { // handle() never rejects; keep the one-response promise regardless
          const reply = errorReply(err);
          sendBody(res, state, reply.status, reply.contentType, reply.body);
        });
    });
  });

  return new Promise((resolve, reject) => {
    app.listen(opts.host, opts.port, (token: us_listen_socket | false) => {
      if (token === false) {
        app.close();
        reject(new ClipperError('CLP_ERR_INVALID_ARG', `admin server could not listen on ${opts.host}:${opts.port}`));
        return;
      }
      let closed = false;
      resolve({
        port: us_socket_local_port(token),
        close(): void {
          if (closed) return;
          closed = true;
          us_listen_socket_close(token);
          app.close(); // also ends idle keep-alive connections
        },
      });
    });
  });
}
