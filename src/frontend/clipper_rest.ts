// The query frontend (Clipper's port 1337): POST /<app>/predict and /<app>/update, GET /metrics
// (Clipper's JSON or Prometheus text by Accept; /metrics/json and /metrics/prometheus fixed),
// GET /healthz, and JSON 404/405 for everything else. Predict and update are Clipper's REST codec
// over the query pipeline: parse the body (JSON, or octet-stream or msgpack by Content-Type:
// binary_request.ts), hand it to the pipeline, encode its answers (answers.ts). Other protocols
// (the WebSocket stream) add their routes through registerRoutes.

import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ClipperError } from '../errors.js';
import { appNameOf, parseJsonObject, readBody, sendBody, sendError, sendJson, type ResponseState } from '../http/http_util.js';
import { createApp, type TlsFiles } from '../http/app_factory.js';
import { listenApp, listenShared, type Listening } from '../http/listen.js';
import type { Answer } from '../query/answer.js';
import type { QueryPipeline } from '../query/pipeline.js';
import { metricsFormatFor, type MetricsFormat } from '../metrics/negotiate.js';
import { answerJson, feedbackJson } from './answers.js';
import { HttpRequestSink } from './http_request_sink.js';
import { parsePredictBody } from './binary_request.js';
import { readFeedbackRequest } from './predict_request.js';

export interface QueryServerOptions {
  host: string;
  port: number;
  bodyBytesMax: number;
  /** HTTPS/WSS with these PEM files (http/app_factory.ts); absent or null: plain HTTP. */
  tls?: TlsFiles | null;
  /**
   * How it takes connections. Absent: it listens on host:port (the main thread's server). 'shared':
   * it listens so that other threads' servers can listen on the same port, also with port 0
   * (http/listen.ts listenShared). 'none': it does not listen (port −1): another app hands it
   * connections (uWS addChildAppDescriptor of this app's descriptor).
   */
  listen?: 'shared' | 'none';
}

export interface QueryServerDeps {
  pipeline: QueryPipeline;
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
class HttpSink extends HttpRequestSink {
  readonly #batch: boolean;
  readonly #status429: boolean;
  #parts: string[] | null = null;
  /** The answer's text when the request is not a batch (one query). */
  #text = '';
  #shedCount = 0;
  /** The explanation of the first shed answer (the last answer need not be shed). */
  #shedExplanation: string | null = null;

  constructor(res: HttpResponse, state: ResponseState, batch: boolean, status429: boolean, pipeline: QueryPipeline) {
    super(res, state, pipeline);
    this.#batch = batch;
    this.#status429 = status429;
  }

  protected onBegin(count: number): void {
    if (this.#batch) this.#parts = new Array<string>(count);
  }

  protected collect(index: number, answer: Answer): void {
    if (answer.shed && this.#status429) {
      this.#shedCount++;
      this.#shedExplanation ??= answer.explanation;
    }
    const text = answerJson(answer);
    if (this.#parts !== null) this.#parts[index] = text;
    else this.#text = text;
  }

  protected finish(_last: Answer): void {
    if (this.#shedCount > 0) {
      sendError(
        this.res,
        this.state,
        new ClipperError(
          'CLP_ERR_SHED',
          `the model is overloaded: ${this.#shedCount} of the request's queries were shed (${this.#shedExplanation ?? 'queue full'}); retry later`,
          { retryAfterS: 1 },
        ),
      );
      return;
    }
    sendJson(this.res, this.state, 200, this.#parts === null ? this.#text : `{"batch_predictions":[${this.#parts.join(',')}]}`);
  }
}

function predict(
  pipeline: QueryPipeline,
  res: HttpResponse,
  state: ResponseState,
  appName: string,
  body: Buffer,
  arrivalMs: number,
  contentType: string,
): void {
  let sink: HttpSink;
  try {
    const route = pipeline.route(appName);
    const request = parsePredictBody(body, contentType, route.inputType, pipeline.sloMicrosMax);
    request.arrivalMs = arrivalMs;
    sink = new HttpSink(res, state, request.batch, route.overloadResponse === 'status_429', pipeline);
    if (pipeline.predict(route, request, sink, sink.tokens) === 0) {
      sendJson(res, state, 200, '{"batch_predictions":[]}');
      return;
    }
  } catch (err) {
    sendError(res, state, err);
    return;
  }
  if (sink.tokens.length > 0 && !state.aborted) state.abortListener = sink;
}

function update(pipeline: QueryPipeline, res: HttpResponse, state: ResponseState, appName: string, body: Buffer): void {
  let pending: ReturnType<QueryPipeline['feedback']>;
  try {
    const route = pipeline.route(appName);
    pending = pipeline.feedback(route, readFeedbackRequest(parseJsonObject(body), route.inputType));
  } catch (err) {
    sendError(res, state, err);
    return;
  }
  pending.then(
    (answer) => sendJson(res, state, 200, feedbackJson(answer)),
    (err: unknown) => sendError(res, state, err),
  );
}

type BodyHandler = typeof predict;

function methodNotAllowed(res: HttpResponse, req: HttpRequest): void {
  const state: ResponseState = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
  });
  sendError(
    res,
    state,
    new ClipperError('CLP_ERR_METHOD_NOT_ALLOWED', `${req.getMethod().toUpperCase()} is not allowed on ${req.getUrl()}; use POST`),
  );
}

/** POST /:app/predict and /:app/update (with or without a trailing slash); 405 on other methods. */
function registerClipperRoutes(app: TemplatedApp, pipeline: QueryPipeline, bodyBytesMax: number): void {
  const onPost =
    (handler: BodyHandler) =>
    (res: HttpResponse, req: HttpRequest): void => {
      // Deadlines count from here: the time the body takes to arrive and the wait for this thread are the query's.
      const arrivalMs = pipeline.processor.clock.nowMs();
      const appName = appNameOf(req);
      const contentType = req.getHeader('content-type'); // predict reads JSON, octet-stream or msgpack
      const state: ResponseState = { aborted: false };
      readBody(res, req, state, bodyBytesMax, (body) => handler(pipeline, res, state, appName, body, arrivalMs, contentType));
    };
  for (const suffix of ['', '/']) {
    app.post(`/:app/predict${suffix}`, onPost(predict));
    app.post(`/:app/update${suffix}`, onPost(update));
    app.any(`/:app/predict${suffix}`, methodNotAllowed);
    app.any(`/:app/update${suffix}`, methodNotAllowed);
  }
}

/** GET /metrics (negotiated by Accept), /metrics/json, /metrics/prometheus. */
function registerMetricsRoutes(app: TemplatedApp, deps: QueryServerDeps): void {
  const sendMetrics = (res: HttpResponse, format: MetricsFormat, negotiated: boolean): void => {
    const state: ResponseState = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    // caches must key a negotiated answer on Accept
    const headers = negotiated ? { Vary: 'Accept' } : undefined;
    const body =
      format === 'json' ? deps.metricsJson().then((text) => ({ contentType: 'application/json', body: text })) : deps.metricsText(format);
    body.then(
      ({ contentType, body: text }) => sendBody(res, state, 200, contentType, text, headers),
      (err: unknown) => sendError(res, state, err),
    );
  };
  for (const suffix of ['', '/']) {
    app.get(`/metrics${suffix}`, (res, req) => sendMetrics(res, metricsFormatFor(req.getHeader('accept')), true));
    app.get(`/metrics/json${suffix}`, (res) => sendMetrics(res, 'json', false));
    app.get(`/metrics/prometheus${suffix}`, (res, req) =>
      sendMetrics(res, metricsFormatFor(req.getHeader('accept')) === 'openmetrics' ? 'openmetrics' : 'prometheus', true),
    );
  }
}

export async function startQueryServer(options: QueryServerOptions, deps: QueryServerDeps): Promise<QueryServer> {
  const app = createApp(options.tls ?? null);
  registerClipperRoutes(app, deps.pipeline, options.bodyBytesMax);
  registerMetricsRoutes(app, deps);
  app.get('/healthz', (res) => {
    sendJson(res, { aborted: false }, 200, '{"status":"ok"}');
  });
  deps.registerRoutes?.(app);
  app.any('/*', (res, req) => {
    sendError(
      res,
      { aborted: false },
      new ClipperError('CLP_ERR_ROUTE_NOT_FOUND', `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`),
    );
  });
  const listening = await listenFor(app, options);
  return { port: listening.port, app, close: () => listening.stopListening() };
}

function listenFor(app: TemplatedApp, options: QueryServerOptions): Promise<Listening> {
  if (options.listen === 'none') return Promise.resolve({ port: -1, stopListening: () => undefined });
  const listen = options.listen === 'shared' ? listenShared : listenApp;
  return listen(app, options.host, options.port, 'query frontend');
}
