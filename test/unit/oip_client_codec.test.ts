// The independent OIP client's own encoding (test/helpers/oip_client.ts), checked against vectors
// worked out from the specifications (IEEE 754 binary16, the binary tensor extension's layout), so
// that the interoperability test's reference side is itself right.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binaryInferBody, decodeTensor, encodeTensor, flatten, fromHalfBits, parseInferBody, toHalfBits } from '../helpers/oip_client.js';

test('binary16: exact values, rounding, overflow, subnormals', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [65520, 0x7c00], // halfway above the largest finite half: rounds (to even) to infinity
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: to even
    [1 + 3 * 2 ** -11, 0x3c02],
    [0, 0x0000],
    [-0, 0x8000],
    [Infinity, 0x7c00],
  ];
  for (const [value, bits] of cases) assert.equal(toHalfBits(value), bits, `${value}`);
  assert.equal(toHalfBits(NaN) & 0x7c00, 0x7c00);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  const exact = cases.filter(([v]) => v !== 65520 && v !== 1 + 2 ** -11 && v !== 1 + 3 * 2 ** -11);
  for (const [value, bits] of exact) assert.equal(fromHalfBits(bits), value);
});

test('tensors: little-endian, row-major, BOOL one byte, BYTES length-prefixed', () => {
  assert.deepEqual([...encodeTensor('FP64', [1])], [0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
  assert.deepEqual([...encodeTensor('INT32', [-2, 1])], [0xfe, 0xff, 0xff, 0xff, 1, 0, 0, 0]);
  assert.deepEqual([...encodeTensor('UINT16', [0x1234])], [0x34, 0x12]);
  assert.deepEqual([...encodeTensor('BOOL', [true, false, 1])], [1, 0, 1]);
  assert.deepEqual([...encodeTensor('BYTES', ['ab', '', Buffer.from([255])])], [2, 0, 0, 0, 97, 98, 0, 0, 0, 0, 1, 0, 0, 0, 255]);
  assert.deepEqual(decodeTensor('INT64', encodeTensor('INT64', [-3n, 2n ** 62n])), [-3n, 2n ** 62n]);
  assert.deepEqual(
    decodeTensor('BYTES', encodeTensor('BYTES', ['é', 'x'])).map((b) => Buffer.from(b as Uint8Array).toString()),
    ['é', 'x'],
  );
  assert.throws(() => decodeTensor('BYTES', Buffer.from([5, 0, 0, 0, 1])), /overruns/);
  assert.throws(() => decodeTensor('FP32', Buffer.alloc(6)), /whole number/);
  assert.deepEqual(
    flatten([
      [1, 2],
      [3, [4]],
    ]),
    [1, 2, 3, 4],
  );
});

test('a binary request and response body: JSON header, then the tensors in order', () => {
  const { body, headerLength } = binaryInferBody(
    {
      id: 'x',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [1, 2], data: [[1, 2]] },
        { name: 'b', datatype: 'BYTES', shape: [1], data: ['hi'] },
      ],
    },
    true,
  );
  const header = JSON.parse(body.subarray(0, headerLength).toString());
  assert.deepEqual(header, {
    id: 'x',
    parameters: { binary_data_output: true },
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
      { name: 'b', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } },
    ],
  });
  assert.deepEqual(body.subarray(headerLength), Buffer.concat([encodeTensor('FP32', [1, 2]), encodeTensor('BYTES', ['hi'])]));

  const json = Buffer.from(
    JSON.stringify({ model_name: 'm', outputs: [{ name: 'o', datatype: 'FP64', shape: [2], parameters: { binary_data_size: 16 } }] }),
  );
  const response = parseInferBody(
    { 'inference-header-content-length': String(json.length) },
    Buffer.concat([json, encodeTensor('FP64', [0.5, -1])]),
  );
  assert.deepEqual((response as { outputs: Array<{ data: unknown[] }> }).outputs[0]!.data, [0.5, -1]);
  assert.throws(() => parseInferBody({ 'inference-header-content-length': String(json.length) }, json), /overruns/);
});
