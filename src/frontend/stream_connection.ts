// One WebSocket stream connection: decodes each message (stream_frames.ts), hands predicts and
// feedback to the query pipeline, and sends answers as they finish, in any order, corked from a
// microtask. The connection is the RequestSink of all its queries: the sink index is a slot, one
// per query in flight, holding what its answer frame needs. Flow control: see ws_stream.ts and
// docs/streaming.md.

import assert from 'node:assert/strict';
import type { WebSocket } from 'uWebSockets.js';
import { ClipperError } from '../errors.js';
import type { Answer } from '../query/answer.js';
import type { QueryPipeline, RequestSink } from '../query/pipeline.js';
import { readFeedbackRequest, readPredictRequest } from './predict_request.js';
import {
  answerFrame,
  batchFrame,
  batchPart,
  decodeMessage,
  errorFrame,
  feedbackFrame,
  idOpenOf,
  messageKind,
  type Frame,
  type StreamId,
} from './stream_frames.js';
import { kCloseBackpressure, type StreamLimits } from './stream_limits.js';

export interface ConnData {
  conn: StreamConnection;
}

/** A batch message's answers, assembled until the last one is in. */
class PendingBatch {
  readonly id: StreamId;
  readonly idOpen: string;
  readonly parts: unknown[];
  remaining: number;
  constructor(id: StreamId, idOpen: string, count: number) {
    this.id = id;
    this.idOpen = idOpen;
    this.parts = new Array<unknown>(count);
    this.remaining = count;
  }
}

export class StreamConnection implements RequestSink {
  ws: WebSocket<ConnData> | null = null;
  closed = false;
  readonly appName: string;
  readonly #pipeline: QueryPipeline;
  readonly #limits: Readonly<StreamLimits>;
  // Per-slot state of queries in flight (slot = the sink index handed to the pipeline); a free
  // slot has no id.
  readonly #slotId: Array<StreamId | undefined> = [];
  readonly #slotIdOpen: string[] = [];
  readonly #slotBatch: Array<PendingBatch | null> = [];
  readonly #slotPos: number[] = [];
  readonly #slotToken: number[] = [];
  /** Slots whose query went to several models (Exp4): every token, for cancel on close. */
  readonly #slotTokens = new Map<number, number[]>();
  readonly #slotBinary: boolean[] = [];
  readonly #free: number[] = [];
  inFlight = 0;
  // The message being submitted (set by #predict, read by begin() and indexFor()).
  #reqId: StreamId = 0;
  #reqIdOpen = '';
  #reqBinary = false;
  #reqIsBatch = false;
  #reqBatch: PendingBatch | null = null;
  readonly #tokens: number[] = [];
  // Frames waiting for the next flush.
  readonly #out: Frame[] = [];
  readonly #outBinary: boolean[] = [];
  #flushQueued = false;

  constructor(appName: string, pipeline: QueryPipeline, limits: Readonly<StreamLimits>) {
    this.appName = appName;
    this.#pipeline = pipeline;
    this.#limits = limits;
  }

  onMessage(message: ArrayBuffer, binary: boolean): void {
    // Deadlines count from the message's arrival, before it is decoded.
    const arrivalMs = this.#pipeline.processor.clock.nowMs();
    let msg: ReturnType<typeof decodeMessage>;
    try {
      msg = decodeMessage(message, binary);
    } catch (err) {
      this.#enqueue(errorFrame(undefined, binary, err), binary);
      return;
    }
    const id = msg.id;
    try {
      if (messageKind(msg) === 'update') this.#feedback(msg, id, binary);
      else this.#predict(msg, id, binary, arrivalMs);
    } catch (err) {
      this.#enqueue(errorFrame(id, binary, err), binary);
    }
  }

  #predict(json: Record<string, unknown>, id: StreamId, binary: boolean, arrivalMs: number): void {
    const pipeline = this.#pipeline;
    const route = pipeline.route(this.appName);
    const request = readPredictRequest(json, route.inputType, pipeline.sloMicrosMax);
    request.arrivalMs = arrivalMs;
    const idOpen = binary ? '' : idOpenOf(id);
    this.#reqId = id;
    this.#reqIdOpen = idOpen;
    this.#reqBinary = binary;
    this.#reqIsBatch = request.batch;
    this.#reqBatch = null;
    const tokens = this.#tokens;
    tokens.length = 0;
    if (pipeline.predict(route, request, this, tokens) === 0) this.#enqueue(batchFrame(id, idOpen, [], binary), binary);
    this.#reqBatch = null;
  }

  #feedback(json: Record<string, unknown>, id: StreamId, binary: boolean): void {
    const pipeline = this.#pipeline;
    const route = pipeline.route(this.appName);
    pipeline.feedback(route, readFeedbackRequest(json, route.inputType)).then(
      (answer) => this.#enqueue(feedbackFrame(answer, id, binary), binary),
      (err: unknown) => this.#enqueue(errorFrame(id, binary, err), binary),
    );
  }

  /** The message is valid: refuse it if the connection is over its limits (nothing submitted yet). */
  begin(count: number): void {
    const limits = this.#limits;
    if (this.inFlight + count > limits.inFlightMax) {
      throw new ClipperError(
        'CLP_ERR_OVERLOADED',
        `the connection has ${this.inFlight} queries in flight; ${count} more ` +
          `would exceed its limit of ${limits.inFlightMax}: wait for answers before sending more`,
        { retryAfterS: 0 },
      );
    }
    const buffered = this.ws === null ? 0 : this.ws.getBufferedAmount();
    if (buffered > limits.highWaterBytes) {
      throw new ClipperError(
        'CLP_ERR_OVERLOADED',
        `the connection has ${buffered} bytes of answers waiting to be sent ` +
          `(high-water mark ${limits.highWaterBytes}): read answers before sending more queries`,
        { retryAfterS: 0 },
      );
    }
    if (this.#reqIsBatch) this.#reqBatch = new PendingBatch(this.#reqId, this.#reqIdOpen, count);
  }

  /** A slot for input `pos` of the message being submitted. */
  indexFor(pos: number): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#slotId.length;
      this.#slotId.push(this.#reqId);
      this.#slotIdOpen.push(this.#reqIdOpen);
      this.#slotBatch.push(this.#reqBatch);
      this.#slotPos.push(pos);
      this.#slotToken.push(-1);
      this.#slotBinary.push(this.#reqBinary);
    } else {
      if (this.#slotId[slot] !== undefined || this.#slotToken[slot] !== -1) assert.fail('a stream slot is free before reuse');
      this.#slotId[slot] = this.#reqId;
      this.#slotIdOpen[slot] = this.#reqIdOpen;
      this.#slotBatch[slot] = this.#reqBatch;
      this.#slotPos[slot] = pos;
      this.#slotBinary[slot] = this.#reqBinary;
    }
    this.inFlight++;
    return slot;
  }

  /** Keep the tokens of a slot still open (a slot answered at once, from the cache or by default, has none). */
  submitted(slot: number, tokens: readonly number[], from: number): void {
    if (tokens.length === from) return;
    if (this.#slotId[slot] === undefined) assert.fail('a slot with queries in workers is still open');
    this.#slotToken[slot] = tokens[from]!;
    if (tokens.length - from > 1) this.#slotTokens.set(slot, tokens.slice(from));
  }

  onAnswer(slot: number, answer: Answer): void {
    const id = this.#slotId[slot];
    if (id === undefined) assert.fail('a stream slot is answered once');
    const batch = this.#slotBatch[slot]!;
    const binary = this.#slotBinary[slot]!;
    const idOpen = this.#slotIdOpen[slot]!;
    const pos = this.#slotPos[slot]!;
    this.#release(slot);
    if (this.closed) return;
    if (batch === null) {
      this.#enqueue(answerFrame(answer, id, idOpen, binary), binary);
      return;
    }
    batch.parts[pos] = batchPart(answer, binary);
    if (--batch.remaining === 0) this.#enqueue(batchFrame(batch.id, batch.idOpen, batch.parts, binary), binary);
  }

  #release(slot: number): void {
    this.#slotId[slot] = undefined;
    this.#slotBatch[slot] = null;
    if (this.#slotToken[slot] !== -1) {
      this.#slotToken[slot] = -1;
      this.#slotTokens.delete(slot);
    }
    this.#free.push(slot);
    if (--this.inFlight < 0) assert.fail('in-flight count never goes below zero');
  }

  #enqueue(frame: Frame, binary: boolean): void {
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
    if (dropped || ws.getBufferedAmount() > this.#limits.backpressureBytesMax) {
      this.end(kCloseBackpressure, 'backpressure limit exceeded');
    }
  };

  /** Close with a code and reason (no-op once closed). */
  end(code: number, reason: string): void {
    const ws = this.ws;
    if (this.closed || ws === null) return;
    ws.end(code, reason); // calls the close handler synchronously
  }

  /** The connection is gone: drop its queries' answers and tell the pipeline to forget them. */
  onClose(): void {
    this.closed = true;
    this.ws = null;
    this.#out.length = 0;
    this.#outBinary.length = 0;
    if (this.inFlight === 0) return;
    const tokens: number[] = [];
    const open: number[] = [];
    for (let slot = 0; slot < this.#slotToken.length; slot++) {
      const token = this.#slotToken[slot]!;
      if (token < 0) continue;
      open.push(slot);
      const all = this.#slotTokens.get(slot);
      if (all === undefined) tokens.push(token);
      else tokens.push(...all);
    }
    // Cancel can answer a slot of this connection at once: cancelling a cache owner re-dispatches
    // its waiters, and one that finds the ring full gets the default output (onAnswer released it).
    this.#pipeline.cancel(tokens);
    // Cancelled queries are never answered: release the slots still open here.
    for (const slot of open) if (this.#slotToken[slot] !== -1) this.#release(slot);
    if (this.inFlight !== 0) assert.fail('every open slot had a query in a worker');
  }
}
