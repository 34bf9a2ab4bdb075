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
  bytes: 'bytes', byte: 'bytes', b: 'bytes',
  integers: 'integers', ints: 'integers', integer: 'integers', int: 'integers', i: 'integers',
  floats: 'floats', float: 'floats', f: 'floats',
  doubles: 'doubles', double: 'doubles', d: 'doubles',
  strings: 'strings', string: 'strings', str: 'strings', strs: 'strings', s: 'strings',
};

export const kInputTypes: readonly InputType[] = ['integers', 'floats', 'doubles', 'strings', 'bytes'];

/** Canonical name for a Clipper input type or alias, or undefined when it is none. */
export function parseInputType(value: unknown): InputType | undefined {
  if (typeof value !== 'string') return undefined;
  return Object.hasOwn(kAliases, value) ? kAliases[value] : undefined;
}

export function inputTypeCode(type: InputType): InputTypeCode {
  switch (type) {
    case 'bytes': return InputTypeCode.Bytes;
    case 'integers': return InputTypeCode.Integers;
    case 'floats': return InputTypeCode.Floats;
    case 'doubles': return InputTypeCode.Doubles;
    case 'strings': return InputTypeCode.Strings;
  }
}

export function inputTypeFromCode(code: number): InputType {
  switch (code) {
    case InputTypeCode.Bytes: return 'bytes';
    case InputTypeCode.Integers: return 'integers';
    case InputTypeCode.Floats: return 'floats';
    case InputTypeCode.Doubles: return 'doubles';
    case InputTypeCode.Strings: return 'strings';
    default: throw new RangeError(`unknown input type code ${code}`);
  }
}

/** Bytes per element for numeric types; 1 for strings and bytes (payload is raw bytes). */
export function elementBytes(type: InputType): number {
  switch (type) {
    case 'doubles': return 8;
    case 'floats': case 'integers': return 4;
    default: return 1;
  }
}
