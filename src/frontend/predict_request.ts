// Parsing and validating Clipper's request bodies (HTTP bodies and stream messages alike). A predict
// body is `{"input": x}` or `{"input_batch": [x, ...]}` plus the optional `version` pin,
// per-request `slo_micros` and `uid`; a feedback body is `{"uid"?, "input", "label"}`. Clipper's
// bodies are accepted unchanged; the one deliberate leniency is that integer literals are accepted
// for floats and doubles. A big numeric body is read straight into typed arrays (json_numbers.ts);
// msgpack messages may carry a numeric input as a `bin` of the app's elements or a typed array
// (packed_input.ts). A wrong input value is "Invalid input: …" on every path (numeric_rule.ts); a
// wrong body around it is "Error parsing JSON: …".

import { ClipperError } from '../errors.js';
import { parseJsonObject } from '../http/http_util.js';
import { parseUid } from '../query/uid.js';
import type { InputType } from '../input_types.js';
import type { FeedbackRequest } from '../query/feedback.js';
import type { QueryRequest } from '../query/pipeline.js';
import type { QueryInput } from '../query/query_processor.js';
import { kPackedBodyBytesMin, parsePackedPredict, type PredictFields } from './json_numbers.js';
import { admits, describeValue, invalidInput, isNumericType, refusedElement, type NumericType } from './numeric_rule.js';
import { packedFromBytes, packedFromTyped } from './packed_input.js';

/** Clipper's predict body as the pipeline's request, plus whether it was a batch (`input_batch`). */
export interface PredictRequest extends QueryRequest {
  inputs: QueryInput[];
  batch: boolean;
}

const kBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const kNoFields: PredictFields = {};

export function parsePredictRequest(body: Buffer, inputType: InputType, sloMicrosMax: number): PredictRequest {
  if (body.length > kPackedBodyBytesMin) {
    const packed = parsePackedPredict(body, inputType);
    if (packed !== null) return withFields(packed.inputs, packed.batch, packed.fields ?? kNoFields, sloMicrosMax);
  }
  return readPredictRequest(parseJsonObject(body), inputType, sloMicrosMax);
}

/** Validate an already-parsed predict message (HTTP body or WebSocket stream message). */
export function readPredictRequest(json: Record<string, unknown>, inputType: InputType, sloMicrosMax: number): PredictRequest {
  let inputs: PredictRequest['inputs'];
  let batch: boolean;
  if (json.input !== undefined) {
    inputs = [validateInput(json.input, inputType, 'input')];
    batch = false;
  } else if (json.input_batch !== undefined) {
    const list = json.input_batch;
    if (!Array.isArray(list)) {
      throw schemaError(`input_batch must be an array of ${inputType} inputs, got ${describeValue(list)}`);
    }
    inputs = new Array(list.length);
    for (let i = 0; i < list.length; i++) inputs[i] = validateInput(list[i], inputType, `input_batch[${i}]`);
    batch = true;
  } else {
    throw schemaError('the body has neither "input" nor "input_batch"');
  }
  return withFields(inputs, batch, json, sloMicrosMax);
}

/**
 * The request of validated inputs and the body's scalar keys, checked here for both the ordinary path
 * and the fast one (json_numbers.ts), in this order: version, slo_micros, uid.
 */
function withFields(inputs: QueryInput[], batch: boolean, fields: PredictFields, sloMicrosMax: number): PredictRequest {
  let version: string | null = null;
  if (fields.version !== undefined) {
    if (typeof fields.version !== 'string' || fields.version === '')
      throw schemaError(`version must be a non-empty string, got ${describeValue(fields.version)}`);
    version = fields.version;
  }
  let sloMicros: number | null = null;
  if (fields.slo_micros !== undefined) {
    const v = fields.slo_micros;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > sloMicrosMax) {
      throw schemaError(`slo_micros must be an integer in [1, ${sloMicrosMax}], got ${describeValue(v)}`);
    }
    sloMicros = v;
  }
  return { inputs, batch, version, sloMicros, uid: parseUid(fields.uid) };
}

/** Validate an already-parsed feedback message `{"uid"?, "input", "label"}` (HTTP body or stream message). */
export function readFeedbackRequest(json: Record<string, unknown>, inputType: InputType): FeedbackRequest {
  if (json.input === undefined) throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing JSON: the update has no "input"');
  const input = validateInput(json.input, inputType, 'input');
  if (json.label === undefined) throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing JSON: the update has no "label"');
  return { input, label: json.label, uid: parseUid(json.uid) };
}

/** One input of the app's type, as any path carries it; a 400 "Invalid input: …" naming what is wrong. */
export function validateInput(value: unknown, type: InputType, where: string): QueryInput {
  if (isNumericType(type)) return numericInput(value, where, type) ?? checkNumbers(value, where, type);
  if (type === 'strings') {
    if (typeof value !== 'string')
      throw invalidInput(`${where} must be a string (the application takes strings), got ${describeValue(value)}`);
    return value;
  }
  // msgpack stream messages may carry raw bytes (JSON cannot produce a Uint8Array).
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value !== 'string')
    throw invalidInput(`${where} must be a base64 string (the application takes bytes), got ${describeValue(value)}`);
  if (!kBase64.test(value)) throw invalidInput(`${where} is not valid base64`);
  return Buffer.from(value, 'base64');
}

/**
 * A msgpack message's numeric input that is not an array: a `bin` (the app's little-endian elements;
 * msgpack decoding copied it, so it is viewed) or a typed array; null for anything else.
 */
function numericInput(value: unknown, where: string, type: NumericType): QueryInput | null {
  if (!ArrayBuffer.isView(value)) return null;
  if (value instanceof Uint8Array) return packedFromBytes(value, type, true, where);
  return packedFromTyped(value, type, where);
}

function checkNumbers(value: unknown, where: string, type: NumericType): number[] {
  if (!Array.isArray(value)) {
    throw invalidInput(`${where} must be an array of ${type} (the application takes ${type}), got ${describeValue(value)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const x: unknown = value[i];
    if (!admits(x, type)) throw refusedElement(where, i, type, x);
  }
  return value as number[];
}

function schemaError(detail: string): ClipperError {
  return new ClipperError('CLP_ERR_JSON_SCHEMA', `Error parsing JSON: ${detail}`);
}
