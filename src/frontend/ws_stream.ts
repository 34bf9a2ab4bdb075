// WebSocket streaming predictions: GET /<app>/stream upgrades to a long-lived connection that
// pipelines queries. A message is `{"id", "input"}` or `{"id", "input_batch"}` (plus optional
// `version`, `slo_micros`, `uid`), or feedback `{"id", "type":"update", "input", "label"}`; JSON in
// text frames, msgpack in binary frames (stream_frames.ts), each answered in the encoding it came
// in. Answers carry the client's id and go out as they finish, in any order (stream_connection.ts).
// Protocol and limits: docs/streaming.md.
//
// Flow control: at most `inFlightMax` queries per connection; while more than `highWaterBytes` wait
// in uWS's send buffer (the client reads slowly) new queries are rejected with error frames; past
// `backpressureBytesMax` the connection is closed with 4008. Answers that finish in one burst go
// out corked from a microtask.

import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t } from 'uWebSockets.js';
import { ClipperError } from '../errors.js';
import { appNameOf, sendError } from '../http/http_util.js';
import type { QueryPipeline } from '../query/pipeline.js';
import { StreamConnection, type ConnData } from './stream_connection.js';
import { kCloseShutdown, kStreamDefaults, type StreamLimits } from './stream_limits.js';

export interface StreamDeps {
  pipeline: QueryPipeline;
  limits?: Partial<StreamLimits>;
}

export interface StreamServer {
  /** Open stream connections. */
  readonly connectionCount: number;
  /** Close every stream connection (1001 'server shutting down'). */
  closeAll(): void;
}

/** Add `/:app/stream` (WebSocket) to the query frontend. */
export function registerStreamRoutes(app: TemplatedApp, deps: StreamDeps): StreamServer {
  const limits: Readonly<StreamLimits> = Object.freeze({ ...kStreamDefaults, ...deps.limits });
  const pipeline = deps.pipeline;
  const open = new Set<StreamConnection>();

  const upgrade = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void => {
    const appName = appNameOf(req);
    if (!pipeline.has(appName)) {
      sendError(res, { aborted: false }, new ClipperError('CLP_ERR_APP_NOT_FOUND', `no application named '${appName}'`));
      return;
    }
    const data: ConnData = { conn: new StreamConnection(appName, pipeline, limits) };
    res.upgrade(
      data,
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  };

  for (const suffix of ['', '/']) {
    app.ws<ConnData>(`/:app/stream${suffix}`, {
      maxPayloadLength: limits.messageBytesMax,
      idleTimeout: limits.idleTimeoutS,
      sendPingsAutomatically: true,
      // The flush closes with 4008 once more than backpressureBytesMax wait. uWS's own limit is a
      // backstop at twice that: past it uWS drops sends (the flush sees the drop and closes too),
      // and it leaves room for the close frame itself. closeOnBackpressureLimit would close
      // without a reason code.
      maxBackpressure: 2 * limits.backpressureBytesMax,
      closeOnBackpressureLimit: false,
      upgrade,
      open: (ws) => {
        const conn = ws.getUserData().conn;
        conn.ws = ws;
        open.add(conn);
      },
      message: (ws, message, isBinary) => ws.getUserData().conn.onMessage(message, isBinary),
      close: (ws) => {
        const conn = ws.getUserData().conn;
        open.delete(conn);
        conn.onClose();
      },
    });
    // Plain HTTP (no upgrade) to a stream route: say what the route is for.
    app.any(`/:app/stream${suffix}`, (res, req) => {
      sendError(
        res,
        { aborted: false },
        new ClipperError(
          'CLP_ERR_METHOD_NOT_ALLOWED',
          `${req.getUrl()} is a WebSocket endpoint: connect with an Upgrade: websocket request`,
        ),
      );
    });
  }

  return {
    get connectionCount() {
      return open.size;
    },
    closeAll() {
      for (const conn of [...open]) conn.end(kCloseShutdown, 'server shutting down');
    },
  };
}
