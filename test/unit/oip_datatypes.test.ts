// The Open Inference Protocol's datatypes as values (src/frontend/oip/datatypes.ts): the JSON
// values each admits, little-endian element reading and writing, half precision.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import {
  elementBytes,
  elementReader,
  fitsDatatype,
  halfToNumber,
  jsonNumbers,
  jsonStrings,
  numberToHalf,
  validBinaryElement,
  writeElement,
  type NumericDatatype,
} from '../../src/frontend/oip/datatypes.js';
import { kOipDatatypes } from '../../src/tensor_spec.js';

function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError);
    assert.equal(err.code, 'CLP_ERR_OIP_INVALID');
    assert.equal(err.status, 400);
    assert.match(err.message, pattern);
    return true;
  });
}

/** Per numeric datatype: values in range (the extremes), and values out of range or of the wrong kind. */
const kCases: Record<NumericDatatype, { ok: number[]; bad: unknown[] }> = {
  BOOL: { ok: [], bad: [1, 'true', null] },
  UINT8: { ok: [0, 255], bad: [-1, 256, 1.5] },
  UINT16: { ok: [0, 65535], bad: [-1, 65536] },
  UINT32: { ok: [0, 4294967295], bad: [-1, 4294967296] },
  UINT64: { ok: [0, 2 ** 53], bad: [-1, 0.5] },
  INT8: { ok: [-128, 127], bad: [-129, 128] },
  INT16: { ok: [-32768, 32767], bad: [-32769, 32768] },
  INT32: { ok: [-2147483648, 2147483647], bad: [2147483648, 2.5] },
  INT64: { ok: [-(2 ** 53), 2 ** 53], bad: [1.5, '1'] },
  FP16: { ok: [-65504, 0.5, 65504], bad: [70000, 'x'] },
  FP32: { ok: [-3.4e38, 1.25, 3.4e38], bad: [3.5e38, true] },
  FP64: { ok: [-1.7e308, 1e-300, 1.7e308], bad: ['1', null, [1]] },
};

test('every numeric datatype admits its JSON values and refuses others, naming the element', () => {
  for (const [dt, c] of Object.entries(kCases) as [NumericDatatype, (typeof kCases)[NumericDatatype]][]) {
    if (c.ok.length > 0) assert.deepEqual(jsonNumbers(dt, c.ok, 'data'), c.ok, dt);
    for (const bad of c.bad)
      assertInvalid(() => jsonNumbers(dt, [c.ok[0] ?? true, bad], 'inputs[0].data'), /inputs\[0\]\.data\[1\] must be/);
  }
  assert.deepEqual(jsonNumbers('BOOL', [true, false], 'data'), [1, 0]);
  assertInvalid(() => jsonNumbers('INT8', [300], 'd'), /d\[0\] must be an integer from -128 to 127 \(datatype INT8\), got 300/);
  assert.deepEqual(jsonStrings(['a', ''], 'data'), ['a', '']);
  assertInvalid(() => jsonStrings(['a', 1], 'data'), /data\[1\] must be a string \(datatype BYTES\), got 1/);
});

test('element sizes follow the binary extension: BOOL one byte, BYTES length-prefixed', () => {
  const sizes = Object.fromEntries(kOipDatatypes.map((dt) => [dt, elementBytes(dt)]));
  assert.deepEqual(sizes, {
    BOOL: 1,
    UINT8: 1,
    UINT16: 2,
    UINT32: 4,
    UINT64: 8,
    INT8: 1,
    INT16: 2,
    INT32: 4,
    INT64: 8,
    FP16: 2,
    FP32: 4,
    FP64: 8,
    BYTES: 0,
  });
});

test('every numeric datatype writes and reads back little-endian', () => {
  for (const [dt, c] of Object.entries(kCases) as [NumericDatatype, (typeof kCases)[NumericDatatype]][]) {
    const values = dt === 'BOOL' ? [0, 1] : c.ok;
    const size = elementBytes(dt);
    const buf = Buffer.alloc(values.length * size);
    values.forEach((x, i) => {
      writeElement(dt, buf, i * size, x);
    });
    const read = elementReader(dt);
    const back = values.map((_, i) => read(buf, i * size));
    if (dt === 'FP32') assert.deepEqual(back, values.map(Math.fround), dt);
    else assert.deepEqual(back, values, dt);
  }
  const le = Buffer.alloc(4);
  writeElement('INT32', le, 0, 1);
  assert.deepEqual([...le], [1, 0, 0, 0], 'little-endian');
});

test('half precision: exact values, rounding to nearest even, subnormals, overflow', () => {
  for (const x of [0, 1, -2, 0.5, 65504, 2 ** -14, 2 ** -24, 1.5, -1024, 2047]) assert.equal(halfToNumber(numberToHalf(x)), x, String(x));
  assert.equal(numberToHalf(1), 0x3c00);
  assert.equal(numberToHalf(-2), 0xc000);
  assert.equal(numberToHalf(65504), 0x7bff);
  assert.equal(numberToHalf(1e6), 0x7c00, 'overflow → +Infinity');
  assert.equal(numberToHalf(2 ** -26), 0, 'below half the smallest subnormal → 0');
  assert.equal(halfToNumber(numberToHalf(1 + 2 ** -11)), 1, 'a tie rounds to even (down)');
  assert.equal(halfToNumber(numberToHalf(1 + 3 * 2 ** -11)), 1 + 2 ** -9, 'a tie rounds to even (up)');
  assert.equal(halfToNumber(0x7c00), Number.POSITIVE_INFINITY);
  assert.ok(Number.isNaN(halfToNumber(0x7e00)));
});

test('binary elements: BOOL must be 0 or 1, floats must be finite; FP16 range is checked in JSON', () => {
  assert.equal(validBinaryElement('BOOL', 1), true);
  assert.equal(validBinaryElement('BOOL', 2), false);
  assert.equal(validBinaryElement('FP64', Number.NaN), false);
  assert.equal(validBinaryElement('FP32', Number.POSITIVE_INFINITY), false);
  assert.equal(fitsDatatype('FP16', 65504), true);
  assert.equal(fitsDatatype('FP16', 65505), false);
});
