// Parsing and validating Clipper's request bodies (HTTP bodies and stream messages alike). A predict
// body is `{"input": x}` or `{"input_batch": [x, ...]}` plus the optional `version` pin,
// per-request `slo_micros` and `uid`; a feedback body is `{"uid"?, "input", "label"}`. Clipper's
// bodies are accepted unchanged; the one deliberate leniency is that integer literals are accepted
// for floats and doubles.

import { ClipperError } from '../errors.js';
import { parseJsonObject } from '../http/http_util.js';
import { parseUid } from '../query/uid.js';
import type { InputType } from '../input_types.js';
import type { FeedbackRequest } from '../query/feedback.js';
import type { QueryRequest } from '../query/pipeline.js';

/** Clipper's predict body as the pipeline's request, plus whether it was a batch (`input_batch`). */
export interface PredictRequest extends QueryRequest {
  inputs: Array<number[] | string | Buffer>;
  batch: boolean;
}

const kInt32Min = -2147483648;
const kInt32Max = 2147483647;
const kFloat32Max = 3.4028234663852886e38;
const kBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

export function parsePredictRequest(body: Buffer, inputType: InputType, sloMicrosMax: number): PredictRequest {
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
      throw schemaError(`input_batch must be an array of ${inputType} inputs, got ${describe(list)}`);
    }
    inputs = new Array(list.length);
    for (let i = 0; i < list.length; i++) inputs[i] = validateInput(list[i], inputType, `input_batch[${i}]`);
    batch = true;
  } else {
    throw schemaError('the body has neither "input" nor "input_batch"');
  }
  let version: string | null = null;
  if (json.version !== undefined) {
    if (typeof json.version !== 'string' || json.version === '')
      throw schemaError(`version must be a non-empty string, got ${describe(json.version)}`);
    version = json.version;
  }
  let sloMicros: number | null = null;
  if (json.slo_micros !== undefined) {
    const v = json.slo_micros;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > sloMicrosMax) {
      throw schemaError(`slo_micros must be an integer in [1, ${sloMicrosMax}], got ${describe(v)}`);
    }
    sloMicros = v;
  }
  return { inputs, batch, version, sloMicros, uid: parseUid(json.uid) };
}

/** Validate an already-parsed feedback message `{"uid"?, "input", "label"}` (HTTP body or stream message). */
export function readFeedbackRequest(json: Record<string, unknown>, inputType: InputType): FeedbackRequest {
  if (json.input === undefined) throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing JSON: the update has no "input"');
  const input = validateInput(json.input, inputType, 'input');
  if (json.label === undefined) throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing JSON: the update has no "label"');
  return { input, label: json.label, uid: parseUid(json.uid) };
}

export function validateInput(value: unknown, type: InputType, where: string): number[] | string | Buffer {
  switch (type) {
    case 'doubles':
      return checkNumbers(value, where, type, (x) => Number.isFinite(x));
    case 'floats':
      return checkNumbers(value, where, type, (x) => Math.abs(x) <= kFloat32Max);
    case 'integers':
      return checkNumbers(value, where, type, (x) => Number.isInteger(x) && x >= kInt32Min && x <= kInt32Max);
    case 'strings':
      if (typeof value !== 'string') throw schemaError(`${where} must be a string (the application takes strings), got ${describe(value)}`);
      return value;
    case 'bytes':
      // msgpack stream messages may carry raw bytes (JSON cannot produce a Uint8Array).
      if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (typeof value !== 'string')
        throw schemaError(`${where} must be a base64 string (the application takes bytes), got ${describe(value)}`);
      if (!kBase64.test(value)) throw schemaError(`${where} is not valid base64`);
      return Buffer.from(value, 'base64');
  }
}

function checkNumbers(value: unknown, where: string, type: InputType, ok: (x: number) => boolean): number[] {
  if (!Array.isArray(value)) {
    throw schemaError(`${where} must be an array of ${type} (the application takes ${type}), got ${describe(value)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const x: unknown = value[i];
    if (typeof x !== 'number' || !ok(x)) {
      const rule = type === 'integers' ? 'a 32-bit integer' : type === 'floats' ? 'a number within float32 range' : 'a finite number';
      throw schemaError(`${where}[${i}] must be ${rule} (the application takes ${type}), got ${describe(x)}`);
    }
  }
  return value as number[];
}

function schemaError(detail: string): ClipperError {
  return new ClipperError('CLP_ERR_JSON_SCHEMA', `Error parsing JSON: ${detail}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  return `a value of type ${typeof value}`;
}
