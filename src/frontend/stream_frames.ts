// The WebSocket stream's wire format: JSON in text frames, msgpack in binary frames, each message
// answered in the encoding it came in. A message is a map with the client's `id` (a string or a
// finite number); every answer, batch, feedback answer and error frame carries that id first.
// Answers are encoded by answers.ts (the one place for Clipper's answer fields).

import { Packr, Unpackr } from 'msgpackr';
import { ClipperError, asClipperError, errorBody, kErrors } from '../errors.js';
import type { Answer } from '../query/answer.js';
import type { FeedbackAnswer } from '../query/feedback.js';
import { answerJson, answerMap, feedbackJson, feedbackMap } from './answers.js';

export type Frame = string | Uint8Array;
export type StreamId = string | number;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true });

/** A decoded message: its fields, with a valid `id`. Throws ClipperError (the frame has no usable id). */
export function decodeMessage(message: ArrayBuffer, binary: boolean): Record<string, unknown> & { id: StreamId } {
  let msg: unknown;
  try {
    msg = binary ? unpackr.unpack(new Uint8Array(message)) : JSON.parse(Buffer.from(message).toString('utf8'));
  } catch (err) {
    throw new ClipperError('CLP_ERR_JSON_PARSE', `${binary ? 'Error parsing msgpack' : 'Error parsing JSON'}: ${(err as Error).message}`);
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || msg instanceof Uint8Array) {
    throw new ClipperError('CLP_ERR_JSON_SCHEMA', `a stream message must be a ${binary ? 'msgpack map' : 'JSON object'} with an "id"`);
  }
  const id = (msg as Record<string, unknown>).id;
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
    throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'a stream message must have an "id" (a string or a finite number) to match its answer');
  }
  return msg as Record<string, unknown> & { id: StreamId };
}

/** What a message asks for: its `type`, "predict" (the default) or "update"; a 400 naming it otherwise. */
export function messageKind(msg: Record<string, unknown>): 'predict' | 'update' {
  const type = msg.type;
  if (type === undefined || type === 'predict') return 'predict';
  if (type === 'update') return 'update';
  // Any value a msgpack peer can send (a bigint, a map, bytes) is named without JSON.stringify,
  // which throws on a bigint.
  const shown =
    typeof type === 'string' ? JSON.stringify(type.length > 40 ? `${type.slice(0, 40)}…` : type) : `a value of type ${typeof type}`;
  throw new ClipperError('CLP_ERR_JSON_SCHEMA', `unknown message type ${shown}; use "predict" or "update"`);
}

/** What a text frame for `id` starts with: `{"id":<id>,` (computed once per message). */
export function idOpenOf(id: StreamId): string {
  return `{"id":${typeof id === 'number' ? String(id) : JSON.stringify(id)},`;
}

/** One answer of a single-input message. */
export function answerFrame(answer: Answer, id: StreamId, idOpen: string, binary: boolean): Frame {
  return binary ? packr.pack(answerMap(answer, id)) : answerJson(answer, idOpen);
}

/** One answer inside a batch (assembled by batchFrame once all are in). */
export function batchPart(answer: Answer, binary: boolean): string | Record<string, unknown> {
  return binary ? answerMap(answer, undefined) : answerJson(answer);
}

/** The answers of a batch message, in input order (parts from batchPart, or none for an empty batch). */
export function batchFrame(id: StreamId, idOpen: string, parts: ReadonlyArray<unknown>, binary: boolean): Frame {
  return binary ? packr.pack({ id, batch_predictions: parts }) : `${idOpen}"batch_predictions":[${parts.join(',')}]}`;
}

export function feedbackFrame(answer: FeedbackAnswer, id: StreamId, binary: boolean): Frame {
  return binary ? packr.pack(feedbackMap(answer, id)) : feedbackJson(answer, idOpenOf(id));
}

/** An error as a frame: Clipper's error body, with the message's id first when it has one. */
export function errorFrame(id: StreamId | undefined, binary: boolean, err: unknown): Frame {
  const e = asClipperError(err);
  if (binary) {
    const frame: Record<string, unknown> = {};
    if (id !== undefined) frame.id = id;
    frame.error = kErrors[e.code].name;
    frame.cause = e.message;
    frame.code = e.code;
    return packr.pack(frame);
  }
  const body = errorBody(e);
  return id === undefined ? body : `${idOpenOf(id)}${body.slice(1)}`;
}
