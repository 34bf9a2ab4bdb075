// The management HTTP server (Clipper's port 1338): POST /admin/<name>, GET /admin/ping,
// GET /healthz. Unknown paths answer 404 and known paths with the wrong method 405 (Clipper sent
// nothing at all); bodies over the limit 413; malformed JSON 400 naming the problem. Every request
// gets exactly one response, and a user mistake is never a 500. With an admin token configured
// every request but GET /healthz (a liveness probe, it tells nothing) must carry it
// (admin_auth.ts): 401 without, 403 when wrong, checked before anything else, even the route.
// With TLS files the server speaks HTTPS (http/app_factory.ts). The live dashboard's paths
// (/dashboard, its assets and its stream) go to dashboard/dashboard_routes.ts, which applies the
// token to the stream only: the page and its static files are public.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ClipperError } from '../errors.js';
import { parseJsonBody, readBody, sendBody, sendError, sendReply, type ResponseState } from '../http/http_util.js';
import { createApp, type TlsFiles } from '../http/app_factory.js';
import { listenApp, type Listening } from '../http/listen.js';
import { kJsonType, kTextType } from '../http/reply.js';
import { AdminAuth, checkAdminExposure, loadAdminToken } from './admin_auth.js';
import type { AdminContext } from './admin_context.js';
import { DashboardRoutes, isDashboardPath, type DashboardOptions } from '../dashboard/dashboard_routes.js';
import { AdminService } from './admin_service.js';

export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  bodyBytesMax: number;
  /** The bearer token every request must carry ('' or absent: none, allowed only on loopback). */
  adminToken?: string;
  /** A file holding the token, read now (config.adminTokenFile). */
  adminTokenFile?: string;
  /** HTTPS with these PEM files; absent or null: plain HTTP. */
  tls?: TlsFiles | null;
  /** The dashboard's sampling and stream settings (tests shorten them). */
  dashboard?: DashboardOptions;
}

export interface AdminServer {
  readonly port: number;
  close(): void;
}

const kAdminPrefix = '/admin/';

function methodNotAllowed(method: string, url: string, allow: string): ClipperError {
  return new ClipperError('CLP_ERR_METHOD_NOT_ALLOWED', `${method.toUpperCase()} is not allowed on ${url}; use ${allow}`, { allow });
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

/** What serve() needs of the server. */
interface Served {
  service: AdminService;
  auth: AdminAuth;
  bodyBytesMax: number;
  dashboard: DashboardRoutes | null;
}

/** Runs a route and sends its reply (handle() never rejects; a rejection is still answered once). */
function answer(service: AdminService, res: HttpResponse, state: ResponseState, route: string, body: unknown): void {
  service.handle(route, body).then(
    (reply) => sendReply(res, state, reply),
    (err: unknown) => sendError(res, state, err),
  );
}

/** One request: the fixed GET paths, then /admin/<route> (GET for read-only routes, else POST with a JSON body). */
function serve(server: Served, res: HttpResponse, req: HttpRequest): void {
  const { service, auth, bodyBytesMax } = server;
  const state: ResponseState = { aborted: false };
  const method = req.getMethod(); // lower case
  let url = req.getUrl(); // path without the query string
  if (url.length > 1 && url.endsWith('/')) url = url.slice(0, -1);
  if (server.dashboard !== null && isDashboardPath(url)) return server.dashboard.serve(res, req, method, url);
  if (url !== '/healthz') {
    const refused = auth.check(req.getHeader('authorization'));
    if (refused !== null) return sendError(res, state, refused);
  }
  if (url === '/healthz' || url === '/admin/ping') {
    if (method !== 'get') return sendError(res, state, methodNotAllowed(method, url, 'GET'));
    if (url === '/healthz') return sendBody(res, state, 200, kJsonType, '{"status":"ok"}');
    return sendBody(res, state, 200, kTextType, 'PONG');
  }
  const route = url.startsWith(kAdminPrefix) ? url.slice(kAdminPrefix.length) : '';
  if (!service.hasRoute(route)) {
    return sendError(res, state, new ClipperError('CLP_ERR_ROUTE_NOT_FOUND', `No endpoint ${method.toUpperCase()} ${url}`));
  }
  if (method === 'get' && kGetRoutes.has(route)) {
    // Read-only routes also take their fields from the query string (curl-friendly).
    res.onAborted(() => {
      state.aborted = true;
    });
    return answer(service, res, state, route, queryBody(Object.fromEntries(new URLSearchParams(req.getQuery() ?? ''))));
  }
  if (method !== 'post') return sendError(res, state, methodNotAllowed(method, url, 'POST'));
  readBody(res, req, state, bodyBytesMax, (body) => {
    let parsed: unknown;
    try {
      parsed = parseJsonBody(body);
    } catch (err) {
      return sendError(res, state, err);
    }
    answer(service, res, state, route, parsed);
  });
}

export async function startAdminServer(ctx: AdminContext, opts: AdminServerOptions): Promise<AdminServer> {
  const token = loadAdminToken({ adminToken: opts.adminToken ?? '', adminTokenFile: opts.adminTokenFile ?? '' });
  checkAdminExposure(opts.host, token);
  const auth = new AdminAuth(token);
  const service = new AdminService(ctx);
  const dashboard = ctx.dashboard === undefined ? null : new DashboardRoutes(auth, ctx.dashboard, opts.dashboard);
  const served: Served = { service, auth, bodyBytesMax: opts.bodyBytesMax, dashboard };
  const app = createApp(opts.tls ?? null);
  app.any('/*', (res, req) => serve(served, res, req));
  let listening: Listening;
  try {
    listening = await listenApp(app, opts.host, opts.port, 'admin server');
  } catch (err) {
    dashboard?.close();
    app.close();
    throw err;
  }
  let closed = false;
  return {
    port: listening.port,
    close(): void {
      if (closed) return;
      closed = true;
      dashboard?.close(); // ends the dashboard streams cleanly before the sockets go
      listening.stopListening();
      app.close(); // also ends idle keep-alive connections
    },
  };
}
