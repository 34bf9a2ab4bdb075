// Predict bodies that are not JSON, chosen by Content-Type on POST /<app>/predict:
//
//   application/octet-stream                   the body is ONE input: a numeric app's little-endian
//                                              elements (float64 doubles, float32 floats, int32
//                                              integers), a bytes app's raw bytes, a strings app's utf-8
//   application/msgpack (x-msgpack, vnd.msgpack) a map like the JSON body: {input} or {input_batch},
//                                              plus version, slo_micros, uid; a numeric input may be a
//                                              `bin` of the app's elements (or an array of numbers)
//
// Any other Content-Type, or none, is JSON: Clipper read every predict body as JSON whatever its type
// (clients send application/json, text/json, text/plain, what `curl -d` sends...), so a body that is
// not JSON gets the JSON path's 400 "Error parsing JSON". Answers stay JSON.

import { Unpackr } from 'msgpackr';
import { ClipperError } from '../errors.js';
import { elementBytes, type InputType } from '../input_types.js';
import { invalidInput, isNumericType } from './numeric_rule.js';
import { packedFromBytes, wholeElementsError } from './packed_input.js';
import { parsePredictRequest, readPredictRequest, type PredictRequest } from './predict_request.js';

export const enum BodyKind {
  Json = 0,
  Octets = 1,
  Msgpack = 2,
}

// copyBuffers: a `bin` is the request's to keep (the body is uWS's buffer, reused after the handler).
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The body kind a predict request's Content-Type names (its media type, any case, parameters after
 * `;` ignored); JSON for every type but octet-stream and msgpack. Runs on every predict, so it makes
 * no string: the common '' and 'application/json' are answered first, the rest compared in place.
 */
export function predictBodyKind(contentType: string): BodyKind {
  if (contentType === '' || contentType === 'application/json') return BodyKind.Json;
  let at = 0;
  while (at < contentType.length && isSpace(contentType.charCodeAt(at))) at++;
  // Both binary types start so; past it, 'application/json; charset=utf-8' fails each at its first letter.
  if (!mediaStarts(contentType, at, 'application/')) return BodyKind.Json;
  at += 12;
  if (mediaIs(contentType, at, 'octet-stream')) return BodyKind.Octets;
  if (mediaIs(contentType, at, 'msgpack') || mediaIs(contentType, at, 'x-msgpack') || mediaIs(contentType, at, 'vnd.msgpack')) {
    return BodyKind.Msgpack;
  }
  return BodyKind.Json;
}

/** Whether `text` from `at` starts with `lower` (lower-case ASCII), ignoring the case of `text`. */
function mediaStarts(text: string, at: number, lower: string): boolean {
  if (at + lower.length > text.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = text.charCodeAt(at + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20; // A-Z as a-z
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether the media type from `at` is `lower` (any case), then only spaces up to its end or a `;`. */
function mediaIs(text: string, at: number, lower: string): boolean {
  if (!mediaStarts(text, at, lower)) return false;
  let i = at + lower.length;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i === text.length || text.charCodeAt(i) === 0x3b;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * An application/octet-stream body as one input of `inputType`. The body is valid only during the
 * request's handler: the input is a copy (one memcpy), since a query may be re-sent later.
 */
export function parseOctetPredict(body: Buffer, inputType: InputType): PredictRequest {
  let input: PredictRequest['inputs'][number];
  if (isNumericType(inputType)) {
    // Elements are named as a JSON body names them (input[i]): the same bad value, the same 400.
    if (body.length % elementBytes(inputType) !== 0) throw wholeElementsError('the application/octet-stream body', body.length, inputType);
    input = packedFromBytes(body, inputType, false, 'input');
  } else if (inputType === 'bytes') {
    input = Buffer.from(body);
  } else {
    try {
      input = utf8.decode(body);
    } catch {
      throw invalidInput('the application/octet-stream body is not valid UTF-8 (the application takes strings)');
    }
  }
  return { inputs: [input], batch: false, version: null, sloMicros: null, uid: null };
}

/** An application/msgpack body: a map with the JSON body's fields (predict_request.ts validates them). */
export function parseMsgpackPredict(body: Buffer, inputType: InputType, sloMicrosMax: number): PredictRequest {
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (err) {
    const why = body.length === 0 ? 'the request body is empty' : (err as Error).message;
    throw new ClipperError('CLP_ERR_JSON_PARSE', `Error parsing msgpack: ${why}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value) || value instanceof Map) {
    throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing msgpack: the body must be a msgpack map with "input" or "input_batch"');
  }
  return readPredictRequest(value as Record<string, unknown>, inputType, sloMicrosMax);
}

/** A predict body as the pipeline's request, read as its Content-Type (`contentType`, '' when absent) says. */
export function parsePredictBody(body: Buffer, contentType: string, inputType: InputType, sloMicrosMax: number): PredictRequest {
  const kind = predictBodyKind(contentType);
  if (kind === BodyKind.Json) return parsePredictRequest(body, inputType, sloMicrosMax);
  return kind === BodyKind.Octets ? parseOctetPredict(body, inputType) : parseMsgpackPredict(body, inputType, sloMicrosMax);
}
