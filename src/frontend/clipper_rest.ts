// The query frontend (Clipper's port 1337): POST /<app>/predict and /<app>/update, GET /metrics
// (Clipper's JSON or Prometheus text by Accept; /metrics/json and /metrics/prometheus fixed),
// GET /healthz, and JSON 404/405 for everything else. Routing reads a Map that the cluster rebuilds
// on configuration changes, so a deleted app's route is gone at once.

import { App, us_listen_socket_close, us_socket_local_port, type HttpResponse, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { ClipperError } from '../errors.js';
import { appNameOf, readBody, sendBody, sendError, sendJson, type AbortListener, type ResponseState } from '../http/http_util.js';
import { applyFeedback, feedbackFields } from '../query/feedback.js';
import { parseJsonBody, parsePredictRequest } from './predict_request.js';
import { pinnedPlacement, type AppRoute, type QueryProcessor, type QuerySink } from '../query/query_processor.js';
import type { SelectionHub } from '../selection/selection_hub.js';
import { submitSelected } from '../query/selection_route.js';
import type { InputType } from '../input_types.js';
import { metricsFormatFor, type MetricsFormat } from '../metrics/negotiate.js';

export interface QueryServerOptions {
  host: string;
  port: number;
  bodyBytesMax: number;
  sloMicrosMax: number;
}

export interface QueryServerDeps {
  processor: QueryProcessor;
  routes: ReadonlyMap<string, AppRoute>;
  inputTypeOf(route: AppRoute): InputType;
  /** The selection worker's main-thread end (feedback); null: feedback is only acknowledged. */
  hub?: SelectionHub | null;
  /** Prometheus text exposition 0.0.4 or OpenMetrics 1.0.0. */
  metricsText(format: Exclude<MetricsFormat, 'json'>): Promise<{ contentType: string; body: string }>;
  /** Clipper's JSON metrics document. */
  metricsJson(): Promise<string>;
  /** Protocol adapters at the edge (WebSocket streaming, …) add their routes here. */
  registerRoutes?: (app: TemplatedApp) => void;
}

export interface QueryServer {
  readonly port: number;
  readonly app: TemplatedApp;
  close(): void;
}

/**
 * Collects the answers of one HTTP predict request and sends the response when all are in. An app
 * with `overload_response: status_429` answers 429 (Retry-After) instead when any of its queries
 * was shed by an overloaded model queue. If the client goes away first, its queries are cancelled.
 */
class HttpSink implements QuerySink, AbortListener {
  readonly #res: HttpResponse;
  readonly #state: ResponseState;
  readonly #parts: string[] | null;
  readonly #status429: boolean;
  readonly #processor: QueryProcessor;
  /** Ring tokens of this request's queries in workers (for cancel). */
  readonly tokens: number[] = [];
  #remaining: number;
  #shedCount = 0;

  constructor(res: HttpResponse, state: ResponseState, count: number, batch: boolean, status429: boolean, processor: QueryProcessor) {
    this.#res = res;
    this.#state = state;
    this.#remaining = count;
    this.#parts = batch ? new Array<string>(count) : null;
    this.#status429 = status429;
    this.#processor = processor;
  }

  onAbort(): void {
    if (this.#remaining > 0 && this.tokens.length > 0) this.#processor.cancel(this.tokens);
  }

  onAnswer(index: number, queryId: number, outputJson: string, isDefault: boolean, explanation: string | null, shed = false,
    extraJson = ''): void {
    if (shed && this.#status429) this.#shedCount++;
    const text = isDefault
      ? `{"query_id":${queryId},"output":${outputJson},"default":true${explanation === null ? '' : `,"default_explanation":${JSON.stringify(explanation)}`}${extraJson}}`
      : `{"query_id":${queryId},"output":${outputJson},"default":false${extraJson}}`;
    if (this.#parts !== null) this.#parts[index] = text;
    if (--this.#remaining > 0) return;
    if (this.#shedCount > 0) {
      sendError(this.#res, this.#state, new ClipperError('CLP_ERR_SHED',
        `the model is overloaded: ${this.#shedCount} of the request's queries were shed (${explanation ?? 'queue full'}); retry later`,
        { retryAfterS: 1 }));
      return;
    }
    sendJson(this.#res, this.#state, 200, this.#parts === null ? text : `{"batch_predictions":[${this.#parts.join(',')}]}`);
  }
}

export function startQueryServer(options: QueryServerOptions, deps: QueryServerDeps): Promise<QueryServer> {
  const app = App();
  const { processor, routes } = deps;

  /** The app's route, or undefined after answering 404. */
  const routeOr404 = (res: HttpResponse, appName: string, state: ResponseState): AppRoute | undefined => {
    const route = routes.get(appName);
    if (route === undefined) sendError(res, state, new ClipperError('CLP_ERR_APP_NOT_FOUND', `no application named '${appName}'`));
    return route;
  };

  const predict = (res: HttpResponse, appName: string, body: Buffer, state: ResponseState): void => {
    const route = routeOr404(res, appName, state);
    if (route === undefined) return;
    let request;
    try {
      request = parsePredictRequest(body, deps.inputTypeOf(route), options.sloMicrosMax);
      processor.assertInputsFit(request.inputs, route.typeCode);
    } catch (err) {
      sendError(res, state, err);
      return;
    }
    let placement;
    try {
      placement = pinnedPlacement(route, request.version);
    } catch (err) {
      sendError(res, state, err);
      return;
    }
    const pinned = request.version !== null;
    const count = request.inputs.length;
    if (count === 0) {
      sendJson(res, state, 200, '{"batch_predictions":[]}');
      return;
    }
    const sloMs = request.sloMicros === null ? route.sloMs : request.sloMicros / 1000;
    const sink = new HttpSink(res, state, count, request.batch, route.overloadResponse === 'status_429', processor);
    const tokens = sink.tokens;
    for (let i = 0; i < count; i++) {
      if (pinned) {
        const token = processor.submit(route, placement, request.inputs[i]!, sloMs, sink, i);
        if (token >= 0) tokens.push(token);
      } else {
        submitSelected(processor, route, request.uid, request.inputs[i]!, sloMs, sink, i, tokens);
      }
    }
    if (tokens.length > 0 && !state.aborted) state.abortListener = sink;
  };

  const update = (res: HttpResponse, appName: string, body: Buffer, state: ResponseState): void => {
    const route = routeOr404(res, appName, state);
    if (route === undefined) return;
    let pending;
    try {
      pending = applyFeedback({ processor, inputTypeOf: deps.inputTypeOf, hub: deps.hub ?? null }, route, parseJsonBody(body));
    } catch (err) {
      sendError(res, state, err);
      return;
    }
    pending.then((answer) => sendJson(res, state, 200, `{${feedbackFields(answer)}}`), (err: unknown) => sendError(res, state, err));
  };

  const onPost = (handler: typeof predict) => (res: HttpResponse, req: import('uWebSockets.js').HttpRequest): void => {
    const appName = appNameOf(req);
    const state: ResponseState = { aborted: false };
    readBody(res, req, state, options.bodyBytesMax, (body) => handler(res, appName, body, state));
  };

  const methodNotAllowed = (res: HttpResponse, req: import('uWebSockets.js').HttpRequest): void => {
    const state: ResponseState = { aborted: false };
    res.onAborted(() => { state.aborted = true; });
    sendError(res, state, new ClipperError('CLP_ERR_METHOD_NOT_ALLOWED',
      `${req.getMethod().toUpperCase()} is not allowed on ${req.getUrl()}; use POST`));
  };

  for (const suffix of ['', '/']) {
    app.post(`/:app/predict${suffix}`, onPost(predict));
    app.post(`/:app/update${suffix}`, onPost(update));
    app.any(`/:app/predict${suffix}`, methodNotAllowed);
    app.any(`/:app/update${suffix}`, methodNotAllowed);
  }
  const sendMetrics = (res: HttpResponse, format: MetricsFormat, negotiated: boolean): void => {
    const state: ResponseState = { aborted: false };
    res.onAborted(() => { state.aborted = true; });
    // caches must key a negotiated answer on Accept
    const headers = negotiated ? { Vary: 'Accept' } : undefined;
    const body = format === 'json'
      ? deps.metricsJson().then((text) => ({ contentType: 'application/json', body: text }))
      : deps.metricsText(format);
    body.then(({ contentType, body: text }) => sendBody(res, state, 200, contentType, text, headers),
      (err: unknown) => sendError(res, state, err));
  };
  for (const suffix of ['', '/']) {
    app.get(`/metrics${suffix}`, (res, req) => sendMetrics(res, metricsFormatFor(req.getHeader('accept')), true));
    app.get(`/metrics/json${suffix}`, (res) => sendMetrics(res, 'json', false));
    app.get(`/metrics/prometheus${suffix}`, (res, req) =>
      sendMetrics(res, metricsFormatFor(req.getHeader('accept')) === 'openmetrics' ? 'openmetrics' : 'prometheus', true));
  }
  app.get('/healthz', (res) => {
    sendJson(res, { aborted: false }, 200, '{"status":"ok"}');
  });
  deps.registerRoutes?.(app);
  app.any('/*', (res, req) => {
    sendError(res, { aborted: false }, new ClipperError('CLP_ERR_ROUTE_NOT_FOUND',
      `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`));
  });

  return new Promise((resolve, reject) => {
    app.listen(options.host, options.port, (token: us_listen_socket | false) => {
      if (!token) {
        reject(new ClipperError('CLP_ERR_INVALID_ARG', `query frontend cannot listen on ${options.host}:${options.port}`));
        return;
      }
      resolve({ port: us_socket_local_port(token), app, close: () => us_listen_socket_close(token) });
    });
  });
}
