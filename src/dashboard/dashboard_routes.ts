// The live dashboard's routes on the admin server (admin_server.ts sends every /dashboard path here,
// before its own token check):
//
//   GET /dashboard                 the page: dashboard.html (public: it holds no secret, and asks
//                                  for the token itself when the stream answers 401)
//   GET /dashboard/assets/<file>   static files, public: uPlot.iife.min.js and uPlot.min.css from
//                                  the uplot package; dashboard.js, charts.js, dashboard.css and any
//                                  other browser file from dist/src/dashboard/ui/, then src/dashboard/ui/
//                                  (dashboard_assets.ts); Cache-Control: no-cache; a 404 JSON otherwise
//   GET /dashboard/stream          Server-Sent Events (dashboard_streams.ts): `event: history`
//                                  {"intervalMs", "snapshots": [...]}, then `event: snapshot` each
//                                  interval, `: ping` every 5 s; behind the admin token when one is
//                                  set (401 without it, 403 when wrong), as the admin API; a 503 when
//                                  streamsMax (16) are open already
//
// Other methods get 405, other paths under /dashboard 404.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { AdminAuth } from '../admin/admin_auth.js';
import { ClipperError } from '../errors.js';
import { sendBody, sendError, type ResponseState } from '../http/http_util.js';
import { DashboardAssets, kPageFile } from './dashboard_assets.js';
import { DashboardStreams, type StreamsOptions } from './dashboard_streams.js';
import { SnapshotSampler, type SamplerOptions } from './snapshot_sampler.js';
import type { DashboardSources } from './snapshot_types.js';

export interface DashboardOptions extends SamplerOptions, Omit<StreamsOptions, 'clock'> {
  /** Folders of the page and its browser files (default: dashboard_assets.ts's kDefaultUiDirs). */
  uiDirs?: readonly string[];
}

const kPrefix = '/dashboard';
const kAssetsPrefix = '/dashboard/assets/';
/**
 * The page and its files may not be framed (no clickjacking of the action forms, which on a loopback
 * server without a token need no credentials) and may load nothing but this server's own files: no
 * inline script or <style> (uPlot sets element styles through the CSSOM, which CSP allows); `data:`
 * images only for the page's empty favicon.
 */
export const kContentSecurityPolicy =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const kStaticHeaders = {
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': kContentSecurityPolicy,
};

/** Whether the admin server should hand this path (without a trailing slash) to the dashboard. */
export function isDashboardPath(url: string): boolean {
  return url === kPrefix || url.startsWith(`${kPrefix}/`);
}

export class DashboardRoutes {
  readonly sampler: SnapshotSampler;
  readonly streams: DashboardStreams;
  readonly #auth: AdminAuth;
  readonly #assets: DashboardAssets;

  constructor(auth: AdminAuth, sources: DashboardSources, options: DashboardOptions = {}) {
    this.#auth = auth;
    this.sampler = new SnapshotSampler(sources, options);
    const streams: StreamsOptions = {};
    if (options.clock !== undefined) streams.clock = options.clock;
    if (options.pingMs !== undefined) streams.pingMs = options.pingMs;
    if (options.stallMsMax !== undefined) streams.stallMsMax = options.stallMsMax;
    if (options.streamsMax !== undefined) streams.streamsMax = options.streamsMax;
    this.streams = new DashboardStreams(this.sampler, streams);
    this.#assets = new DashboardAssets(options.uiDirs);
  }

  /** One request to a dashboard path (isDashboardPath); `method` in lower case. */
  serve(res: HttpResponse, req: HttpRequest, method: string, url: string): void {
    const state: ResponseState = { aborted: false };
    if (method !== 'get') {
      const allow = 'GET';
      return sendError(
        res,
        state,
        new ClipperError('CLP_ERR_METHOD_NOT_ALLOWED', `${method.toUpperCase()} is not allowed on ${url}; use GET`, { allow }),
      );
    }
    if (url === '/dashboard/stream') {
      const refused = this.#auth.check(req.getHeader('authorization'));
      if (refused !== null) return sendError(res, state, refused);
      const full = this.streams.refusal();
      if (full !== null) return sendError(res, state, full);
      return this.streams.open(res);
    }
    if (url === kPrefix) return this.#sendFile(res, state, kPageFile, 'the dashboard page');
    if (url.startsWith(kAssetsPrefix)) return this.#sendFile(res, state, url.slice(kAssetsPrefix.length), 'the dashboard asset');
    sendError(res, state, new ClipperError('CLP_ERR_ROUTE_NOT_FOUND', `No endpoint GET ${url}: the dashboard is GET /dashboard`));
  }

  /** Ends every stream and stops the sampler (the admin server is closing). */
  close(): void {
    this.streams.closeAll();
    this.sampler.close();
  }

  #sendFile(res: HttpResponse, state: ResponseState, name: string, what: string): void {
    if (!DashboardAssets.isAssetName(name)) return sendError(res, state, notFound(`${what} '${name}' does not exist`));
    res.onAborted(() => {
      state.aborted = true;
    });
    this.#assets.read(name).then(
      (asset) => {
        if (asset !== null) return sendBody(res, state, 200, asset.contentType, asset.body, kStaticHeaders);
        const hint = name === kPageFile || name.endsWith('.js') ? ' (build it: npm run build)' : '';
        sendError(res, state, notFound(`${what} '${name}' was not found in ${this.#assets.placesOf(name)}${hint}`));
      },
      (err: unknown) => sendError(res, state, err),
    );
  }
}

function notFound(message: string): ClipperError {
  return new ClipperError('CLP_ERR_ROUTE_NOT_FOUND', message);
}
