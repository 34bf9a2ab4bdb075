// An input tensor as the model's queries: the first dimension is the batch, each row one query of
// the model's Clipper input type. Which datatypes feed which type is tensor_spec.ts's table
// (kDatatypesByInputType): JSON numeric rows become number[] (converted to the model's type on the
// ring), BYTES elements become strings (utf-8) or bytes, UINT8 rows become bytes. A binary numeric
// tensor becomes ONE typed array of the model's element type (PackedNumbers: float64, float32 or
// int32), its rows subarray views of it: one copy out of the body when the datatype is the model's
// element type (FP64 doubles, FP32 floats, INT32 integers), else one native conversion; no JS number
// per element. The copy is needed anyway: the body is uWS's buffer, and a query may be re-sent after
// the request's handler returns.

import { kLittleEndianHost, type InputType, type PackedNumbers } from '../../input_types.js';
import type { QueryInput } from '../../query/query_processor.js';
import { kDatatypesByInputType, type TensorSpec } from '../../tensor_spec.js';
import { readBytesElements } from './binary_body.js';
import { elementBytes, elementReader, jsonNumbers, jsonStrings, validBinaryElement, type NumericDatatype } from './datatypes.js';
import type { InputTensor } from './infer_request.js';
import { oipInvalid } from './oip_errors.js';

/** What tensorRows needs of the model: its name and type (messages), its declared input if any. */
export interface RowsTarget {
  readonly name: string;
  readonly inputType: InputType;
  /** The input tensor declared at add_model; null when none was (any name, shape and datatype admitted). */
  readonly declared: TensorSpec | null;
}

/** The tensor's rows as queries for `target`; a 400 naming `at` (e.g. "inputs[0] ('x')") otherwise. */
export function tensorRows(t: InputTensor, target: RowsTarget, at: string): QueryInput[] {
  const allowed = kDatatypesByInputType[target.inputType];
  if (!allowed.includes(t.datatype)) {
    throw oipInvalid(
      `${at}.datatype ${t.datatype} cannot feed '${target.name}', which takes ${target.inputType} (send ${allowed.join(', ')})`,
    );
  }
  if (target.declared !== null) checkDeclared(t, target.declared, at);
  const batch = t.shape[0]!;
  let rowElems = 1;
  for (let i = 1; i < t.shape.length; i++) rowElems *= t.shape[i]!;
  if (t.datatype === 'BYTES') return bytesRows(t, target, rowElems, at);
  const dt = t.datatype;
  if (target.inputType === 'bytes') return uint8Rows(t, batch, rowElems, at);
  if (t.binary !== null) return binaryNumberRows(dt, t.binary, target.inputType, batch, rowElems, at);
  const values = jsonNumbers(dt, t.data!, `${at}.data`);
  if (batch === 1) return [values];
  const rows = new Array<number[]>(batch);
  for (let r = 0; r < batch; r++) rows[r] = values.slice(r * rowElems, (r + 1) * rowElems);
  return rows;
}

function checkDeclared(t: InputTensor, spec: TensorSpec, at: string): void {
  if (t.name !== spec.name) throw oipInvalid(`${at}.name must be the model's input '${spec.name}'`);
  if (t.datatype !== spec.datatype) throw oipInvalid(`${at}.datatype must be ${spec.datatype}, the model's declared input datatype`);
  const fits = t.shape.length === spec.shape.length && spec.shape.every((d, i) => d === -1 || d === t.shape[i]);
  if (!fits) throw oipInvalid(`${at}.shape [${t.shape.join(',')}] does not fit the model's declared shape [${spec.shape.join(',')}]`);
}

/** One BYTES element per row: a string (utf-8) for a strings model, bytes for a bytes model. */
function bytesRows(t: InputTensor, target: RowsTarget, rowElems: number, at: string): QueryInput[] {
  if (rowElems !== 1) {
    throw oipInvalid(`${at}.shape [${t.shape.join(',')}]: a ${target.inputType} model takes one BYTES element per row, not ${rowElems}`);
  }
  const strings = target.inputType === 'strings';
  if (t.binary === null) {
    const texts = jsonStrings(t.data!, `${at}.data`);
    return strings ? texts : texts.map((s) => Buffer.from(s, 'utf8'));
  }
  const elements = readBytesElements(t.binary, t.count, at);
  return elements.map((e) => (strings ? e.toString('utf8') : Buffer.from(e)));
}

/** UINT8 rows for a bytes model: each row's elements are its bytes. */
function uint8Rows(t: InputTensor, batch: number, rowElems: number, at: string): Buffer[] {
  const rows = new Array<Buffer>(batch);
  if (t.binary !== null) {
    for (let r = 0; r < batch; r++) rows[r] = Buffer.from(t.binary.subarray(r * rowElems, (r + 1) * rowElems));
    return rows;
  }
  const values = jsonNumbers('UINT8', t.data!, `${at}.data`);
  for (let r = 0; r < batch; r++) rows[r] = Buffer.from(values.slice(r * rowElems, (r + 1) * rowElems));
  return rows;
}

type PackedConstructor = Float64ArrayConstructor | Float32ArrayConstructor | Int32ArrayConstructor;
type NativeConstructor = PackedConstructor | Int16ArrayConstructor | Int8ArrayConstructor;
type NativeArray = InstanceType<NativeConstructor> | Uint32Array | Uint16Array | Uint8Array;

/** Datatypes a typed array holds as they are (little-endian hosts): read with one aligned copy. */
const kNativeArrays: Partial<
  Record<NumericDatatype, NativeConstructor | Uint32ArrayConstructor | Uint16ArrayConstructor | Uint8ArrayConstructor>
> = {
  FP64: Float64Array,
  FP32: Float32Array,
  INT32: Int32Array,
  UINT32: Uint32Array,
  INT16: Int16Array,
  UINT16: Uint16Array,
  INT8: Int8Array,
  UINT8: Uint8Array,
};

/**
 * Numeric rows of the binary tensor: views of one typed array of the model's element type; NaN,
 * ±Infinity and BOOL bytes other than 0/1 are refused.
 */
function binaryNumberRows(
  dt: NumericDatatype,
  bytes: Buffer,
  type: InputType,
  batch: number,
  rowElems: number,
  at: string,
): PackedNumbers[] {
  const make: PackedConstructor = type === 'doubles' ? Float64Array : type === 'floats' ? Float32Array : Int32Array;
  const native = kLittleEndianHost ? kNativeArrays[dt] : undefined;
  let all: PackedNumbers;
  if (native !== undefined) {
    const source: NativeArray = new native(bytes.length / native.BYTES_PER_ELEMENT);
    new Uint8Array(source.buffer).set(bytes);
    if (dt === 'FP64' || dt === 'FP32') checkElements(dt, source, at);
    all = source instanceof make ? source : new make(source);
  } else {
    all = new make(bytes.length / elementBytes(dt));
    readElements(dt, bytes, all, at);
  }
  const rows = new Array<PackedNumbers>(batch);
  for (let r = 0; r < batch; r++) rows[r] = all.subarray(r * rowElems, (r + 1) * rowElems);
  return rows;
}

/** Each element is one a model takes (finite); a 400 naming the first that is not. */
function checkElements(dt: NumericDatatype, values: ArrayLike<number>, at: string): void {
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!validBinaryElement(dt, x)) throw oipInvalid(`${at}: element ${i} is ${x}, not a ${dt} value a model takes`);
  }
}

/** Datatypes no typed array holds as numbers (FP16, INT64, UINT64, BOOL; any on a big-endian host), element by element. */
function readElements(dt: NumericDatatype, bytes: Buffer, out: PackedNumbers, at: string): void {
  const read = elementReader(dt);
  const size = elementBytes(dt);
  for (let i = 0; i < out.length; i++) {
    const x = read(bytes, i * size);
    if (!validBinaryElement(dt, x)) throw oipInvalid(`${at}: element ${i} is ${x}, not a ${dt} value a model takes`);
    out[i] = x;
  }
}
