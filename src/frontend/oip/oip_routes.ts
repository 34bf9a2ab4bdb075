// The Open Inference Protocol (KServe V2 REST) on the query port, beside Clipper's routes:
//
//   GET  /v2/health/live                          200 {"live":true} while the server answers
//   GET  /v2/health/ready                         200 {"ready":true} once the state is loaded, until
//                                                 shutdown; else 400 (per model: .../ready)
//   GET  /v2                                      {name, version, extensions}
//   GET  /v2/models/{m}[/versions/{v}]            metadata (model_metadata.ts)
//   GET  /v2/models/{m}[/versions/{v}]/ready      model readiness
//   GET  /v2/models[/{m}[/versions/{v}]]/stats    Triton's statistics extension
//   POST /v2/models/{m}[/versions/{v}]/infer      inference (infer.ts)
//
// {m} is an app or a model (oip_target.ts). Every error has the protocol's body {"error": "..."};
// other methods on these paths are 405, unknown paths under /v2/models/ and /v2/health/ 404.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ModelRoute } from '../../control/model_routes.js';
import { ClipperError } from '../../errors.js';
import { readBody, sendReply, type ResponseState } from '../../http/http_util.js';
import { jsonReply, type HttpReply } from '../../http/reply.js';
import { kRepoRoot } from '../../paths.js';
import type { QueryPipeline } from '../../query/pipeline.js';
import { infer } from './infer.js';
import { modelMetadataReply, modelReadyReply, modelStatsReply, type ReplicaReady } from './model_metadata.js';
import { sendOipError } from './oip_errors.js';
import { resolveTarget, type OipTarget } from './oip_target.js';
import type { ModelStatsSource } from './stats.js';

export interface OipDeps {
  pipeline: QueryPipeline;
  /** Model name → route (the control loop's RouteTable.models), for models addressed directly. */
  models: ReadonlyMap<string, ModelRoute>;
  bodyBytesMax: number;
  /** Whether the server serves: its state is loaded and it is not shutting down. */
  ready(): boolean;
  replicaReady: ReplicaReady;
  /** Every model version's batching measurements (the pool's stats()). */
  actorStats(): Promise<readonly ModelStatsSource[]>;
}

/** The extensions GET /v2 lists: binary tensors, request parameters (timeout, priority), statistics. */
export const kOipExtensions = ['binary_tensor_data', 'parameters', 'statistics'] as const;

type GetHandler = (req: HttpRequest) => HttpReply | Promise<HttpReply>;

export function registerOipRoutes(app: TemplatedApp, deps: OipDeps): void {
  const get = (pattern: string, handler: GetHandler): void => {
    app.get(pattern, (res, req) => answerGet(res, req, handler));
    app.any(pattern, (res, req) => methodNotAllowed(res, req, 'GET'));
  };
  const target = (req: HttpRequest, versioned: boolean): OipTarget =>
    resolveTarget(deps.pipeline, deps.models, paramOf(req, 0), versioned ? paramOf(req, 1) : null);

  get('/v2/health/live', () => jsonReply({ live: true }));
  get('/v2/health/ready', () => {
    if (!deps.ready()) throw new ClipperError('CLP_ERR_OIP_NOT_READY', 'the server is not ready: it is starting or shutting down');
    return jsonReply({ ready: true });
  });
  const server = { name: 'clipper-ts', version: packageVersion(), extensions: kOipExtensions };
  get('/v2', () => jsonReply(server));
  get('/v2/models/stats', () => deps.actorStats().then((stats) => modelStatsReply(null, stats)));
  for (const versioned of [false, true]) {
    const base = versioned ? '/v2/models/:m/versions/:v' : '/v2/models/:m';
    get(base, (req) => modelMetadataReply(target(req, versioned)));
    get(`${base}/ready`, (req) => modelReadyReply(target(req, versioned), deps.replicaReady, deps.models));
    get(`${base}/stats`, (req) => {
      const t = target(req, versioned);
      return deps.actorStats().then((stats) => modelStatsReply(t, stats));
    });
    app.post(`${base}/infer`, (res, req) => {
      // Deadlines count from here, before the body is read (infer.ts).
      const arrivalMs = deps.pipeline.processor.clock.nowMs();
      const name = paramOf(req, 0);
      const version = versioned ? paramOf(req, 1) : null;
      const headerLength = req.getHeader('inference-header-content-length');
      const state: ResponseState = { aborted: false };
      const onBody = (body: Buffer): void => infer(deps, res, state, name, version, headerLength, body, arrivalMs);
      readBody(res, req, state, deps.bodyBytesMax, onBody, sendOipError);
    });
    app.any(`${base}/infer`, (res, req) => methodNotAllowed(res, req, 'POST'));
  }
  for (const prefix of ['/v2/models/*', '/v2/health/*']) {
    app.any(prefix, (res, req) => {
      const err = new ClipperError('CLP_ERR_ROUTE_NOT_FOUND', `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`);
      sendOipError(res, { aborted: false }, err);
    });
  }
}

function answerGet(res: HttpResponse, req: HttpRequest, handler: GetHandler): void {
  const state: ResponseState = { aborted: false };
  let reply: HttpReply | Promise<HttpReply>;
  try {
    reply = handler(req);
  } catch (err) {
    sendOipError(res, state, err);
    return;
  }
  if (!(reply instanceof Promise)) {
    sendReply(res, state, reply);
    return;
  }
  res.onAborted(() => {
    state.aborted = true;
  });
  reply.then(
    (r) => sendReply(res, state, r),
    (err: unknown) => sendOipError(res, state, err),
  );
}

function methodNotAllowed(res: HttpResponse, req: HttpRequest, allow: string): void {
  const message = `${req.getMethod().toUpperCase()} is not allowed on ${req.getUrl()}; use ${allow}`;
  sendOipError(res, { aborted: false }, new ClipperError('CLP_ERR_METHOD_NOT_ALLOWED', message, { allow }));
}

/** Path parameter `i`, percent-decoded; '' when its encoding is malformed (no app or model has that name). */
function paramOf(req: HttpRequest, i: number): string {
  const raw = req.getParameter(i) ?? '';
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return '';
  }
}

/** This package's version (package.json), read once when the routes are registered. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(kRepoRoot, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
