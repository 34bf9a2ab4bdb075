// Binary predict bodies (src/frontend/binary_request.ts): the body kind by Content-Type (JSON for
// all but octet-stream and msgpack, as Clipper read every body as JSON), application/octet-stream as
// one input of every type, application/msgpack maps with the JSON body's fields and numeric `bin` or
// typed-array inputs, a 400 naming each problem, and the same 400 for the same bad value on every path.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr, pack } from 'msgpackr';
import { ClipperError } from '../../src/errors.js';
import { BodyKind, parseMsgpackPredict, parseOctetPredict, parsePredictBody, predictBodyKind } from '../../src/frontend/binary_request.js';
import type { InputType } from '../../src/input_types.js';

function assertError(fn: () => unknown, status: number, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.status, status, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

const bytesOf = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('the body kind follows Content-Type: octet-stream, msgpack (any case, any parameters); JSON for every other type or none', () => {
  for (const type of [
    '',
    'application/json',
    'Application/JSON; charset=utf-8',
    'text/plain',
    'text/json',
    'application/javascript',
    'application/x-www-form-urlencoded',
    'application/vnd.api+json',
    'application/xml',
    'image/png',
    'application',
    'application/',
    'application/octet-streamx',
    'application/msgpack2',
    'application/x-msgpack-ish; a=b',
    'octet-stream',
    'application /octet-stream',
  ]) {
    assert.equal(predictBodyKind(type), BodyKind.Json, type);
  }
  for (const type of [
    'application/octet-stream',
    'APPLICATION/Octet-Stream',
    ' application/octet-stream ;q=1',
    '\tapplication/octet-stream\t',
  ])
    assert.equal(predictBodyKind(type), BodyKind.Octets, type);
  for (const type of ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack; q=1', 'Application/X-MsgPack '])
    assert.equal(predictBodyKind(type), BodyKind.Msgpack, type);
});

test('a body in any other Content-Type is read as JSON, as Clipper read it: a JSON body works, anything else is a 400 JSON error', () => {
  for (const type of ['text/json', 'application/javascript', 'application/xml']) {
    assert.deepEqual(parsePredictBody(Buffer.from('{"input":[1,2]}'), type, 'doubles', 1e9).inputs, [[1, 2]], type);
  }
  assertError(() => parsePredictBody(Buffer.from('<x/>'), 'application/xml', 'doubles', 1e9), 400, /^Error parsing JSON/);
});

test('octet-stream: one input of the app element type, little-endian, copied out of the body', () => {
  const cases: Array<[InputType, ArrayBufferView & ArrayLike<number>]> = [
    ['doubles', new Float64Array([1.5, -0, 1e308, 5e-324])],
    ['floats', new Float32Array([1.5, -2, 3.4028234663852886e38])],
    ['integers', new Int32Array([1, -2147483648, 2147483647])],
  ];
  for (const [type, values] of cases) {
    // An unaligned body (offset 1 of a bigger buffer) is read all the same.
    const body = Buffer.concat([Buffer.from([9]), bytesOf(values)]).subarray(1);
    const request = parsePredictBody(body, 'application/octet-stream', type, 1e9);
    assert.equal(request.batch, false);
    assert.equal(request.inputs.length, 1);
    const input = request.inputs[0]!;
    assert.equal(input.constructor, values.constructor, type);
    assert.deepEqual(Array.from(input as ArrayLike<number>), Array.from(values));
    body.fill(0);
    assert.deepEqual(Array.from(input as ArrayLike<number>), Array.from(values), 'a copy: the body is uWS’s buffer');
  }
  const bytes = parseOctetPredict(Buffer.from([0, 1, 255]), 'bytes').inputs[0];
  assert.ok(Buffer.isBuffer(bytes));
  assert.deepEqual([...bytes], [0, 1, 255]);
  assert.equal(parseOctetPredict(Buffer.from('héllo', 'utf8'), 'strings').inputs[0], 'héllo');
  assert.equal((parseOctetPredict(Buffer.alloc(0), 'doubles').inputs[0] as Float64Array).length, 0, 'an empty body is an empty input');
});

test('octet-stream: a length that is not whole elements, a NaN or infinite element, bad UTF-8 → 400 naming it', () => {
  assertError(
    () => parseOctetPredict(Buffer.alloc(7), 'doubles'),
    400,
    /^Invalid input: the application\/octet-stream body is 7 bytes, not a whole number of doubles \(8-byte/,
  );
  assertError(() => parseOctetPredict(Buffer.alloc(6), 'floats'), 400, /body is 6 bytes, not a whole number of floats \(4-byte/);
  assertError(() => parseOctetPredict(Buffer.alloc(5), 'integers'), 400, /5 bytes, not a whole number of integers/);
  assertError(
    () => parseOctetPredict(bytesOf(new Float64Array([1, Number.NaN])), 'doubles'),
    400,
    /^Invalid input: input\[1\] must be a finite number.*got the number NaN/,
  );
  assertError(
    () => parseOctetPredict(bytesOf(new Float32Array([Number.POSITIVE_INFINITY])), 'floats'),
    400,
    /^Invalid input: input\[0\] must be a number within float32 range.*Infinity/,
  );
  assertError(() => parseOctetPredict(Buffer.from([0xff, 0xfe]), 'strings'), 400, /not valid UTF-8/);
});

test('msgpack: a map like the JSON body; a bin is the app’s elements; version, slo_micros and uid are read', () => {
  const doubles = new Float64Array([1.25, -3, 7e-300]);
  const request = parseMsgpackPredict(pack({ input: bytesOf(doubles), version: '2', slo_micros: 5000, uid: 7 }), 'doubles', 1e9);
  assert.ok(request.inputs[0] instanceof Float64Array);
  assert.deepEqual(Array.from(request.inputs[0]), Array.from(doubles));
  assert.deepEqual([request.batch, request.version, request.sloMicros, request.uid], [false, '2', 5000, '7']);
  const floats = parseMsgpackPredict(pack({ input: bytesOf(new Float32Array([0.5, 2])) }), 'floats', 1e9).inputs[0];
  assert.ok(floats instanceof Float32Array);
  assert.deepEqual(Array.from(floats), [0.5, 2]);
  const batch = parseMsgpackPredict(pack({ input_batch: [bytesOf(new Int32Array([1, 2])), [3, 4]] }), 'integers', 1e9);
  assert.equal(batch.batch, true);
  assert.ok(batch.inputs[0] instanceof Int32Array);
  assert.deepEqual(
    batch.inputs.map((x) => Array.from(x as ArrayLike<number>)),
    [
      [1, 2],
      [3, 4],
    ],
  );
  assert.deepEqual(parseMsgpackPredict(pack({ input: [1.5, 2] }), 'doubles', 1e9).inputs[0], [1.5, 2], 'an array stays number[]');
  const raw = parseMsgpackPredict(pack({ input: Buffer.from([1, 2]) }), 'bytes', 1e9).inputs[0];
  assert.ok(Buffer.isBuffer(raw));
  assert.deepEqual([...raw], [1, 2]);
  assert.equal(parseMsgpackPredict(pack({ input: 'text' }), 'strings', 1e9).inputs[0], 'text');
});

test('msgpack: a typed array (msgpackr moreTypes) becomes the app type, checked by the type’s rule', () => {
  const packr = new Packr({ moreTypes: true, useRecords: false });
  const asDoubles = parseMsgpackPredict(packr.pack({ input: new Float64Array([1.5, 2]) }), 'doubles', 1e9).inputs[0];
  assert.ok(asDoubles instanceof Float64Array);
  assert.deepEqual(Array.from(asDoubles), [1.5, 2]);
  const asFloats = parseMsgpackPredict(packr.pack({ input: new Float64Array([1.1]) }), 'floats', 1e9).inputs[0];
  assert.ok(asFloats instanceof Float32Array);
  assert.deepEqual(Array.from(asFloats), [Math.fround(1.1)]);
  assertError(
    () => parseMsgpackPredict(packr.pack({ input: new Float64Array([1.5]) }), 'integers', 1e9),
    400,
    /input\[0\] must be a 32-bit integer/,
  );
});

test('msgpack: errors name the problem (400)', () => {
  assertError(() => parseMsgpackPredict(Buffer.from([0x82, 0xa1]), 'doubles', 1e9), 400, /Error parsing msgpack/);
  assertError(() => parseMsgpackPredict(Buffer.alloc(0), 'doubles', 1e9), 400, /Error parsing msgpack: the request body is empty/);
  assertError(() => parseMsgpackPredict(pack([1, 2]), 'doubles', 1e9), 400, /must be a msgpack map/);
  assertError(() => parseMsgpackPredict(pack({ x: 1 }), 'doubles', 1e9), 400, /neither "input" nor "input_batch"/);
  assertError(
    () => parseMsgpackPredict(pack({ input: [1], slo_micros: 0 }), 'doubles', 1e9),
    400,
    /slo_micros must be an integer in \[1, /,
  );
  assertError(() => parseMsgpackPredict(pack({ input: [1], version: 3 }), 'doubles', 1e9), 400, /version must be a non-empty string/);
  assertError(
    () => parseMsgpackPredict(pack({ input: Buffer.alloc(12) }), 'doubles', 1e9),
    400,
    /input is 12 bytes, not a whole number of doubles/,
  );
  assertError(
    () => parseMsgpackPredict(pack({ input_batch: [Buffer.alloc(8), Buffer.alloc(3)] }), 'floats', 1e9),
    400,
    /input_batch\[1\] is 3 bytes/,
  );
});

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ClipperError && err.status === 400, String(err));
    return err.message;
  }
  assert.fail('accepted');
}

test('the same bad element gets the same 400 on every path: JSON small and large (fast path), octet-stream, msgpack array, bin and typed array', () => {
  const packr = new Packr({ moreTypes: true, useRecords: false });
  const cases: Array<[InputType, string, number, Float64ArrayConstructor | Float32ArrayConstructor | null, string]> = [
    [
      'doubles',
      '1e400',
      Number.POSITIVE_INFINITY,
      Float64Array,
      'a finite number (the application takes doubles), got the number Infinity',
    ],
    [
      'floats',
      '-1e400',
      Number.NEGATIVE_INFINITY,
      Float32Array,
      'a number within float32 range (the application takes floats), got the number -Infinity',
    ],
    ['floats', '1e39', 1e39, null, 'a number within float32 range (the application takes floats), got the number 1e+39'],
    ['integers', '1.5', 1.5, null, 'a 32-bit integer (the application takes integers), got the number 1.5'],
    ['integers', '2147483648', 2 ** 31, null, 'a 32-bit integer (the application takes integers), got the number 2147483648'],
  ];
  for (const [type, text, bad, carrier, rule] of cases) {
    const expected = `Invalid input: input[3] must be ${rule}`;
    const head = [1, 2, 3];
    const tail = Array.from({ length: 1500 }, (_, i) => i);
    const small = Buffer.from(`{"input":[${head.join(',')},${text}]}`);
    const large = Buffer.from(`{"input":[${head.join(',')},${text},${tail.join(',')}]}`);
    assert.ok(large.length > 4096, 'the large body is past the fast path threshold');
    const messages = [
      messageOf(() => parsePredictBody(small, 'application/json', type, 1e9)),
      messageOf(() => parsePredictBody(large, '', type, 1e9)),
      messageOf(() => parsePredictBody(pack({ input: [...head, bad, ...tail] }), 'application/msgpack', type, 1e9)),
      messageOf(() => parsePredictBody(packr.pack({ input: new Float64Array([...head, bad]) }), 'application/msgpack', type, 1e9)),
    ];
    if (carrier !== null) {
      const elements = bytesOf(new carrier([...head, bad, ...tail]));
      messages.push(messageOf(() => parsePredictBody(elements, 'application/octet-stream', type, 1e9)));
      messages.push(messageOf(() => parsePredictBody(pack({ input: elements }), 'application/msgpack', type, 1e9)));
    }
    for (const message of messages) assert.equal(message, expected, `${type} ${text}`);
  }
});
