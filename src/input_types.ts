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

/** Typed-array views over one buffer, from its byte 0 (a ring's data area, a cache key's scratch). */
export interface NumericViews {
  readonly f64: Float64Array<ArrayBufferLike>;
  readonly f32: Float32Array<ArrayBufferLike>;
  readonly i32: Int32Array<ArrayBufferLike>;
}

/**
 * Write numeric inputs the way ring records and cache keys carry them: little-endian float64,
 * float32 or int32 elements from `byteOffset` (8-aligned) of the views' buffer.
 */
export function writeNumericElements(views: NumericViews, byteOffset: number, type: InputTypeCode, values: readonly number[]): void {
  const n = values.length;
  if (type === InputTypeCode.Doubles) {
    const f64 = views.f64;
    const base = byteOffset >>> 3;
    for (let i = 0; i < n; i++) f64[base + i] = values[i]!;
  } else if (type === InputTypeCode.Floats) {
    const f32 = views.f32;
    const base = byteOffset >>> 2;
    for (let i = 0; i < n; i++) f32[base + i] = values[i]!;
  } else {
    const i32 = views.i32;
    const base = byteOffset >>> 2;
    for (let i = 0; i < n; i++) i32[base + i] = values[i]!;
  }
}
