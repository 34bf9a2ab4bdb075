// An input tensor as a model's queries (src/frontend/oip/tensor_rows.ts): rows of the batch
// dimension for every Clipper input type, JSON and binary, and the datatype and declared-spec checks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import { writeBytesElements } from '../../src/frontend/oip/binary_body.js';
import { elementBytes, writeElement, type NumericDatatype } from '../../src/frontend/oip/datatypes.js';
import type { InputTensor } from '../../src/frontend/oip/infer_request.js';
import { tensorRows, type RowsTarget } from '../../src/frontend/oip/tensor_rows.js';
import type { InputType } from '../../src/input_types.js';
import type { TensorSpec } from '../../src/tensor_spec.js';

function target(inputType: InputType, declared: TensorSpec | null = null): RowsTarget {
  return { name: 'm', inputType, declared };
}

function jsonTensor(datatype: InputTensor['datatype'], shape: number[], data: unknown[]): InputTensor {
  return { name: 'in', datatype, shape, count: shape.reduce((a, b) => a * b, 1), data, binary: null };
}

function binaryTensor(datatype: NumericDatatype, shape: number[], values: number[]): InputTensor {
  const size = elementBytes(datatype);
  const binary = Buffer.alloc(values.length * size);
  values.forEach((x, i) => {
    writeElement(datatype, binary, i * size, x);
  });
  return { name: 'in', datatype, shape, count: values.length, data: null, binary };
}

function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, pattern);
    return true;
  });
}

test('the first dimension is the batch: each row is one query, the rest flattened row-major', () => {
  assert.deepEqual(tensorRows(jsonTensor('FP64', [2, 3], [1, 2, 3, 4, 5, 6]), target('doubles'), 'in'), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual(tensorRows(jsonTensor('FP64', [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]), target('doubles'), 'in'), [
    [1, 2, 3, 4],
    [5, 6, 7, 8],
  ]);
  assert.deepEqual(
    tensorRows(jsonTensor('INT32', [3], [1, 2, 3]), target('integers'), 'in'),
    [[1], [2], [3]],
    'a 1-D tensor is a batch of scalars',
  );
  assert.deepEqual(tensorRows(jsonTensor('FP32', [0, 4], []), target('floats'), 'in'), []);
  assert.deepEqual(tensorRows(jsonTensor('INT8', [1, 2], [-1, 2]), target('doubles'), 'in'), [[-1, 2]], 'integers convert to doubles');
});

test('binary numeric tensors become the same rows as their JSON twins, for every datatype a number model takes', () => {
  const cases: [NumericDatatype, InputType, number[]][] = [
    ['FP64', 'doubles', [1.5, -2, 3e300, 4]],
    ['FP32', 'doubles', [1.5, -2, 0.25, 4]],
    ['FP16', 'doubles', [1.5, -2, 0.25, 4]],
    ['INT64', 'doubles', [-(2 ** 40), 2, 3, 4]],
    ['UINT64', 'doubles', [2 ** 40, 2, 3, 4]],
    ['UINT32', 'doubles', [4294967295, 2, 3, 4]],
    ['INT16', 'doubles', [-32768, 2, 3, 4]],
    ['UINT8', 'doubles', [255, 2, 3, 4]],
    ['FP32', 'floats', [1.5, -2, 0.25, 4]],
    ['FP16', 'floats', [1.5, -2, 0.25, 4]],
    ['INT32', 'integers', [-2147483648, 2, 3, 2147483647]],
    ['INT8', 'integers', [-128, 2, 3, 127]],
    ['UINT16', 'integers', [65535, 2, 3, 4]],
  ];
  const packedOf = { doubles: Float64Array, floats: Float32Array, integers: Int32Array } as const;
  for (const [dt, type, values] of cases) {
    const tensor = binaryTensor(dt, [2, 2], values);
    const rows = tensorRows(tensor, target(type), 'in');
    const make = packedOf[type as keyof typeof packedOf];
    // Rows are PackedNumbers of the model's element type: views of one typed array, not number[].
    for (const row of rows) assert.ok(row instanceof make, `${dt} → ${type}: a ${make.name} row`);
    assert.equal((rows[0] as Float64Array).buffer, (rows[1] as Float64Array).buffer, `${dt}: the rows share one buffer`);
    const asNumbers = rows.map((r) => Array.from(r as ArrayLike<number>));
    assert.deepEqual(asNumbers, [values.slice(0, 2), values.slice(2)], `${dt} → ${type}`);
    const json = tensorRows(jsonTensor(dt, [2, 2], values), target(type), 'in') as number[][];
    assert.deepEqual(
      asNumbers,
      json.map((r) => Array.from(make.from(r))),
      `${dt} binary = JSON (in the model's element type)`,
    );
    tensor.binary!.fill(0);
    assert.deepEqual(
      rows.map((r) => Array.from(r as ArrayLike<number>)),
      asNumbers,
      `${dt}: a copy, the body may be reused`,
    );
  }
  assertInvalid(() => tensorRows(binaryTensor('FP64', [1, 2], [1, Number.NaN]), target('doubles'), 'in'), /in: element 1 is NaN/);
  assertInvalid(
    () => tensorRows(binaryTensor('FP32', [1, 2], [Number.POSITIVE_INFINITY, 1]), target('floats'), 'in'),
    /in: element 0 is Infinity/,
  );
  assertInvalid(() => tensorRows(binaryTensor('FP16', [1, 2], [1, Number.NaN]), target('doubles'), 'in'), /in: element 1 is NaN/);
  // An unaligned tensor (its offset in the body is odd) is read all the same.
  const odd = Buffer.alloc(17);
  odd.writeDoubleLE(2.5, 1);
  odd.writeDoubleLE(-1, 9);
  const unaligned: InputTensor = { name: 'in', datatype: 'FP64', shape: [1, 2], count: 2, data: null, binary: odd.subarray(1) };
  assert.deepEqual(Array.from(tensorRows(unaligned, target('doubles'), 'in')[0] as Float64Array), [2.5, -1]);
});

test('BYTES rows are strings for a strings model and bytes for a bytes model; UINT8 rows are bytes', () => {
  assert.deepEqual(tensorRows(jsonTensor('BYTES', [2], ['héllo', 'b']), target('strings'), 'in'), ['héllo', 'b']);
  assert.deepEqual(tensorRows(jsonTensor('BYTES', [2, 1], ['a', 'b']), target('bytes'), 'in'), [Buffer.from('a'), Buffer.from('b')]);
  const framed = writeBytesElements(['héllo', Buffer.from([0, 255])]);
  const binary: InputTensor = { name: 'in', datatype: 'BYTES', shape: [2], count: 2, data: null, binary: framed };
  assert.deepEqual(tensorRows(binary, target('strings'), 'in'), ['héllo', '\u0000\ufffd']);
  const bytesRows = tensorRows(binary, target('bytes'), 'in') as Buffer[];
  assert.deepEqual(bytesRows[1], Buffer.from([0, 255]));
  framed.fill(0);
  assert.deepEqual(bytesRows[1], Buffer.from([0, 255]), 'rows are copies: the body may be reused');
  assert.deepEqual(tensorRows(jsonTensor('UINT8', [2, 2], [1, 2, 3, 255]), target('bytes'), 'in'), [
    Buffer.from([1, 2]),
    Buffer.from([3, 255]),
  ]);
  assert.deepEqual(tensorRows(binaryTensor('UINT8', [1, 3], [7, 8, 9]), target('bytes'), 'in'), [Buffer.from([7, 8, 9])]);
  assertInvalid(
    () => tensorRows(jsonTensor('BYTES', [1, 2], ['a', 'b']), target('strings'), 'in'),
    /a strings model takes one BYTES element per row, not 2/,
  );
});

test('a datatype the model cannot take is a 400 naming it and what the model takes', () => {
  assertInvalid(
    () => tensorRows(jsonTensor('BYTES', [1], ['a']), target('doubles'), "inputs[0] ('x')"),
    /inputs\[0\] \('x'\)\.datatype BYTES cannot feed 'm', which takes doubles \(send FP64, FP32/,
  );
  assertInvalid(
    () => tensorRows(jsonTensor('FP64', [1], [1]), target('floats'), 'in'),
    /FP64 cannot feed 'm', which takes floats \(send FP32, FP16\)/,
  );
  assertInvalid(() => tensorRows(jsonTensor('INT64', [1], [1]), target('integers'), 'in'), /INT64 cannot feed/);
  assertInvalid(() => tensorRows(jsonTensor('BOOL', [1], [true]), target('integers'), 'in'), /BOOL cannot feed/);
  assertInvalid(() => tensorRows(jsonTensor('FP64', [1], ['x']), target('doubles'), 'in'), /in\.data\[0\] must be a finite number/);
});

test('a declared input fixes the name, the datatype and the fixed dimensions', () => {
  const declared: TensorSpec = { name: 'pixels', datatype: 'FP32', shape: [-1, 2] };
  const t = (name: string, datatype: 'FP32' | 'FP16', shape: number[]) => ({ ...jsonTensor(datatype, shape, [1, 2]), name });
  assert.deepEqual(tensorRows(t('pixels', 'FP32', [1, 2]), target('floats', declared), 'in'), [[1, 2]]);
  assertInvalid(
    () => tensorRows(t('other', 'FP32', [1, 2]), target('floats', declared), 'in'),
    /in\.name must be the model's input 'pixels'/,
  );
  assertInvalid(() => tensorRows(t('pixels', 'FP16', [1, 2]), target('floats', declared), 'in'), /in\.datatype must be FP32/);
  assertInvalid(
    () => tensorRows(t('pixels', 'FP32', [2, 1]), target('floats', declared), 'in'),
    /shape \[2,1\] does not fit the model's declared shape \[-1,2\]/,
  );
});
