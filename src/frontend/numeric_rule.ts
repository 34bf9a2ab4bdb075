// The one rule a numeric input's elements follow, whatever carried them (a JSON array, the fast JSON
// reader json_numbers.ts, an application/octet-stream body, a msgpack array, `bin` or typed array:
// predict_request.ts and packed_input.ts): doubles are finite, floats within float32 range (so no
// NaN or ±Infinity reaches a model), integers 32-bit integers. A value the rule refuses gets the same
// 400 on every path, and so does any other wrong input value ("Invalid input: …"; a body that is not
// JSON or msgpack at all keeps its "Error parsing …").

import { ClipperError } from '../errors.js';
import type { InputType } from '../input_types.js';

export type NumericType = 'doubles' | 'floats' | 'integers';

export const kFloat32Max = 3.4028234663852886e38;
export const kInt32Min = -2147483648;
export const kInt32Max = 2147483647;

export function isNumericType(type: InputType): type is NumericType {
  return type === 'doubles' || type === 'floats' || type === 'integers';
}

// One predicate per type; the loops below call them with the type fixed, so each stays monomorphic.
function isDouble(x: number): boolean {
  return x - x === 0; // false for NaN and ±Infinity only
}

function isFloat(x: number): boolean {
  return Math.abs(x) <= kFloat32Max;
}

function isInt32(x: number): boolean {
  return Number.isInteger(x) && x >= kInt32Min && x <= kInt32Max;
}

/** Whether a parsed value (anything JSON or msgpack gave) is an element `type` admits. */
export function admits(x: unknown, type: NumericType): boolean {
  if (typeof x !== 'number') return false;
  return type === 'doubles' ? isDouble(x) : type === 'floats' ? isFloat(x) : isInt32(x);
}

/** The index of the first of `values[0..n)` that `type` refuses; n when it admits them all. */
export function firstRefused(values: ArrayLike<number>, n: number, type: NumericType): number {
  let i = 0;
  if (type === 'doubles') while (i < n && isDouble(values[i]!)) i++;
  else if (type === 'floats') while (i < n && isFloat(values[i]!)) i++;
  else while (i < n && isInt32(values[i]!)) i++;
  return i;
}

/** The 400 for element `index` of the input at `where`, `value`, that `type` refuses. */
export function refusedElement(where: string, index: number, type: NumericType, value: unknown): ClipperError {
  const rule = type === 'integers' ? 'a 32-bit integer' : type === 'floats' ? 'a number within float32 range' : 'a finite number';
  return invalidInput(`${where}[${index}] must be ${rule} (the application takes ${type}), got ${describeValue(value)}`);
}

/** The 400 for an input value that is wrong (its shape, type, bytes or an element), on every path. */
export function invalidInput(detail: string): ClipperError {
  return new ClipperError('CLP_ERR_JSON_SCHEMA', `Invalid input: ${detail}`);
}

/** A value as a 400 names it: its kind, and a number or short string itself. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return `a value of type ${typeof value}`;
}
