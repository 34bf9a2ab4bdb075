// The binary tensor extension's framing: a body is a JSON header of `Inference-Header-Content-Length`
// bytes followed by the raw tensors, in input (or output) order; a BYTES tensor's elements are each a
// 4-byte little-endian length and that many bytes.

import { oipInvalid } from './oip_errors.js';

export const kHeaderLengthHeader = 'Inference-Header-Content-Length';

export interface SplitBody {
  /** The JSON header (the whole body without the extension). */
  readonly header: Buffer;
  /** The bytes after the header; null without the extension. */
  readonly binary: Buffer | null;
}

/**
 * Split a request body by its `Inference-Header-Content-Length` value (`headerLength`, '' when the
 * header is absent); a 400 naming the header when it is not a length within the body.
 */
export function splitInferBody(body: Buffer, headerLength: string): SplitBody {
  if (headerLength === '') return { header: body, binary: null };
  if (!/^\d{1,15}$/.test(headerLength)) {
    throw oipInvalid(`${kHeaderLengthHeader} must be the JSON header's length in bytes, got ${JSON.stringify(headerLength.slice(0, 40))}`);
  }
  const length = Number(headerLength);
  if (length > body.length) {
    throw oipInvalid(`${kHeaderLengthHeader} is ${length} bytes, longer than the ${body.length}-byte body`);
  }
  return { header: body.subarray(0, length), binary: body.subarray(length) };
}

/**
 * The `count` elements of a binary BYTES tensor (views of `bytes`); a 400 naming `at` when the
 * lengths run past its end or leave bytes over.
 */
export function readBytesElements(bytes: Buffer, count: number, at: string): Buffer[] {
  // Each element takes at least its 4-byte length: check before allocating for `count` of them.
  if (count * 4 > bytes.length) {
    throw oipInvalid(`${at}: ${count} BYTES elements need at least ${count * 4} bytes, but the tensor has ${bytes.length}`);
  }
  const out = new Array<Buffer>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > bytes.length) {
      throw oipInvalid(`${at}: BYTES element ${i} of ${count} has no 4-byte length (the tensor's ${bytes.length} bytes end first)`);
    }
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (offset + length > bytes.length) {
      throw oipInvalid(`${at}: BYTES element ${i} claims ${length} bytes, past the end of the tensor's ${bytes.length} bytes`);
    }
    out[i] = bytes.subarray(offset, offset + length);
    offset += length;
  }
  if (offset !== bytes.length) {
    throw oipInvalid(`${at}: ${count} BYTES elements take ${offset} bytes, but parameters.binary_data_size is ${bytes.length}`);
  }
  return out;
}

/** BYTES elements (utf-8 strings or raw bytes) in the binary framing. */
export function writeBytesElements(elements: readonly (string | Uint8Array)[]): Buffer {
  const parts = elements.map((e) => (typeof e === 'string' ? Buffer.from(e, 'utf8') : e));
  let total = 0;
  for (const p of parts) total += 4 + p.length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, offset);
    out.set(p, offset + 4);
    offset += 4 + p.length;
  }
  return out;
}

/** A binary response body: the JSON header, then each tensor's bytes in order. */
export function binaryBody(headerJson: string, tensors: readonly Buffer[]): { body: Buffer; headerLength: number } {
  const header = Buffer.from(headerJson, 'utf8');
  return { body: Buffer.concat([header, ...tensors]), headerLength: header.length };
}
