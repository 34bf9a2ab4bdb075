// Tensor descriptions of the Open Inference Protocol (KServe V2): the datatypes, and the
// {name, datatype, shape} triple a model version may declare for its input and output at add_model.
// Here, beside input_types.ts, because the state records, the management API's validation and the
// OIP codec all read them, and none of those may import the others.

import type { InputType } from './input_types.js';

/** Every tensor datatype of the protocol, in the spec's order. */
export const kOipDatatypes = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

export type OipDatatype = (typeof kOipDatatypes)[number];

export function isOipDatatype(value: unknown): value is OipDatatype {
  return typeof value === 'string' && (kOipDatatypes as readonly string[]).includes(value);
}

/**
 * One tensor as a model's metadata describes it. `shape` includes the batch dimension first;
 * -1 marks a dimension of variable size (the batch dimension is always variable).
 */
/** The most dimensions a tensor may have (declared or in a request): bounds the work a shape can ask for. */
export const kTensorRankMax = 16;

export interface TensorSpec {
  name: string;
  datatype: OipDatatype;
  shape: number[];
}

/**
 * The datatypes a request may send to a model of each Clipper input type (each row of the tensor
 * becomes one query and is converted to the model's type): every real and integer type to doubles,
 * FP32 and narrower to floats, 32-bit and narrower integers to integers, UINT8 rows or BYTES
 * elements to bytes, BYTES (utf-8) to strings. BOOL feeds no model (Clipper has no boolean input).
 */
export const kDatatypesByInputType: Readonly<Record<InputType, readonly OipDatatype[]>> = {
  doubles: ['FP64', 'FP32', 'FP16', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64'],
  floats: ['FP32', 'FP16'],
  integers: ['INT32', 'INT16', 'INT8', 'UINT16', 'UINT8'],
  bytes: ['BYTES', 'UINT8'],
  strings: ['BYTES'],
};
