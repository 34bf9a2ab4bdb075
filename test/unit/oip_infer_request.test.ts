// Parsing Open Inference Protocol infer requests (src/frontend/oip/infer_request.ts) and the
// binary tensor extension's framing (binary_body.ts): every datatype flat and nested, shape
// mismatches, parameters, and the binary header and sizes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import { binaryBody, readBytesElements, splitInferBody, writeBytesElements } from '../../src/frontend/oip/binary_body.js';
import { readInferRequest } from '../../src/frontend/oip/infer_request.js';
import { kOipDatatypes, type OipDatatype } from '../../src/tensor_spec.js';

const read = (json: unknown, binary: Buffer | null = null) => readInferRequest(json, binary, 60_000_000);

function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.code, 'CLP_ERR_OIP_INVALID');
    assert.equal(err.status, 400);
    assert.match(err.message, pattern);
    return true;
  });
}

/** Six elements of each datatype, as JSON. */
function sample(dt: OipDatatype): unknown[] {
  if (dt === 'BOOL') return [true, false, true, true, false, false];
  if (dt === 'BYTES') return ['a', 'bb', '', 'héllo', 'x', 'y'];
  if (dt.startsWith('FP')) return [1.5, -2, 0, 3.25, 4, 5];
  if (dt.startsWith('UINT')) return [0, 1, 2, 3, 4, 255];
  return [-1, 0, 1, 2, 3, 127];
}

test('every datatype parses flat and nested (row-major) into the same flat data', () => {
  for (const datatype of kOipDatatypes) {
    const flat = sample(datatype);
    const nested = [flat.slice(0, 3), flat.slice(3)];
    const deep = [
      [flat.slice(0, 1), flat.slice(1, 2), flat.slice(2, 3)],
      [flat.slice(3, 4), flat.slice(4, 5), flat.slice(5, 6)],
    ];
    for (const [data, shape] of [
      [flat, [2, 3]],
      [nested, [2, 3]],
      [deep, [2, 3, 1]],
    ] as const) {
      const r = read({ inputs: [{ name: 'in', shape, datatype, data }] });
      const input = r.inputs[0]!;
      assert.equal(input.datatype, datatype);
      assert.deepEqual(input.shape, shape);
      assert.equal(input.count, 6);
      assert.deepEqual(input.data, flat, `${datatype} ${JSON.stringify(data)}`);
      assert.equal(input.binary, null);
    }
  }
});

test('the request defaults: no id, no timeout or priority, every output as JSON', () => {
  const r = read({ inputs: [{ name: 'in', shape: [1], datatype: 'FP64', data: [1] }] });
  assert.equal(r.id, null);
  assert.equal(r.timeoutMicros, null);
  assert.equal(r.priority, null);
  assert.equal(r.outputs, null);
  assert.equal(r.binaryOutput, false);
  const full = read({
    id: 'q1',
    parameters: { timeout: 5000, priority: 1, binary_data_output: true },
    inputs: [{ name: 'in', shape: [0, 3], datatype: 'FP32', data: [] }],
    outputs: [{ name: 'output0', parameters: { binary_data: false } }, { name: 'other' }],
  });
  assert.equal(full.id, 'q1');
  assert.equal(full.timeoutMicros, 5000);
  assert.equal(full.priority, 1);
  assert.equal(full.binaryOutput, true);
  assert.deepEqual(full.outputs, [
    { name: 'output0', binary: false },
    { name: 'other', binary: null },
  ]);
  assert.equal(full.inputs[0]!.count, 0);
});

test('a shape that does not match the data is a 400 naming the input', () => {
  const input = (shape: unknown, data: unknown) => ({ inputs: [{ name: 'x', shape, datatype: 'FP64', data }] });
  assertInvalid(() => read(input([2, 3], [1, 2, 3])), /inputs\[0\] \('x'\): shape \[2,3\] holds 6 elements, but data has 3/);
  assertInvalid(
    () =>
      read(
        input(
          [3, 2],
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
        ),
      ),
    /inputs\[0\] \('x'\)\.data has 2 entries at nesting level 0, but the shape is \[3,2\]/,
  );
  assertInvalid(
    () =>
      read(
        input(
          [2, 3],
          [
            [1, 2, 3],
            [4, 5],
          ],
        ),
      ),
    /data\[1\] holds 2 elements, but the shape \[2,3\] puts 3 there/,
  );
  assertInvalid(() => read(input([2, 2], [[1, 2], 3])), /data\[1\] must be an array like its siblings/);
  assertInvalid(
    () =>
      read(
        input(
          [2, 2],
          [
            [1, [2]],
            [3, 4],
          ],
        ),
      ),
    /mixes arrays and elements/,
  );
  assertInvalid(() => read(input([], [1])), /inputs\[0\] \('x'\)\.shape must be an array of 1 to 16 dimensions/);
  assertInvalid(() => read(input([2, -1], [1, 2])), /shape\[1\] must be an integer >= 1, got -1/);
  assertInvalid(() => read(input([1], 'abc')), /\.data must be an array, got the string "abc"/);
  assertInvalid(() => read({ inputs: [{ name: 'x', shape: [1], datatype: 'FP64' }] }), /has neither data nor parameters\.binary_data_size/);
});

test('malformed fields are 400s naming the field', () => {
  const ok = { name: 'x', shape: [1], datatype: 'FP64', data: [1] };
  assertInvalid(() => read([ok]), /the request must be a JSON object/);
  assertInvalid(() => read({ inputs: [] }), /inputs must be a non-empty array/);
  assertInvalid(() => read({ id: 7, inputs: [ok] }), /id must be a string, got 7/);
  assertInvalid(
    () => read({ inputs: [{ ...ok, datatype: 'FLOAT64' }] }),
    /inputs\[0\] \('x'\)\.datatype must be one of the protocol's datatypes, got the string "FLOAT64"/,
  );
  assertInvalid(() => read({ inputs: [{ ...ok, name: '' }] }), /inputs\[0\]\.name must be a non-empty string/);
  assertInvalid(
    () => read({ inputs: [ok], parameters: { timeout: 0 } }),
    /parameters\.timeout must be an integer number of microseconds from 1 to 60000000, got 0/,
  );
  assertInvalid(() => read({ inputs: [ok], parameters: { timeout: 60_000_001 } }), /parameters\.timeout/);
  assertInvalid(() => read({ inputs: [ok], parameters: { priority: -1 } }), /parameters\.priority must be a non-negative integer/);
  assertInvalid(
    () => read({ inputs: [ok], parameters: { binary_data_output: 'yes' } }),
    /parameters\.binary_data_output must be true or false/,
  );
  assertInvalid(() => read({ inputs: [ok], parameters: [] }), /parameters must be an object/);
  assertInvalid(() => read({ inputs: [ok], outputs: [{}] }), /outputs\[0\]\.name must be a non-empty string/);
  assertInvalid(
    () => read({ inputs: [ok], outputs: [{ name: 'o', parameters: { binary_data: 1 } }] }),
    /outputs\[0\]\.parameters\.binary_data must be true or false/,
  );
});

test('binary inputs take their bytes in input order, and the sizes must add up', () => {
  const doubles = Buffer.alloc(16);
  doubles.writeDoubleLE(1.5, 0);
  doubles.writeDoubleLE(-2, 8);
  const bytes = writeBytesElements(['ab', 'c']);
  const binary = Buffer.concat([doubles, bytes]);
  const json = {
    inputs: [
      { name: 'a', shape: [1, 2], datatype: 'FP64', parameters: { binary_data_size: 16 } },
      { name: 'b', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: bytes.length } },
    ],
  };
  const r = read(json, binary);
  assert.deepEqual(r.inputs[0]!.binary, doubles);
  assert.equal(r.inputs[0]!.data, null);
  assert.deepEqual(r.inputs[1]!.binary, bytes);
  assertInvalid(() => read(json, Buffer.concat([binary, Buffer.alloc(1)])), /add up to 27 bytes, but 28 bytes follow the JSON header/);
  assertInvalid(
    () => read(json, doubles),
    /inputs\[1\] \('b'\)\.parameters\.binary_data_size of 11 bytes runs past the end of the body \(0 binary bytes left\)/,
  );
  assertInvalid(() => read(json, null), /binary_data_size is set, but the request has no Inference-Header-Content-Length header/);
  const wrongSize = { inputs: [{ name: 'a', shape: [1, 3], datatype: 'FP64', parameters: { binary_data_size: 16 } }] };
  assertInvalid(() => read(wrongSize, doubles), /binary_data_size is 16 bytes, but shape \[1,3\] of FP64 takes 24/);
  const both = { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP64', data: [1, 2], parameters: { binary_data_size: 16 } }] };
  assertInvalid(() => read(both, doubles), /has both data and parameters\.binary_data_size/);
  const badSize = { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP64', parameters: { binary_data_size: '16' } }] };
  assertInvalid(() => read(badSize, doubles), /binary_data_size must be a non-negative integer/);
});

test('Inference-Header-Content-Length splits the body; a malformed one is a 400 naming it', () => {
  const body = Buffer.from('{"a":1}BINARY');
  assert.deepEqual(splitInferBody(body, ''), { header: body, binary: null });
  const split = splitInferBody(body, '7');
  assert.equal(split.header.toString(), '{"a":1}');
  assert.equal(split.binary!.toString(), 'BINARY');
  assert.equal(splitInferBody(body, String(body.length)).binary!.length, 0);
  assertInvalid(
    () => splitInferBody(body, 'seven'),
    /Inference-Header-Content-Length must be the JSON header's length in bytes, got "seven"/,
  );
  assertInvalid(() => splitInferBody(body, '-1'), /Inference-Header-Content-Length must be/);
  assertInvalid(() => splitInferBody(body, '14'), /Inference-Header-Content-Length is 14 bytes, longer than the 13-byte body/);
});

test('BYTES elements: a 4-byte little-endian length then the bytes, exactly filling the tensor', () => {
  const framed = writeBytesElements(['héllo', Buffer.from([0, 255]), '']);
  assert.deepEqual([...framed.subarray(0, 4)], [6, 0, 0, 0]);
  const back = readBytesElements(framed, 3, 'in');
  assert.deepEqual(
    back.map((b) => [...b]),
    [[...Buffer.from('héllo')], [0, 255], []],
  );
  assertInvalid(() => readBytesElements(framed, 4, 'in'), /in: BYTES element 3 of 4 has no 4-byte length/);
  assertInvalid(() => readBytesElements(framed, 2, 'in'), /in: 2 BYTES elements take 16 bytes, but parameters\.binary_data_size is 20/);
  assertInvalid(() => readBytesElements(framed.subarray(0, 8), 1, 'in'), /BYTES element 0 claims 6 bytes, past the end/);
  const { body, headerLength } = binaryBody('{"x":1}', [Buffer.from([1, 2]), Buffer.from([3])]);
  assert.equal(headerLength, 7);
  assert.deepEqual([...body.subarray(7)], [1, 2, 3]);
});

test('a shape cannot ask for more work than its data backs: bounded rank, no empty row dimension', () => {
  // 10^10 empty rows in a few bytes of JSON: refused before any row is built
  assertInvalid(
    () => read({ inputs: [{ name: 'x', shape: [1e10, 0], datatype: 'FP64', data: [] }] }),
    /inputs\[0\] \('x'\)\.shape\[1\] must be an integer >= 1/,
  );
  // deep nesting is bounded by the rank limit (the flattener recurses once per dimension)
  const deep = new Array<number>(20_001).fill(1);
  let data: unknown = [1];
  for (let i = 0; i < 20_000; i++) data = [data];
  assertInvalid(
    () => read({ inputs: [{ name: 'x', shape: deep, datatype: 'FP64', data }] }),
    /shape must be an array of 1 to 16 dimensions/,
  );
  // an empty batch is still fine
  assert.equal(read({ inputs: [{ name: 'x', shape: [0, 3], datatype: 'FP64', data: [] }] }).inputs.length, 1);
});

test('BYTES elements: a count the tensor cannot hold is refused before anything is allocated', () => {
  assertInvalid(() => readBytesElements(Buffer.alloc(0), 1e10, 'inputs[0]'), /10000000000 BYTES elements need at least/);
});
