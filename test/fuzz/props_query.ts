// Fuzz properties of Clipper's query bodies: predict and update (HTTP), and the WebSocket stream's
// messages in JSON and msgpack, each through the same functions the servers call.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { readFeedbackRequest, parsePredictRequest, readPredictRequest } from '../../src/frontend/predict_request.js';
import { decodeMessage, errorFrame, messageKind } from '../../src/frontend/stream_frames.js';
import { parseJsonObject } from '../../src/http/http_util.js';
import type { InputType } from '../../src/input_types.js';
import {
  jsonBodyBytes,
  jsonValue,
  kInputTypes,
  kNastyKeys,
  msgpackValue,
  mutateObject,
  validFeedbackBody,
  validInput,
  validPredictBody,
} from './arbitraries.js';
import { check, expectClientError, expectErrorFrame, parseOrReject } from './fuzz_checks.js';
import { arrayBufferOf, syncProperty, type FuzzProperty } from './fuzz_property.js';

const kSloMicrosMax = 1_000_000;

function typed<T>(of: (t: InputType) => fc.Arbitrary<T>): fc.Arbitrary<[InputType, T]> {
  return fc.constantFrom(...kInputTypes).chain((t) => of(t).map((v): [InputType, T] => [t, v]));
}

/** The typed array a numeric input may come as (PackedNumbers: big JSON bodies, msgpack bins). */
const kPackedOf: Partial<Record<InputType, Float64ArrayConstructor | Float32ArrayConstructor | Int32ArrayConstructor>> = {
  doubles: Float64Array,
  floats: Float32Array,
  integers: Int32Array,
};

/** An accepted input has the app's type: numbers as number[] or as the type's PackedNumbers. */
function checkInput(x: unknown, t: InputType, where: string): void {
  if (t === 'strings') check(typeof x === 'string', `${where}: a strings input parsed to ${typeof x}`);
  else if (t === 'bytes') check(Buffer.isBuffer(x), `${where}: a bytes input parsed to ${typeof x}`);
  else {
    const packed = kPackedOf[t]!;
    const numbers = Array.isArray(x) || x instanceof packed;
    check(
      numbers && Array.from(x as ArrayLike<unknown>).every((v) => typeof v === 'number' && Number.isFinite(v)),
      `${where}: numeric input not finite numbers`,
    );
  }
}

/** The inputs a valid JSON body must parse to. */
function expectedInputs(body: Record<string, unknown>, t: InputType): unknown[] {
  const round = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
  const list = round.input !== undefined ? [round.input] : (round.input_batch as unknown[]);
  return t === 'bytes' ? list.map((b) => Buffer.from(b as string, 'base64')) : list;
}

const predictBody = syncProperty(
  'predict_body',
  'clipper_rest',
  6,
  typed((t) => jsonBodyBytes(validPredictBody(t))),
  ([t, body]) => {
    const r = parseOrReject('parsePredictRequest', () => parsePredictRequest(body, t, kSloMicrosMax));
    if (r === null) return;
    check(Array.isArray(r.inputs) && typeof r.batch === 'boolean', 'a parsed predict has inputs and batch');
    for (const x of r.inputs) checkInput(x, t, 'predict');
    check(
      r.sloMicros === null || (Number.isInteger(r.sloMicros) && r.sloMicros >= 1 && r.sloMicros <= kSloMicrosMax),
      'slo_micros in range',
    );
  },
);

const predictValid = syncProperty('predict_valid_round_trip', 'clipper_rest', 3, typed(validPredictBody), ([t, body]) => {
  const r = parsePredictRequest(Buffer.from(JSON.stringify(body)), t, kSloMicrosMax);
  // A packed input (a big body) holds the numbers in the app's element type (floats rounded to float32).
  const isPacked = (x: unknown): boolean => ArrayBuffer.isView(x) && !Buffer.isBuffer(x);
  const got = r.inputs.map((x) => (isPacked(x) ? Array.from(x as ArrayLike<number>) : x));
  const want = expectedInputs(body, t).map((x, i) => (isPacked(r.inputs[i]) ? Array.from(kPackedOf[t]!.from(x as number[])) : x));
  assert.deepEqual(got, want);
  assert.equal(r.batch, body.input === undefined);
  assert.equal(r.sloMicros, body.slo_micros ?? null);
  assert.equal(r.version, body.version ?? null);
  assert.equal(r.uid, body.uid === undefined ? null : String(body.uid));
});

const feedbackBody = syncProperty(
  'update_body',
  'clipper_rest',
  4,
  typed((t) => jsonBodyBytes(validFeedbackBody(t))),
  ([t, body]) => {
    const r = parseOrReject('readFeedbackRequest', () => readFeedbackRequest(parseJsonObject(body), t));
    if (r === null) return;
    checkInput(r.input, t, 'update');
    check(r.label !== undefined, 'an accepted update has a label');
  },
);

/** A stream message: a predict or update body with an id and maybe a type. */
function streamMessage(t: InputType): fc.Arbitrary<Record<string, unknown>> {
  const id = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
  const predict = fc
    .tuple(validPredictBody(t), id, fc.constantFrom(undefined, 'predict'))
    .map(([b, i, type]) => (type === undefined ? { id: i, ...b } : { id: i, type, ...b }));
  const update = fc.tuple(validFeedbackBody(t), id).map(([b, i]) => ({ id: i, type: 'update', ...b }));
  return fc.oneof(predict, update);
}

/** Msgpack-only damage: fields set to values JSON cannot carry (bigints, bytes, dates, NaN). */
function msgpackMutation(t: InputType): fc.Arbitrary<unknown> {
  const keys = fc.constantFrom('id', 'type', 'input', 'input_batch', 'slo_micros', 'uid', 'version', 'label', ...kNastyKeys);
  return fc.tuple(streamMessage(t), keys, msgpackValue).map(([m, k, v]) => {
    const out: Record<string, unknown> = { ...m };
    Object.defineProperty(out, k, { value: v, enumerable: true, configurable: true, writable: true });
    return out;
  });
}

/** Stream frames for an app of type `t`: JSON texts, msgpack maps (with values JSON cannot carry), raw bytes. */
export function streamFrame(t: InputType): fc.Arbitrary<{ binary: boolean; bytes: Buffer }> {
  const json = jsonBodyBytes(streamMessage(t)).map((bytes) => ({ binary: false, bytes }));
  const packed = fc
    .oneof(streamMessage(t), mutateObject(streamMessage(t)), msgpackMutation(t), msgpackValue, validInput(t))
    .map((v) => ({ binary: true, bytes: Buffer.from(pack(v)) }));
  const raw = fc.uint8Array({ maxLength: 48 }).map((b) => ({ binary: true, bytes: Buffer.from(b) }));
  return fc.oneof({ weight: 3, arbitrary: json }, { weight: 4, arbitrary: packed }, { weight: 1, arbitrary: raw });
}

function decodeFrame(frame: string | Uint8Array): unknown {
  return typeof frame === 'string' ? JSON.parse(frame) : unpack(frame);
}

/** As StreamConnection.onMessage: decode, dispatch by type, validate; every refusal an error frame. */
function streamCase(t: InputType, binary: boolean, bytes: Buffer): void {
  let msg: ReturnType<typeof decodeMessage>;
  try {
    msg = decodeMessage(arrayBufferOf(bytes), binary);
  } catch (err) {
    expectErrorFrame(decodeFrame(errorFrame(undefined, binary, expectClientError(err, 'decodeMessage'))), 'stream frame');
    return;
  }
  try {
    if (messageKind(msg) === 'update') readFeedbackRequest(msg, t);
    else readPredictRequest(msg, t, kSloMicrosMax);
  } catch (err) {
    const frame = decodeFrame(errorFrame(msg.id, binary, expectClientError(err, 'stream message'))) as { id?: unknown };
    expectErrorFrame(frame, 'stream message');
    check(frame.id === msg.id, `the error frame carries the message's id (${String(msg.id)}), got ${String(frame.id)}`);
  }
}

const streamFrames = syncProperty('stream_frame', 'ws_stream', 6, typed(streamFrame), ([t, f]) => streamCase(t, f.binary, f.bytes));

/** The JSON value arbitrary on its own, as any parser's body: a cheap smoke over every shape. */
const anyJson = syncProperty(
  'predict_any_json',
  'clipper_rest',
  2,
  typed(() => jsonValue),
  ([t, v]) => {
    parseOrReject('parsePredictRequest', () => parsePredictRequest(Buffer.from(JSON.stringify(v) ?? ''), t, kSloMicrosMax));
  },
);

export const kQueryProperties: readonly FuzzProperty[] = [predictBody, predictValid, feedbackBody, streamFrames, anyJson];
