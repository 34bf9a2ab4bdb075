// Declared and inferred tensor metadata (frontend/oip/metadata_spec.ts) and the validation of
// declared tensors at add_model (admin_validate.ts, checkTensorSpecs).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTensorSpecs } from '../../src/admin/admin_validate.js';
import { ClipperError } from '../../src/errors.js';
import { modelTensorSpec } from '../../src/frontend/oip/metadata_spec.js';
import { kInputTypes } from '../../src/input_types.js';
import type { ModelRecord } from '../../src/state/records.js';
import { kDatatypesByInputType, kOipDatatypes, type TensorSpec } from '../../src/tensor_spec.js';

test('inferred from the input type: the batch is the first dimension, -1', () => {
  const expected = {
    doubles: { datatype: 'FP64', shape: [-1, -1] },
    floats: { datatype: 'FP32', shape: [-1, -1] },
    integers: { datatype: 'INT32', shape: [-1, -1] },
    strings: { datatype: 'BYTES', shape: [-1] },
    bytes: { datatype: 'BYTES', shape: [-1] },
  } as const;
  for (const type of kInputTypes) {
    const spec = modelTensorSpec({ input_type: type });
    assert.deepEqual(spec.inputs, [{ name: 'input0', ...expected[type] }], type);
    assert.deepEqual(spec.outputs, [{ name: 'output0', datatype: 'FP64', shape: [-1] }], type);
    assert.equal(spec.inputsDeclared, false);
    assert.equal(spec.outputsDeclared, false);
    assert.ok(kDatatypesByInputType[type].includes(spec.inputs[0]!.datatype), `${type} accepts its inferred datatype`);
  }
});

test('declared tensors win, each side on its own; the result is a copy', () => {
  const inputs: TensorSpec[] = [{ name: 'pixels', datatype: 'FP32', shape: [-1, 784] }];
  const outputs: TensorSpec[] = [{ name: 'label', datatype: 'BYTES', shape: [-1] }];
  const record: Pick<ModelRecord, 'input_type' | 'inputs' | 'outputs'> = { input_type: 'floats', inputs, outputs };
  const both = modelTensorSpec(record);
  assert.deepEqual(both.inputs, inputs);
  assert.deepEqual(both.outputs, outputs);
  assert.deepEqual([both.inputsDeclared, both.outputsDeclared], [true, true]);
  both.inputs[0]!.shape[1] = 1;
  assert.equal(inputs[0]!.shape[1], 784, 'the record is not changed through the result');

  const onlyOutputs = modelTensorSpec({ input_type: 'doubles', outputs });
  assert.deepEqual(onlyOutputs.inputs, [{ name: 'input0', datatype: 'FP64', shape: [-1, -1] }]);
  assert.deepEqual(onlyOutputs.outputs, outputs);
  assert.deepEqual(modelTensorSpec({ input_type: 'doubles', inputs: [] }).inputs[0]!.name, 'input0', 'an empty list is no declaration');
});

function rejects(field: 'inputs' | 'outputs', value: unknown, pattern: RegExp, type: ModelRecord['input_type'] = 'doubles'): void {
  assert.throws(
    () => checkTensorSpecs(field, value, type),
    (err: unknown) => err instanceof ClipperError && err.code === 'CLP_ERR_INVALID_ARG' && pattern.test(err.message),
    `${JSON.stringify(value)} → ${pattern}`,
  );
}

test('add_model validation accepts one well-formed tensor per side', () => {
  assert.equal(checkTensorSpecs('inputs', undefined, 'doubles'), undefined);
  assert.equal(checkTensorSpecs('inputs', null, 'doubles'), undefined);
  assert.deepEqual(checkTensorSpecs('inputs', [{ name: 'x', datatype: 'FP64', shape: [-1, 100] }], 'doubles'), [
    { name: 'x', datatype: 'FP64', shape: [-1, 100] },
  ]);
  assert.deepEqual(checkTensorSpecs('outputs', [{ name: 'y', datatype: 'BOOL', shape: [-1, 0, 3] }], 'strings'), [
    { name: 'y', datatype: 'BOOL', shape: [-1, 0, 3] },
  ]);
  for (const type of kInputTypes) {
    for (const datatype of kDatatypesByInputType[type]) {
      assert.doesNotThrow(() => checkTensorSpecs('inputs', [{ name: 'in', datatype, shape: [-1] }], type), `${type} ← ${datatype}`);
    }
  }
  assert.equal(kOipDatatypes.length, 13);
});

test('add_model validation names the field and what it expects', () => {
  rejects('inputs', {}, /^inputs must be an array of one tensor .*got Object/);
  rejects('inputs', [], /^inputs must be an array of one tensor .*got 0 entries/);
  const t = { name: 'x', datatype: 'FP64', shape: [-1] };
  rejects('outputs', [t, t], /^outputs must be an array of one tensor .*got 2 entries/);
  rejects('inputs', ['x'], /^inputs\[0\] must be an object/);
  rejects('inputs', [{ ...t, dims: [1] }], /^inputs\[0\]\.dims is not a known field/);
  rejects('inputs', [{ ...t, name: '' }], /^inputs\[0\]\.name must be a non-empty string/);
  rejects('inputs', [{ ...t, name: 'a\nb' }], /^inputs\[0\]\.name must be/);
  rejects(
    'outputs',
    [{ ...t, datatype: 'FLOAT64' }],
    /^outputs\[0\]\.datatype must be one of BOOL, UINT8, .*FP64, BYTES \(got "FLOAT64"\)/,
  );
  rejects('outputs', [{ name: 'x', shape: [-1] }], /^outputs\[0\]\.datatype must be one of .*\(got nothing\)/);
  rejects('inputs', [{ ...t, shape: [] }], /^inputs\[0\]\.shape must be an array of 1 to 16 dimensions/);
  rejects('inputs', [{ ...t, shape: '[-1]' }], /^inputs\[0\]\.shape must be an array/);
  rejects('inputs', [{ ...t, shape: [-1, -2] }], /^inputs\[0\]\.shape\[1\] must be an integer >= -1 .*\(got -2\)/);
  rejects('inputs', [{ ...t, shape: [-1, 1.5] }], /^inputs\[0\]\.shape\[1\] must be an integer/);
  rejects('inputs', [{ ...t, shape: [-1, '3'] }], /^inputs\[0\]\.shape\[1\] must be an integer .*\(got "3"\)/);
  rejects(
    'inputs',
    [{ ...t, datatype: 'BYTES' }],
    /^inputs\[0\]\.datatype BYTES cannot feed a model whose input_type is doubles \(it takes FP64, /,
  );
  rejects('inputs', [{ ...t, datatype: 'FP64' }], /input_type is integers \(it takes INT32, /, 'integers');
  rejects('inputs', [{ ...t, datatype: 'BOOL' }], /input_type is strings \(it takes BYTES\)/, 'strings');
});
