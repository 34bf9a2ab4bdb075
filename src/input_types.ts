// Clipper's five input types, their aliases (spec §2.2) and their binary encodings.

export type InputType = 'integers' | 'floats' | 'doubles' | 'strings' | 'bytes';

/** Numeric code used in ring records and metrics labels. */
export const enum InputTypeCode {
  Bytes = 0,
  Integers = 1,
  Floats = 2,
  Doubles = 3,
  Strings = 4,
}

const kAliases: Readonly<Record<string, InputType>> = {
  bytes: 'bytes',
  byte: 'bytes',
  b: 'bytes',
  integers: 'integers',
  ints: 'integers',
  integer: 'integers',
  int: 'integers',
  i: 'integers',
  floats: 'floats',
  float: 'floats',
  f: 'floats',
  doubles: 'doubles',
  double: 'doubles',
  d: 'doubles',
  strings: 'strings',
  string: 'strings',
  str: 'strings',
  strs: 'strings',
  s: 'strings',
};

export const kInputTypes: readonly InputType[] = ['integers', 'floats', 'doubles', 'strings', 'bytes'];

/** Canonical name for a Clipper input type or alias, or undefined when it is none. */
export function parseInputType(value: unknown): InputType | undefined {
  if (typeof value !== 'string') return undefined;
  return Object.hasOwn(kAliases, value) ? kAliases[value] : undefined;
}

export function inputTypeCode(type: InputType): InputTypeCode {
  switch (type) {
    case 'bytes':
      return InputTypeCode.Bytes;
    case 'integers':
      return InputTypeCode.Integers;
    case 'floats':
      return InputTypeCode.Floats;
    case 'doubles':
      return InputTypeCode.Doubles;
    case 'strings':
      return InputTypeCode.Strings;
  }
}

export function inputTypeFromCode(code: number): InputType {
  switch (code) {
    case InputTypeCode.Bytes:
      return 'bytes';
    case InputTypeCode.Integers:
      return 'integers';
    case InputTypeCode.Floats:
      return 'floats';
    case InputTypeCode.Doubles:
      return 'doubles';
    case InputTypeCode.Strings:
      return 'strings';
    default:
      throw new RangeError(`unknown input type code ${code}`);
  }
}

/** Bytes per element for numeric types; 1 for strings and bytes (payload is raw bytes). */
export function elementBytes(type: InputType): number {
  switch (type) {
    case 'doubles':
      return 8;
    case 'floats':
    case 'integers':
      return 4;
    default:
      return 1;
  }
}

/** Bytes per element of a numeric type code (doubles 8, floats and integers 4). */
export function numericElementBytes(type: InputTypeCode): number {
  return type === InputTypeCode.Doubles ? 8 : 4;
}

/**
 * A numeric input already in its element type: Float64Array (doubles), Float32Array (floats) or
 * Int32Array (integers), filled by a fast JSON parser or viewed over a binary body; the ring record
 * and the cache key take its bytes at once (no per-element work). number[] stays the small-input form.
 */
export type PackedNumbers = Float64Array | Float32Array | Int32Array;

/** A numeric input in either form. */
export type NumericInput = readonly number[] | PackedNumbers;

/**
 * Whether this host's typed arrays are little-endian, the order binary bodies and tensors carry: then
 * their bytes are copied into a typed array as they are (every host this runs on today is).
 */
export const kLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Typed-array views over one buffer, from its byte 0 (a ring's data area, a cache key's scratch). */
export interface NumericViews {
  readonly f64: Float64Array<ArrayBufferLike>;
  readonly f32: Float32Array<ArrayBufferLike>;
  readonly i32: Int32Array<ArrayBufferLike>;
}

/**
 * Write numeric inputs the way ring records and cache keys carry them: little-endian float64,
 * float32 or int32 elements from `byteOffset` (8-aligned) of the views' buffer. PackedNumbers of
 * the same element type are copied with one set() (a memcpy); number[] and a typed array of another
 * element type go element by element, with the same conversions (ToInt32, float rounding).
 */
export function writeNumericElements(views: NumericViews, byteOffset: number, type: InputTypeCode, values: NumericInput): void {
  const n = values.length;
  // One loop per element type, as before PackedNumbers: each stays monomorphic in its target view.
  if (type === InputTypeCode.Doubles) {
    const f64 = views.f64;
    const base = byteOffset >>> 3;
    if (values instanceof Float64Array) f64.set(values, base);
    else for (let i = 0; i < n; i++) f64[base + i] = values[i]!;
  } else if (type === InputTypeCode.Floats) {
    const f32 = views.f32;
    const base = byteOffset >>> 2;
    if (values instanceof Float32Array) f32.set(values, base);
    else for (let i = 0; i < n; i++) f32[base + i] = values[i]!;
  } else {
    const i32 = views.i32;
    const base = byteOffset >>> 2;
    if (values instanceof Int32Array) i32.set(values, base);
    else for (let i = 0; i < n; i++) i32[base + i] = values[i]!;
  }
}
