// The input and output tensors a model version's Open Inference Protocol metadata shows
// (GET /v2/models/{m}[/versions/{v}]): the ones declared at add_model (`inputs`, `outputs` on the
// model record), else ones inferred from the model's Clipper input type. Pure: the metadata route
// calls it when it builds a model's route, not per request.
//
// Inferred tensors. The first dimension is the batch: each row is one query, so it is always -1.
//   doubles  → input0 FP64  [-1, -1]  (a row is the query's vector, of any length)
//   floats   → input0 FP32  [-1, -1]
//   integers → input0 INT32 [-1, -1]
//   strings  → input0 BYTES [-1]      (a row is one utf-8 element)
//   bytes    → input0 BYTES [-1]      (a row is one element; UINT8 rows are accepted too)
//   output   → output0 FP64 [-1]      (one number per query, the common case: sum, noop, scores)
// A model's output type is not part of its record, so the inferred output is a guess: a model that
// answers arrays gives [batch, n] and one that answers strings gives BYTES. Declare `outputs` at
// add_model to describe it exactly.

import type { InputType } from '../../input_types.js';
import type { OipDatatype, TensorSpec } from '../../tensor_spec.js';

/** What the metadata needs from a model record (ModelRecord has these fields). */
export interface ModelTensorFields {
  input_type: InputType;
  inputs?: readonly TensorSpec[] | undefined;
  outputs?: readonly TensorSpec[] | undefined;
}

/** A model's tensors: one input, one output (copies: the caller may keep or change them). */
export interface ModelTensorSpec {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Whether each side was declared at add_model (false: inferred from input_type). */
  inputsDeclared: boolean;
  outputsDeclared: boolean;
}

export const kInferredInputName = 'input0';
export const kInferredOutputName = 'output0';

const kInferredInput: Readonly<Record<InputType, { datatype: OipDatatype; shape: readonly number[] }>> = {
  doubles: { datatype: 'FP64', shape: [-1, -1] },
  floats: { datatype: 'FP32', shape: [-1, -1] },
  integers: { datatype: 'INT32', shape: [-1, -1] },
  strings: { datatype: 'BYTES', shape: [-1] },
  bytes: { datatype: 'BYTES', shape: [-1] },
};

/** The tensor an input type implies when none is declared. */
export function inferredInputSpec(inputType: InputType): TensorSpec {
  const inferred = kInferredInput[inputType];
  return { name: kInferredInputName, datatype: inferred.datatype, shape: [...inferred.shape] };
}

export function inferredOutputSpec(): TensorSpec {
  return { name: kInferredOutputName, datatype: 'FP64', shape: [-1] };
}

function copyAll(specs: readonly TensorSpec[]): TensorSpec[] {
  return specs.map((s) => ({ name: s.name, datatype: s.datatype, shape: [...s.shape] }));
}

/** The declared tensors of a model record, each side falling back to the inferred one. */
export function modelTensorSpec(record: ModelTensorFields): ModelTensorSpec {
  const inputsDeclared = record.inputs !== undefined && record.inputs.length > 0;
  const outputsDeclared = record.outputs !== undefined && record.outputs.length > 0;
  return {
    inputs: inputsDeclared ? copyAll(record.inputs!) : [inferredInputSpec(record.input_type)],
    outputs: outputsDeclared ? copyAll(record.outputs!) : [inferredOutputSpec()],
    inputsDeclared,
    outputsDeclared,
  };
}
