// The fast numeric body parser (src/frontend/json_numbers.ts): every number it reads is the double
// JSON.parse gives (property tests over random doubles in every text form, and over random number
// grammar), bodies of every numeric type become PackedNumbers of the app's element type, and any
// other shape falls back (null) so the ordinary path (predict_request.ts) keeps its errors; the
// optional scalar keys are read in the same scan and validated as the ordinary path validates them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ClipperError } from '../../src/errors.js';
import { kPackedBodyBytesMin, parsePackedPredict } from '../../src/frontend/json_numbers.js';
import { parsePredictRequest, readPredictRequest } from '../../src/frontend/predict_request.js';

/** One number's text as the fast path reads it (as a doubles input); null when it refuses the body. */
function readNumber(text: string): number | null {
  const parsed = parsePackedPredict(Buffer.from(`{"input":[${text}]}`, 'latin1'), 'doubles');
  return parsed === null ? null : parsed.inputs[0]![0]!;
}

function same(text: string): void {
  const expected = JSON.parse(text) as number;
  const got = readNumber(text);
  // A number past the double range is ±Infinity, which no numeric type admits: refused, as the ordinary path refuses it.
  if (!Number.isFinite(expected)) assert.equal(got, null, `${text} is ${expected}: refused`);
  else assert.ok(Object.is(got, expected), `${text}: got ${got}, JSON.parse gives ${expected}`);
}

/** The text forms JavaScript writes a double in: shortest, exponential, fixed and precision forms. */
function textsOf(x: number, digits: number): string[] {
  const texts = [String(x), x.toExponential(), x.toExponential(digits % 21), x.toPrecision(1 + (digits % 21))];
  if (Math.abs(x) < 1e21) texts.push(x.toFixed(digits % 21));
  if (Object.is(x, -0)) texts.push('-0', '-0.0', '-0e5');
  return texts;
}

test('every random double, in every text form, reads as JSON.parse reads it (-0, subnormals, 1e308 included)', () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.nat(40), (x, digits) => {
      for (const text of textsOf(x, digits)) same(text);
    }),
    { numRuns: 20_000 },
  );
  for (const text of [
    '0',
    '-0',
    '1e308',
    '1.7976931348623157e308',
    '-1.7976931348623157e+308',
    '5e-324',
    '4.9e-324',
    '2.4703282292062328e-324',
    '2.2250738585072014e-308',
    '2.2250738585072011e-308',
    '1e-400',
    '1e400',
    '-1e400',
    '9007199254740993',
    '9007199254740992.5',
    '0.1',
    '0.30000000000000004',
    '123456789012345678901234567890',
    '1E22',
    '1e23',
    '0e99999999',
    '1e-22',
    '0.000000000000000000000000001',
    '100000000000000000000000.0e-2',
  ])
    same(text);
});

const digitsOf = (min: number, max: number): fc.Arbitrary<string> =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(''));

/** Any text of JSON's number grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
const jsonNumberText = fc
  .tuple(
    fc.boolean(),
    fc.oneof(
      fc.constant('0'),
      fc.tuple(fc.integer({ min: 1, max: 9 }), digitsOf(0, 24)).map(([a, b]) => `${a}${b}`),
    ),
    fc.option(digitsOf(1, 24), { nil: null }),
    fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digitsOf(1, 4)), { nil: null }),
  )
  .map(([neg, int, frac, exp]) => `${neg ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : exp.join('')}`);

test('every text of the JSON number grammar reads as JSON.parse reads it', () => {
  fc.assert(fc.property(jsonNumberText, same), { numRuns: 20_000 });
});

test('a text that is not a JSON number is refused (null), as JSON.parse refuses it', () => {
  for (const text of [
    '01',
    '-01',
    '1.',
    '.5',
    '+1',
    '1e',
    '1e+',
    '-',
    '--1',
    '0x10',
    'NaN',
    'Infinity',
    '1.e5',
    '1,',
    '1e5.5',
    '-.5',
    '0.5.5',
  ]) {
    assert.equal(readNumber(text), null, text);
    assert.throws(() => JSON.parse(`[${text}]`) as unknown, SyntaxError, `JSON.parse refuses ${text} too`);
  }
});

/** A body with random whitespace between tokens (JSON's four space characters). */
function spaced(parts: readonly string[], seed: number): string {
  const ws = [' ', '\n', '\t', '\r', '', '  '];
  return parts.map((p, i) => `${ws[(seed + i * 7) % ws.length]}${p}`).join('');
}

function bodyOf(key: string, value: string, seed = 0): Buffer {
  return Buffer.from(spaced(['{', `"${key}"`, ':', value, '}', ''], seed));
}

test('{"input": [...]} of each numeric type becomes PackedNumbers of its element type, equal to JSON.parse + conversion', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 300 }), fc.nat(), (values, seed) => {
      const text = spaced(['[', values.map((x) => (Object.is(x, -0) ? '-0' : String(x))).join(','), ']'], seed);
      const parsed = parsePackedPredict(bodyOf('input', text, seed), 'doubles');
      assert.ok(parsed !== null && !parsed.batch && parsed.inputs.length === 1);
      const input = parsed.inputs[0]!;
      assert.ok(input instanceof Float64Array);
      assert.deepEqual(Array.from(input), JSON.parse(text));
      assert.ok(
        values.every((x, i) => Object.is(input[i], x)),
        '-0 stays -0',
      );
    }),
    { numRuns: 300 },
  );
  const floats = parsePackedPredict(bodyOf('input', '[1.1, -2.5e3, 3.4028234663852886e38, 0]'), 'floats');
  assert.ok(floats?.inputs[0] instanceof Float32Array);
  assert.deepEqual(Array.from(floats.inputs[0]), [Math.fround(1.1), -2500, 3.4028234663852886e38, 0]);
  const ints = parsePackedPredict(bodyOf('input', '[1, -2147483648, 2147483647, 1.0, 3e2, -0]'), 'integers');
  assert.ok(ints?.inputs[0] instanceof Int32Array);
  assert.deepEqual(Array.from(ints.inputs[0]), [1, -2147483648, 2147483647, 1, 300, 0]);
  const empty = parsePackedPredict(bodyOf('input', '[ ]'), 'doubles');
  assert.equal(empty?.inputs[0]?.length, 0);
});

test('{"input_batch": [[...], ...]} becomes one PackedNumbers per input', () => {
  const parsed = parsePackedPredict(bodyOf('input_batch', '[[1,2],[],[3.5 , 4e-1 ]]', 3), 'doubles');
  assert.ok(parsed?.batch);
  assert.deepEqual(
    parsed.inputs.map((x) => Array.from(x)),
    [[1, 2], [], [3.5, 0.4]],
  );
  assert.deepEqual(parsePackedPredict(bodyOf('input_batch', '[]'), 'integers')?.inputs, []);
});

test('anything else falls back (null): other keys, other shapes, other types, values the type refuses, malformed JSON', () => {
  const cases: Array<[string, 'doubles' | 'floats' | 'integers' | 'strings']> = [
    ['{"input":[1,2],"other":"1"}', 'doubles'],
    ['{"input":[1],"input":[2]}', 'doubles'],
    ['{"input":[1],"input_batch":[[2]]}', 'doubles'],
    ['{"input":[1],"uid":1,"uid":2}', 'doubles'],
    ['{"input":[1],"uid":{}}', 'doubles'],
    ['{"input":[1],"version":["1"]}', 'doubles'],
    ['{"input":[1],"version":"1}', 'doubles'],
    ['{"input":[1],"version":"a\\u00"}', 'doubles'],
    ['{"input":[1],"slo_micros":5e}', 'doubles'],
    ['{"input":[1],"slo_micros":}', 'doubles'],
    ['{"input":[1],"uid":tru}', 'doubles'],
    ['{"input":[1],"uid":"1",}', 'doubles'],
    ['{"version":"1"}', 'doubles'],
    ['{}', 'doubles'],
    ['{"\\u0069nput":[1]}', 'doubles'],
    ['{"input":[[1]]}', 'doubles'],
    ['{"input":["1"]}', 'doubles'],
    ['{"input":[null]}', 'doubles'],
    ['{"input":[true]}', 'doubles'],
    ['{"input":1}', 'doubles'],
    ['{"input":[1,]}', 'doubles'],
    ['{"input":[,1]}', 'doubles'],
    ['{"input":[1 2]}', 'doubles'],
    ['{"input":[1]} x', 'doubles'],
    ['{"input":[1]', 'doubles'],
    ['[1]', 'doubles'],
    ['{"input":[1e400]}', 'doubles'],
    ['{"input":[3.5e38]}', 'floats'],
    ['{"input":[1.5]}', 'integers'],
    ['{"input":[2147483648]}', 'integers'],
    ['{"input_batch":[[1],2]}', 'doubles'],
    ['{"input_batch":[[1]]]}', 'doubles'],
    ['{"input":[1]}', 'strings'],
  ];
  for (const [text, type] of cases) assert.equal(parsePackedPredict(Buffer.from(text), type), null, `${text} (${type})`);
});

test('parsePredictRequest: a big numeric body takes the fast path, a small one and every error stay the ordinary path', () => {
  const values = Array.from({ length: 2000 }, (_, i) => i / 7);
  const big = Buffer.from(JSON.stringify({ input: values }));
  assert.ok(big.length > kPackedBodyBytesMin);
  const fast = parsePredictRequest(big, 'doubles', 1e9);
  assert.ok(fast.inputs[0] instanceof Float64Array);
  assert.deepEqual(Array.from(fast.inputs[0]), values);
  assert.deepEqual(
    { batch: fast.batch, version: fast.version, sloMicros: fast.sloMicros, uid: fast.uid },
    { batch: false, version: null, sloMicros: null, uid: null },
  );
  const small = parsePredictRequest(Buffer.from('{"input":[1,2]}'), 'doubles', 1e9);
  assert.ok(Array.isArray(small.inputs[0]));
  // A big body the fast path refuses gets the ordinary path's answer, errors alike.
  for (const bad of [
    { input: [...values, 'x'] },
    { input: [...values.map(Math.round), 0.5] },
    { input_batch: [values, 'x'] },
    { input: values.map(Math.round), slo_micros: 0 },
    { version: '', input: values.map(Math.round) },
    { input: values.map(Math.round), uid: 1.5 },
    { input: values.map(Math.round), uid: true },
    { input: [...values.map(Math.round), 0.5], slo_micros: 0 },
  ]) {
    assertSameError(Buffer.from(JSON.stringify(bad)), 'integers');
  }
});

/** The error the ordinary path (JSON.parse, then readPredictRequest) gives `body`. */
function ordinaryError(body: Buffer, type: 'doubles' | 'integers'): ClipperError {
  try {
    readPredictRequest(JSON.parse(body.toString()) as Record<string, unknown>, type, 1e9);
  } catch (err) {
    assert.ok(err instanceof ClipperError);
    return err;
  }
  assert.fail(`the ordinary path accepts ${body.toString().slice(0, 80)}`);
}

function assertSameError(body: Buffer, type: 'doubles' | 'integers'): void {
  assert.ok(body.length > kPackedBodyBytesMin);
  const expected = ordinaryError(body, type);
  assert.throws(
    () => parsePredictRequest(body, type, 1e9),
    (err: unknown) => err instanceof ClipperError && err.status === 400 && err.message === expected.message,
    expected.message,
  );
}

test('a big body with version, slo_micros and uid (before or after its input) takes the fast path: one scan, the same request', () => {
  const values = Array.from({ length: 2000 }, (_, i) => i / 7);
  const bodies = [
    { input: values, slo_micros: 5000, uid: 7, version: 'v2' },
    { uid: 'u', version: 'v2', input_batch: [values, values], slo_micros: 5000 },
    { slo_micros: 5000, input: values, uid: null },
  ];
  for (const body of bodies) {
    const text = Buffer.from(JSON.stringify(body, null, body.uid === null ? 1 : 0));
    const packed = parsePackedPredict(text, 'doubles');
    assert.ok(packed !== null, 'the fast path reads it');
    assert.deepEqual(packed.fields, Object.fromEntries(Object.entries(body).filter(([k]) => !k.startsWith('input'))));
    const fast = parsePredictRequest(text, 'doubles', 1e9);
    assert.ok(fast.inputs.every((x) => x instanceof Float64Array));
    const ordinary = readPredictRequest(JSON.parse(text.toString()) as Record<string, unknown>, 'doubles', 1e9);
    assert.deepEqual(
      [fast.batch, fast.version, fast.sloMicros, fast.uid, fast.inputs.map((x) => Array.from(x as Float64Array))],
      [ordinary.batch, ordinary.version, ordinary.sloMicros, ordinary.uid, ordinary.inputs],
    );
  }
  // A string field with escapes and non-ASCII reads as JSON.parse reads it.
  const escaped = Buffer.from(`{"version":"v\\u00e9\\"\\né","input":${JSON.stringify(values)}}`, 'utf8');
  assert.equal(parsePredictRequest(escaped, 'doubles', 1e9).version, (JSON.parse(escaped.toString()) as { version: string }).version);
  assert.equal(parsePackedPredict(escaped, 'doubles')?.fields?.version, 'v\u00e9"\n\u00e9');
});
