// An Open Inference Protocol infer request, parsed and checked against itself (not yet against a
// model: tensor_rows.ts does that):
//
//   {"id"?, "parameters"?: {"timeout"?, "priority"?, "binary_data_output"?},
//    "inputs": [{"name", "shape", "datatype", "parameters"?: {"binary_data_size"?}, "data"?}],
//    "outputs"?: [{"name", "parameters"?: {"binary_data"?}}]}
//
// `data` is row-major, flat or nested (nested levels must match the shape's leading dimensions);
// the shape's product must equal the element count. With the binary tensor extension an input has
// `binary_data_size` instead of `data`, and its bytes follow the JSON header in input order. Every
// error is a 400 naming the field.

import { isOipDatatype, kTensorRankMax, type OipDatatype } from '../../tensor_spec.js';
import { describe, elementBytes } from './datatypes.js';
import { oipInvalid } from './oip_errors.js';

export interface InputTensor {
  readonly name: string;
  readonly datatype: OipDatatype;
  /** At least one dimension; the first is the batch. */
  readonly shape: readonly number[];
  /** Elements: the product of the shape. */
  readonly count: number;
  /** The `data` elements flattened row-major, or null when the tensor is binary. */
  readonly data: readonly unknown[] | null;
  /** The tensor's bytes (binary extension), or null. A view of the body: valid while it is. */
  readonly binary: Buffer | null;
}

export interface RequestedOutput {
  readonly name: string;
  /** `parameters.binary_data`; null when not given (the request's binary_data_output decides). */
  readonly binary: boolean | null;
}

export interface InferRequest {
  readonly id: string | null;
  /** `parameters.timeout`, µs; null: the route's deadline. */
  readonly timeoutMicros: number | null;
  /** `parameters.priority` as Triton counts it (1 the highest, 0 the default); null when absent. */
  readonly priority: number | null;
  readonly inputs: readonly InputTensor[];
  /** The outputs asked for; null: every output, as JSON unless binaryOutput. */
  readonly outputs: readonly RequestedOutput[] | null;
  /** `parameters.binary_data_output`: every output in binary unless it says otherwise. */
  readonly binaryOutput: boolean;
}

/**
 * The request from its parsed JSON header and the bytes after it (null without the binary
 * extension). `timeoutMicrosMax` bounds `parameters.timeout`.
 */
export function readInferRequest(json: unknown, binary: Buffer | null, timeoutMicrosMax: number): InferRequest {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw oipInvalid('the request must be a JSON object');
  const body = json as Record<string, unknown>;
  if (body.id !== undefined && typeof body.id !== 'string') throw oipInvalid(`id must be a string, got ${describe(body.id)}`);
  const params = objectOrEmpty(body.parameters, 'parameters');
  const list = body.inputs;
  if (!Array.isArray(list) || list.length === 0) throw oipInvalid(`inputs must be a non-empty array, got ${describe(list)}`);
  const cursor: BinaryCursor = { binary, offset: 0 };
  const inputs = list.map((value, i) => readInput(value, `inputs[${i}]`, cursor));
  if (binary !== null && cursor.offset !== binary.length) {
    throw oipInvalid(
      `the inputs' parameters.binary_data_size add up to ${cursor.offset} bytes, but ${binary.length} bytes follow the JSON header (Inference-Header-Content-Length)`,
    );
  }
  return {
    id: (body.id as string | undefined) ?? null,
    timeoutMicros: readTimeout(params.timeout, timeoutMicrosMax),
    priority: readPriority(params.priority),
    inputs,
    outputs: readOutputs(body.outputs),
    binaryOutput: readFlag(params.binary_data_output, 'parameters.binary_data_output') ?? false,
  };
}

interface BinaryCursor {
  readonly binary: Buffer | null;
  offset: number;
}

function readInput(value: unknown, where: string, cursor: BinaryCursor): InputTensor {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw oipInvalid(`${where} must be an object, got ${describe(value)}`);
  const t = value as Record<string, unknown>;
  if (typeof t.name !== 'string' || t.name === '') throw oipInvalid(`${where}.name must be a non-empty string, got ${describe(t.name)}`);
  const at = `${where} ('${t.name}')`;
  if (!isOipDatatype(t.datatype)) throw oipInvalid(`${at}.datatype must be one of the protocol's datatypes, got ${describe(t.datatype)}`);
  const datatype = t.datatype;
  const shape = readShape(t.shape, at);
  const count = shapeProduct(shape);
  const size = objectOrEmpty(t.parameters, `${at}.parameters`).binary_data_size;
  if (size === undefined) {
    if (t.data === undefined) throw oipInvalid(`${at} has neither data nor parameters.binary_data_size`);
    return { name: t.name, datatype, shape, count, data: flattenData(t.data, shape, count, at), binary: null };
  }
  if (t.data !== undefined) throw oipInvalid(`${at} has both data and parameters.binary_data_size`);
  const binary = takeBinary(cursor, size, at);
  const bytes = elementBytes(datatype);
  if (bytes > 0 && binary.length !== count * bytes) {
    throw oipInvalid(
      `${at}.parameters.binary_data_size is ${binary.length} bytes, but shape [${shape.join(',')}] of ${datatype} takes ${count * bytes}`,
    );
  }
  return { name: t.name, datatype, shape, count, data: null, binary };
}

function takeBinary(cursor: BinaryCursor, size: unknown, at: string): Buffer {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
    throw oipInvalid(`${at}.parameters.binary_data_size must be a non-negative integer, got ${describe(size)}`);
  }
  const binary = cursor.binary;
  if (binary === null) {
    throw oipInvalid(`${at}.parameters.binary_data_size is set, but the request has no Inference-Header-Content-Length header`);
  }
  const end = cursor.offset + size;
  if (end > binary.length) {
    throw oipInvalid(
      `${at}.parameters.binary_data_size of ${size} bytes runs past the end of the body (${binary.length - cursor.offset} binary bytes left)`,
    );
  }
  const slice = binary.subarray(cursor.offset, end);
  cursor.offset = end;
  return slice;
}

function readShape(value: unknown, at: string): number[] {
  // Bounded rank: nested data is flattened one level per dimension.
  if (!Array.isArray(value) || value.length === 0 || value.length > kTensorRankMax) {
    throw oipInvalid(`${at}.shape must be an array of 1 to ${kTensorRankMax} dimensions (the first is the batch), got ${describe(value)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const d: unknown = value[i];
    // A row dimension of 0 would let a shape name any number of empty rows with no data to back them.
    const min = i === 0 ? 0 : 1;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < min) {
      throw oipInvalid(`${at}.shape[${i}] must be an integer >= ${min}, got ${describe(d)}`);
    }
  }
  return value as number[];
}

export function shapeProduct(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `data` as a flat array of `count` elements; nested levels must match the shape's dimensions. */
function flattenData(data: unknown, shape: readonly number[], count: number, at: string): unknown[] {
  if (!Array.isArray(data)) throw oipInvalid(`${at}.data must be an array, got ${describe(data)}`);
  let flat: unknown[] = data;
  if (data.length > 0 && Array.isArray(data[0])) {
    flat = [];
    flattenLevel(data, shape, 0, flat, `${at}.data`);
  }
  if (flat.length !== count) {
    throw oipInvalid(`${at}: shape [${shape.join(',')}] holds ${count} elements, but data has ${flat.length}`);
  }
  return flat;
}

function flattenLevel(level: unknown[], shape: readonly number[], depth: number, out: unknown[], where: string): void {
  const nested = level.length > 0 && Array.isArray(level[0]);
  if (!nested) {
    // A level of elements holds the rest of the shape, row-major.
    for (const x of level) {
      if (Array.isArray(x)) throw oipInvalid(`${where} mixes arrays and elements at one level`);
      out.push(x);
    }
    return;
  }
  if (depth >= shape.length || level.length !== shape[depth]) {
    throw oipInvalid(`${where} has ${level.length} entries at nesting level ${depth}, but the shape is [${shape.join(',')}]`);
  }
  const rowCount = shapeProduct(shape.slice(depth + 1));
  for (let i = 0; i < level.length; i++) {
    const inner: unknown = level[i];
    if (!Array.isArray(inner)) throw oipInvalid(`${where}[${i}] must be an array like its siblings, got ${describe(inner)}`);
    const before = out.length;
    flattenLevel(inner, shape, depth + 1, out, `${where}[${i}]`);
    if (out.length - before !== rowCount) {
      throw oipInvalid(`${where}[${i}] holds ${out.length - before} elements, but the shape [${shape.join(',')}] puts ${rowCount} there`);
    }
  }
}

function readTimeout(value: unknown, max: number): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw oipInvalid(`parameters.timeout must be an integer number of microseconds from 1 to ${max}, got ${describe(value)}`);
  }
  return value;
}

function readPriority(value: unknown): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw oipInvalid(`parameters.priority must be a non-negative integer (1 is the highest, 0 the default), got ${describe(value)}`);
  }
  return value;
}

function readOutputs(value: unknown): RequestedOutput[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) throw oipInvalid(`outputs must be an array, got ${describe(value)}`);
  return value.map((o: unknown, i) => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw oipInvalid(`outputs[${i}] must be an object, got ${describe(o)}`);
    const out = o as Record<string, unknown>;
    if (typeof out.name !== 'string' || out.name === '') {
      throw oipInvalid(`outputs[${i}].name must be a non-empty string, got ${describe(out.name)}`);
    }
    const binary = readFlag(objectOrEmpty(out.parameters, `outputs[${i}].parameters`).binary_data, `outputs[${i}].parameters.binary_data`);
    return { name: out.name, binary };
  });
}

function readFlag(value: unknown, where: string): boolean | null {
  if (value === undefined) return null;
  if (typeof value !== 'boolean') throw oipInvalid(`${where} must be true or false, got ${describe(value)}`);
  return value;
}

function objectOrEmpty(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw oipInvalid(`${where} must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}
