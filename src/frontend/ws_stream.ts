// WebSocket streaming predictions: GET /<app>/stream upgrades to a long-lived connection that
// pipelines queries. A message is `{"id", "input"}` or `{"id", "input_batch"}` (plus optional
// `version`, `slo_micros`, `uid`), or feedback `{"id", "type":"update", "input", "label"}`; JSON in
// text frames, msgpack in binary frames, each answered in the encoding it came in. Answers carry
// the client's id and go out as they finish, in any order. Protocol and limits: docs/streaming.md.
//
// Flow control: at most `inFlightMax` queries per connection; while more than `highWaterBytes` wait
// in uWS's send buffer (the client reads slowly) new queries are rejected with error frames; past
// `backpressureBytesMax` the connection is closed with 4008. Answers that finish in one burst go
// out corked from a microtask.

import { Packr, Unpackr } from 'msgpackr';
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import { ClipperError, errorBody, kErrors } from '../errors.js';
import type { InputType } from '../input_types.js';
import { appNameOf, sendError } from '../http/http_util.js';
import { applyFeedback, feedbackFields, type FeedbackAnswer } from '../query/feedback.js';
import { readPredictRequest } from './predict_request.js';
import { pinnedPlacement, type AppRoute, type QueryProcessor, type QuerySink } from '../query/query_processor.js';
import type { SelectionHub } from '../selection/selection_hub.js';
import { submitSelected } from '../query/selection_route.js';

export interface StreamLimits {
  /** Queries in flight per connection (a batch counts each input). */
  inFlightMax: number;
  /** Above this many bytes waiting to be sent, new queries are rejected with error frames. */
  highWaterBytes: number;
  /** Above this many bytes waiting to be sent, the connection is closed with 4008. */
  backpressureBytesMax: number;
  /** Largest incoming message; uWS closes the connection (1009) on a larger one. */
  messageBytesMax: number;
  /** Seconds without traffic before uWS closes the connection (it pings automatically); 0: never. */
  idleTimeoutS: number;
}

export const kStreamDefaults: Readonly<StreamLimits> = Object.freeze({
  inFlightMax: 4096,
  highWaterBytes: 1024 * 1024,
  backpressureBytesMax: 16 * 1024 * 1024,
  messageBytesMax: 16 * 1024 * 1024,
  idleTimeoutS: 120,
});

/** Close codes this endpoint uses (RFC 6455 private range 4000-4999). */
export const kCloseBackpressure = 4008;
export const kCloseShutdown = 1001;

export interface StreamDeps {
  processor: QueryProcessor;
  routes: ReadonlyMap<string, AppRoute>;
  inputTypeOf(route: AppRoute): InputType;
  sloMicrosMax: number;
  limits?: Partial<StreamLimits>;
  /** The selection worker's main-thread end (feedback); null: feedback is only acknowledged. */
  hub?: SelectionHub | null;
}

export interface StreamServer {
  /** Open stream connections. */
  readonly connectionCount: number;
  /** Close every stream connection (1001 'server shutting down'). */
  closeAll(): void;
}

interface ConnData {
  conn: StreamConnection;
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true });

/** A batch message's answers, assembled until the last one is in. */
class PendingBatch {
  readonly idJson: string;
  readonly id: unknown;
  readonly parts: unknown[];
  remaining: number;
  constructor(id: unknown, idJson: string, count: number) {
    this.id = id;
    this.idJson = idJson;
    this.parts = new Array<unknown>(count);
    this.remaining = count;
  }
}

/** One stream connection; also the QuerySink of all its queries (the sink index is a slot). */
class StreamConnection implements QuerySink {
  ws: WebSocket<ConnData> | null = null;
  closed = false;
  readonly appName: string;
  readonly #server: StreamRegistry;
  // Per-slot state of queries in flight (slot = the sink index handed to the processor).
  readonly #slotId: unknown[] = [];
  readonly #slotIdJson: string[] = [];
  readonly #slotBatch: Array<PendingBatch | null> = [];
  readonly #slotPos: number[] = [];
  readonly #slotToken: number[] = [];
  /** Slots whose query went to several models (Exp4): every token, for cancel on close. */
  readonly #slotTokens = new Map<number, number[]>();
  readonly #slotBinary: boolean[] = [];
  readonly #free: number[] = [];
  inFlight = 0;
  // Frames waiting for the next flush.
  readonly #out: Array<string | Uint8Array> = [];
  readonly #outBinary: boolean[] = [];
  #flushQueued = false;

  constructor(appName: string, server: StreamRegistry) {
    this.appName = appName;
    this.#server = server;
  }

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    let msg: unknown;
    try {
      msg = isBinary ? unpackr.unpack(new Uint8Array(message)) : JSON.parse(Buffer.from(message).toString('utf8'));
    } catch (err) {
      this.#sendError(undefined, isBinary, new ClipperError('CLP_ERR_JSON_PARSE',
        `${isBinary ? 'Error parsing msgpack' : 'Error parsing JSON'}: ${(err as Error).message}`));
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || msg instanceof Uint8Array) {
      this.#sendError(undefined, isBinary, new ClipperError('CLP_ERR_JSON_SCHEMA',
        `a stream message must be a ${isBinary ? 'msgpack map' : 'JSON object'} with an "id"`));
      return;
    }
    const json = msg as Record<string, unknown>;
    const id = json.id;
    if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
      this.#sendError(undefined, isBinary, new ClipperError('CLP_ERR_JSON_SCHEMA',
        'a stream message must have an "id" (a string or a finite number) to match its answer'));
      return;
    }
    try {
      if (json.type === 'update') this.#feedback(json, id, isBinary);
      else if (json.type === undefined || json.type === 'predict') this.#predict(json, id, isBinary);
      else throw new ClipperError('CLP_ERR_JSON_SCHEMA', `unknown message type ${JSON.stringify(json.type)}; use "predict" or "update"`);
    } catch (err) {
      this.#sendError(id, isBinary, err);
    }
  }

  #route(): AppRoute {
    const route = this.#server.deps.routes.get(this.appName);
    if (route === undefined) throw new ClipperError('CLP_ERR_APP_NOT_FOUND', `no application named '${this.appName}'`);
    return route;
  }

  #predict(json: Record<string, unknown>, id: string | number, binary: boolean): void {
    const { deps, limits } = this.#server;
    const route = this.#route();
    const request = readPredictRequest(json, deps.inputTypeOf(route), deps.sloMicrosMax);
    deps.processor.assertInputsFit(request.inputs, route.typeCode);
    const placement = request.version === null ? null : pinnedPlacement(route, request.version);
    const count = request.inputs.length;
    const idJson = binary ? '' : typeof id === 'number' ? String(id) : JSON.stringify(id);
    if (count === 0) {
      this.#enqueue(binary ? packr.pack({ id, batch_predictions: [] }) : `{"id":${idJson},"batch_predictions":[]}`, binary);
      return;
    }
    if (this.inFlight + count > limits.inFlightMax) {
      throw new ClipperError('CLP_ERR_OVERLOADED', `the connection has ${this.inFlight} queries in flight; ${count} more `
        + `would exceed its limit of ${limits.inFlightMax}: wait for answers before sending more`, { retryAfterS: 0 });
    }
    const buffered = this.ws === null ? 0 : this.ws.getBufferedAmount();
    if (buffered > limits.highWaterBytes) {
      throw new ClipperError('CLP_ERR_OVERLOADED', `the connection has ${buffered} bytes of answers waiting to be sent `
        + `(high-water mark ${limits.highWaterBytes}): read answers before sending more queries`, { retryAfterS: 0 });
    }
    const sloMs = request.sloMicros === null ? route.sloMs : request.sloMicros / 1000;
    const processor = deps.processor;
    const batch = request.batch ? new PendingBatch(id, idJson, count) : null;
    const tokens: number[] = [];
    for (let i = 0; i < count; i++) {
      const slot = this.#allocSlot(id, idJson, batch, i, binary);
      if (placement !== null) {
        const token = processor.submit(route, placement, request.inputs[i]!, sloMs, this, slot);
        if (token >= 0) this.#slotToken[slot] = token;
        continue;
      }
      tokens.length = 0;
      submitSelected(processor, route, request.uid, request.inputs[i]!, sloMs, this, slot, tokens);
      // The slot may already be answered (cache hit, default): only an open slot keeps tokens.
      if (tokens.length > 0 && this.#slotId[slot] !== undefined && this.#slotBatch[slot] === batch && this.#slotPos[slot] === i) {
        this.#slotToken[slot] = tokens[0]!;
        if (tokens.length > 1) this.#slotTokens.set(slot, [...tokens]);
      }
    }
  }

  #feedback(json: Record<string, unknown>, id: string | number, binary: boolean): void {
    const route = this.#route();
    const deps = this.#server.deps;
    const pending = applyFeedback({ processor: deps.processor, inputTypeOf: deps.inputTypeOf, hub: deps.hub ?? null }, route, json);
    const send = (answer: FeedbackAnswer): void => {
      if (binary) {
        const frame: Record<string, unknown> = { id, query_id: answer.queryId, feedback_received: true };
        if (answer.models.length > 0) {
          frame.models = answer.models;
          frame.losses = answer.losses;
        }
        this.#enqueue(packr.pack(frame), true);
      } else {
        this.#enqueue(`{"id":${typeof id === 'number' ? String(id) : JSON.stringify(id)},${feedbackFields(answer)}}`, false);
      }
    };
    pending.then(send, (err: unknown) => this.#sendError(id, binary, err));
  }

  #allocSlot(id: unknown, idJson: string, batch: PendingBatch | null, pos: number, binary: boolean): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#slotId.length;
      this.#slotId.push(id);
      this.#slotIdJson.push(idJson);
      this.#slotBatch.push(batch);
      this.#slotPos.push(pos);
      this.#slotToken.push(-1);
      this.#slotBinary.push(binary);
    } else {
      this.#slotId[slot] = id;
      this.#slotIdJson[slot] = idJson;
      this.#slotBatch[slot] = batch;
      this.#slotPos[slot] = pos;
      this.#slotToken[slot] = -1;
      this.#slotBinary[slot] = binary;
    }
    this.inFlight++;
    return slot;
  }

  onAnswer(slot: number, queryId: number, outputJson: string, isDefault: boolean, explanation: string | null, _shed = false,
    extraJson = ''): void {
    const id = this.#slotId[slot];
    const idJson = this.#slotIdJson[slot]!;
    const batch = this.#slotBatch[slot]!;
    const pos = this.#slotPos[slot]!;
    const binary = this.#slotBinary[slot]!;
    this.#slotId[slot] = undefined;
    this.#slotBatch[slot] = null;
    this.#slotToken[slot] = -1;
    this.#slotTokens.delete(slot);
    this.#free.push(slot);
    this.inFlight--;
    if (this.closed) return;
    if (binary) {
      const answer: Record<string, unknown> = batch === null
        ? { id, query_id: queryId, output: JSON.parse(outputJson), default: isDefault }
        : { query_id: queryId, output: JSON.parse(outputJson), default: isDefault };
      if (isDefault && explanation !== null) answer.default_explanation = explanation;
      if (extraJson !== '') Object.assign(answer, JSON.parse(`{${extraJson.slice(1)}}`));
      if (batch === null) {
        this.#enqueue(packr.pack(answer), true);
      } else {
        batch.parts[pos] = answer;
        if (--batch.remaining === 0) this.#enqueue(packr.pack({ id: batch.id, batch_predictions: batch.parts }), true);
      }
      return;
    }
    const tail = isDefault
      ? `"query_id":${queryId},"output":${outputJson},"default":true${explanation === null ? '' : `,"default_explanation":${JSON.stringify(explanation)}`}${extraJson}}`
      : `"query_id":${queryId},"output":${outputJson},"default":false${extraJson}}`;
    if (batch === null) {
      this.#enqueue(`{"id":${idJson},${tail}`, false);
    } else {
      batch.parts[pos] = tail;
      if (--batch.remaining === 0) this.#enqueue(`{"id":${batch.idJson},"batch_predictions":[{${(batch.parts as string[]).join(',{')}]}`, false);
    }
  }

  #sendError(id: unknown, binary: boolean, err: unknown): void {
    const e = err instanceof ClipperError ? err : new ClipperError('CLP_ERR_INTERNAL',
      `unexpected error: ${err instanceof Error ? err.message : String(err)}`);
    if (binary) {
      const frame: Record<string, unknown> = {};
      if (id !== undefined) frame.id = id;
      frame.error = kErrors[e.code].name;
      frame.cause = e.message;
      frame.code = e.code;
      this.#enqueue(packr.pack(frame), true);
    } else {
      const body = errorBody(e);
      this.#enqueue(id === undefined ? body : `{"id":${JSON.stringify(id)},${body.slice(1)}`, false);
    }
  }

  #enqueue(frame: string | Uint8Array, binary: boolean): void {
    if (this.closed) return;
    this.#out.push(frame);
    this.#outBinary.push(binary);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    const ws = this.ws;
    const out = this.#out;
    const outBinary = this.#outBinary;
    if (this.closed || ws === null) {
      out.length = 0;
      outBinary.length = 0;
      return;
    }
    let dropped = false;
    ws.cork(() => {
      for (let i = 0; i < out.length; i++) {
        if (ws.send(out[i]!, outBinary[i]!, false) === 2) dropped = true;
      }
    });
    out.length = 0;
    outBinary.length = 0;
    if (dropped || ws.getBufferedAmount() > this.#server.limits.backpressureBytesMax) {
      this.end(kCloseBackpressure, 'backpressure limit exceeded');
    }
  };

  /** Close with a code and reason (no-op once closed). */
  end(code: number, reason: string): void {
    const ws = this.ws;
    if (this.closed || ws === null) return;
    ws.end(code, reason); // calls the close handler synchronously
  }

  /** The connection is gone: drop its queries' answers and tell the processor to forget them. */
  onClose(): void {
    this.closed = true;
    this.ws = null;
    this.#out.length = 0;
    this.#outBinary.length = 0;
    if (this.inFlight === 0) return;
    const tokens: number[] = [];
    for (let slot = 0; slot < this.#slotToken.length; slot++) {
      const token = this.#slotToken[slot]!;
      if (token < 0) continue;
      const all = this.#slotTokens.get(slot);
      if (all === undefined) tokens.push(token);
      else tokens.push(...all);
    }
    this.#slotTokens.clear();
    this.#server.deps.processor.cancel(tokens);
    // Cancelled queries are never answered: release their slots here.
    for (let slot = 0; slot < this.#slotToken.length; slot++) {
      if (this.#slotToken[slot]! >= 0) {
        this.#slotToken[slot] = -1;
        this.#slotId[slot] = undefined;
        this.#slotBatch[slot] = null;
        this.#free.push(slot);
        this.inFlight--;
      }
    }
  }
}

interface StreamRegistry {
  readonly deps: StreamDeps;
  readonly limits: Readonly<StreamLimits>;
}


/** Add `/:app/stream` (WebSocket) to the query frontend. */
export function registerStreamRoutes(app: TemplatedApp, deps: StreamDeps): StreamServer {
  const limits: Readonly<StreamLimits> = Object.freeze({ ...kStreamDefaults, ...deps.limits });
  const registry: StreamRegistry = { deps, limits };
  const open = new Set<StreamConnection>();

  const upgrade = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void => {
    const appName = appNameOf(req);
    if (!deps.routes.has(appName)) {
      sendError(res, { aborted: false }, new ClipperError('CLP_ERR_APP_NOT_FOUND', `no application named '${appName}'`));
      return;
    }
    const data: ConnData = { conn: new StreamConnection(appName, registry) };
    res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'), context);
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
      sendError(res, { aborted: false }, new ClipperError('CLP_ERR_METHOD_NOT_ALLOWED',
        `${req.getUrl()} is a WebSocket endpoint: connect with an Upgrade: websocket request`));
    });
  }

  return {
    get connectionCount() { return open.size; },
    closeAll() {
      for (const conn of [...open]) conn.end(kCloseShutdown, 'server shutting down');
    },
  };
}
