// Numeric inputs that arrive as bytes or typed arrays (an application/octet-stream body, a msgpack
// `bin`, a msgpack typed array) as PackedNumbers of the app's element type: little-endian float64
// (doubles), float32 (floats) or int32 (integers). Elements are checked by the rule every numeric
// input follows (numeric_rule.ts), and a wrong byte length is a 400 naming it.

import type { ClipperError } from '../errors.js';
import { elementBytes, kLittleEndianHost, type PackedNumbers } from '../input_types.js';
import { firstRefused, invalidInput, refusedElement, type NumericType } from './numeric_rule.js';

/** The 400 for `what` (an input, a body) of `byteCount` bytes that are not whole elements of `type`. */
export function wholeElementsError(what: string, byteCount: number, type: NumericType): ClipperError {
  const size = elementBytes(type);
  return invalidInput(
    `${what} is ${byteCount} bytes, not a whole number of ${type} (${size}-byte little-endian elements; the application takes ${type})`,
  );
}

/**
 * `bytes` (little-endian elements of `type`) as PackedNumbers. `owned`: the bytes are the caller's to
 * keep (a decoded msgpack copy), so an aligned one is viewed, not copied; otherwise (a body in uWS's
 * buffer, valid only during its handler, while a query may be re-sent later) they are copied once.
 */
export function packedFromBytes(bytes: Uint8Array, type: NumericType, owned: boolean, where: string): PackedNumbers {
  const size = elementBytes(type);
  if (bytes.length % size !== 0) throw wholeElementsError(where, bytes.length, type);
  const count = bytes.length / size;
  let out: PackedNumbers;
  if (owned && kLittleEndianHost && bytes.byteOffset % size === 0) {
    out = newView(type, bytes.buffer, bytes.byteOffset, count);
  } else {
    out = type === 'doubles' ? new Float64Array(count) : type === 'floats' ? new Float32Array(count) : new Int32Array(count);
    if (kLittleEndianHost) new Uint8Array(out.buffer).set(bytes);
    else readBigEndianHost(bytes, out, type);
  }
  checkPacked(out, type, where);
  return out;
}

function newView(type: NumericType, buffer: ArrayBufferLike, byteOffset: number, count: number): PackedNumbers {
  if (type === 'doubles') return new Float64Array(buffer, byteOffset, count);
  if (type === 'floats') return new Float32Array(buffer, byteOffset, count);
  return new Int32Array(buffer, byteOffset, count);
}

/** A big-endian host reads each little-endian element (no such host runs this today). */
function readBigEndianHost(bytes: Uint8Array, out: PackedNumbers, type: NumericType): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < out.length; i++) {
    out[i] =
      type === 'doubles' ? view.getFloat64(i * 8, true) : type === 'floats' ? view.getFloat32(i * 4, true) : view.getInt32(i * 4, true);
  }
}

/**
 * A typed array of numbers (a msgpack typed-array extension) as PackedNumbers of `type`: itself when
 * it already is one, else its elements checked by `type`'s rule and converted (as number[] would be).
 */
export function packedFromTyped(values: ArrayBufferView, type: NumericType, where: string): PackedNumbers {
  if (isPackedOf(values, type)) {
    checkPacked(values, type, where);
    return values;
  }
  if (values instanceof DataView || values instanceof BigInt64Array || values instanceof BigUint64Array) {
    throw invalidInput(`${where} must be an array of ${type} (the application takes ${type}), got a ${values.constructor.name}`);
  }
  const numbers = values as unknown as ArrayLike<number>;
  checkPacked(numbers, type, where);
  if (type === 'doubles') return Float64Array.from(numbers);
  if (type === 'floats') return Float32Array.from(numbers);
  return Int32Array.from(numbers);
}

function isPackedOf(values: ArrayBufferView, type: NumericType): values is PackedNumbers {
  if (type === 'doubles') return values instanceof Float64Array;
  if (type === 'floats') return values instanceof Float32Array;
  return values instanceof Int32Array;
}

/** Each element by the rule of `type`; a 400 naming the first that breaks it. */
function checkPacked(values: ArrayLike<number>, type: NumericType, where: string): void {
  const n = values.length;
  const i = firstRefused(values, n, type);
  if (i < n) throw refusedElement(where, i, type, values[i]);
}
