// The fuzzers' inputs, shared by the CI properties (test/fuzz/*.test.ts) and the bench
// (bench/reliability/fuzz.ts): valid bodies of every parser, near-valid mutations of them (wrong
// types, missing and extra fields, huge numbers, NaN-like strings, deep nesting, huge arrays,
// unicode, invalid UTF-8, truncated JSON, duplicate keys, prototype-pollution keys) and raw bytes.
import fc from 'fast-check';
import type { InputType } from '../../src/input_types.js';

export const kInputTypes: readonly InputType[] = ['integers', 'floats', 'doubles', 'strings', 'bytes'];

/** Keys a parser must treat as plain data. */
export const kNastyKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'then', ''] as const;

/** Strings that look like numbers or other things to a careless parser. */
const kNastyStrings = [
  'NaN',
  'Infinity',
  '-Infinity',
  '1e309',
  '-0',
  '0x10',
  'null',
  'true',
  '[]',
  '{}',
  '\u0000',
  '\uD800',
  '\uDFFF',
  '\uFEFF{}',
  'é',
  '𝄞',
  'A'.repeat(300),
  '../../etc/passwd',
  '%00',
  '=',
  'AAA=',
  '====',
];

/** Numbers at and past every edge the parsers check. */
const kEdgeNumbers = [
  0,
  -0,
  1,
  -1,
  0.5,
  2147483647,
  2147483648,
  -2147483648,
  -2147483649,
  3.4028234663852886e38,
  3.5e38,
  -3.5e38,
  65504,
  65505,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  2 ** 64,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  1e-320,
  1e21,
];

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...kNastyStrings, ...kNastyKeys) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

export const edgeNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...kEdgeNumbers),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Any JSON value, with edge numbers, nasty strings and nasty keys in it. */
export const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    edgeNumber,
    nastyString,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(nastyString, fc.constantFrom(...kNastyKeys)), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A valid input of `type` as JSON carries it (bytes as base64). */
export function validInput(type: InputType): fc.Arbitrary<unknown> {
  switch (type) {
    case 'integers':
      return fc.array(fc.integer({ min: -2147483648, max: 2147483647 }), { maxLength: 8 });
    case 'floats':
      return fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 8 });
    case 'doubles':
      return fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 8 });
    case 'strings':
      return fc.string({ unit: 'grapheme', maxLength: 30 });
    case 'bytes':
      return fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('base64'));
  }
}

/** A valid predict body for an app of `type`: `input` or `input_batch`, plus the optional fields. */
export function validPredictBody(type: InputType): fc.Arbitrary<Record<string, unknown>> {
  const one = fc.record({ input: validInput(type) });
  const batch = fc.record({ input_batch: fc.array(validInput(type), { maxLength: 4 }) });
  const extras = fc.record(
    {
      slo_micros: fc.integer({ min: 1, max: 1_000_000 }),
      uid: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
      version: fc.oneof(fc.constant('1'), fc.string({ minLength: 1, maxLength: 8 })),
    },
    { requiredKeys: [] },
  );
  return fc.tuple(fc.oneof(one, batch), extras).map(([body, more]) => ({ ...body, ...more }));
}

/** A valid feedback body `{"input", "label", "uid"?}`. */
export function validFeedbackBody(type: InputType): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    { input: validInput(type), label: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string()), uid: fc.string() },
    { requiredKeys: ['input', 'label'] },
  );
}

/** One structural mutation of an object: a field dropped, retyped, added, or the whole replaced. */
export function mutateObject(base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  return fc.tuple(base, fc.nat(), jsonValue, fc.constantFrom(...kNastyKeys), fc.nat(7)).map(([obj, pick, value, nastyKey, op]) => {
    const keys = Object.keys(obj);
    const key = keys.length > 0 ? keys[pick % keys.length]! : 'input';
    const out: Record<string, unknown> = { ...obj };
    switch (op) {
      case 0:
        delete out[key];
        return out;
      case 1:
      case 2:
        out[key] = value;
        return out;
      case 3:
        Object.defineProperty(out, nastyKey, { value, enumerable: true, configurable: true, writable: true });
        return out;
      case 4:
        return [obj];
      case 5:
        return value;
      case 6:
        out[key] = Array.isArray(out[key]) ? [...(out[key] as unknown[]), value] : [value];
        return out;
      default:
        out[key] = { nested: out[key] };
        return out;
    }
  });
}

/** Text-level damage to a JSON text: truncation, a duplicate key, a flipped character. */
export function mutateText(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(text, fc.nat(), fc.nat(3), fc.string({ maxLength: 3 })).map(([t, at, op, insert]) => {
    const i = t.length === 0 ? 0 : at % t.length;
    switch (op) {
      case 0:
        return t.slice(0, i);
      case 1:
        // a duplicate of the first key, with another value
        return t.startsWith('{') && t.length > 2 ? `{"input":${insert.length > 0 ? JSON.stringify(insert) : 'null'},${t.slice(1)}` : t;
      case 2:
        return t.slice(0, i) + insert + t.slice(i + 1);
      default:
        return `${t}${insert}`;
    }
  });
}

/** JSON text nested `depth` levels deep (arrays or objects), optionally as an input's value. */
export const deepJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.boolean(), fc.boolean())
  .map(([depth, arrays, wrapped]) => {
    const inner = arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return wrapped ? `{"input":${inner},"input_batch":${inner}}` : inner;
  });

/** A big array body: many elements or many batch entries (bounded so a case stays fast). */
export const hugeArrayJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1_000, max: 100_000 }), fc.boolean())
  .map(([n, batch]) => (batch ? `{"input_batch":[${'[1],'.repeat(n - 1)}[1]]}` : `{"input":[${'1,'.repeat(n - 1)}1]}`));

/** Bytes that are not valid UTF-8, spliced into a text. */
export function withInvalidUtf8(text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> {
  const bad = fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]);
  return fc.tuple(text, fc.nat(), bad).map(([t, at, b]) => {
    const buf = Buffer.from(t, 'utf8');
    const i = buf.length === 0 ? 0 : at % buf.length;
    return Buffer.concat([buf.subarray(0, i), Buffer.from(b), buf.subarray(i)]);
  });
}

/**
 * Body bytes for a JSON parser: valid bodies, structural and textual mutations, deep nesting, big
 * arrays, invalid UTF-8 and raw bytes. `valid` is what the parser should accept.
 */
export function jsonBodyBytes(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Buffer> {
  const validText = valid.map((v) => JSON.stringify(v));
  return fc.oneof(
    { weight: 4, arbitrary: validText.map((t) => Buffer.from(t)) },
    { weight: 6, arbitrary: mutateObject(valid).map((v) => Buffer.from(JSON.stringify(v) ?? 'undefined')) },
    { weight: 4, arbitrary: mutateText(validText).map((t) => Buffer.from(t)) },
    { weight: 1, arbitrary: deepJson.map((t) => Buffer.from(t)) },
    { weight: 1, arbitrary: hugeArrayJson.map((t) => Buffer.from(t)) },
    { weight: 2, arbitrary: withInvalidUtf8(validText) },
    { weight: 2, arbitrary: jsonValue.map((v) => Buffer.from(JSON.stringify(v))) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  );
}

/** Arbitrary values as a msgpack peer can send them (bigints, binary, dates, typed numbers too). */
export const msgpackValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    jsonValue,
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.uint8Array({ maxLength: 16 }),
    fc.constant(Number.NaN),
    fc.constant(Number.POSITIVE_INFINITY),
    fc.date({ noInvalidDate: true }),
    // a map that breaks `${value}` and String(value): its toString / valueOf are not functions
    fc.dictionary(fc.constantFrom('toString', 'valueOf'), jsonValue, { minKeys: 1, maxKeys: 2 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(nastyString, fc.constantFrom(...kNastyKeys)), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Chunk boundaries for a byte stream (how a socket might split it). */
export function splitPoints(length: number): fc.Arbitrary<number[]> {
  return fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, length - 1) }), { maxLength: 6 }).map((a) => a.sort((x, y) => x - y));
}

export function splitAt(buf: Buffer, points: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p <= from || p >= buf.length) continue;
    out.push(buf.subarray(from, p));
    from = p;
  }
  out.push(buf.subarray(from));
  return out;
}
