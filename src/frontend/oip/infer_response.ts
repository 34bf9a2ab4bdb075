// An Open Inference Protocol infer response from the model's answers: each query's output is one row
// of the output tensor.
//
//   a number per row                         → FP64 [batch] (or the declared numeric datatype, when
//                                               every value fits it)
//   a boolean per row                        → BOOL [batch]
//   a string per row                         → BYTES [batch]
//   equal-shaped arrays of numbers, booleans
//   or strings (nested: rectangular)         → [batch, ...row shape], FP64 / BOOL / BYTES
//   anything else (objects, null, mixed)     → BYTES [batch], each row its output's JSON text
//
// So every answer has a tensor: no output shape is an error. Numbers per row (the common case) are
// spliced into the JSON from the answers' text, unparsed.

import type { OipDatatype } from '../../tensor_spec.js';
import { binaryBody, writeBytesElements } from './binary_body.js';
import { elementBytes, fitsDatatype, writeElement, type NumericDatatype } from './datatypes.js';

/** One output tensor's rows, typed. Exactly one of numberTexts, values and strings is set. */
export interface OutputTensor {
  readonly datatype: OipDatatype;
  readonly shape: readonly number[];
  /** Each row a JSON number's text (FP64 [batch]): spliced into the JSON as is. */
  readonly numberTexts: readonly string[] | null;
  /** Numbers (FP64 or a declared numeric datatype) or booleans (BOOL), flattened row-major. */
  readonly values: readonly (number | boolean)[] | null;
  /** BYTES elements, flattened row-major. */
  readonly strings: readonly string[] | null;
}

/** What the response reports besides the tensor. */
export interface ResponseHead {
  readonly modelName: string;
  readonly modelVersion: string | null;
  readonly id: string;
  /** The output tensor's name ('output0', or the declared one). */
  readonly outputName: string;
  /** The output datatype declared at add_model; null when none was. */
  readonly declared: OipDatatype | null;
  /** The tensor goes in the binary tensor extension, after the JSON header. */
  readonly binary: boolean;
}

export interface EncodedResponse {
  readonly body: string | Buffer;
  /** The JSON header's length (Inference-Header-Content-Length); -1 for a JSON-only response. */
  readonly headerLength: number;
}

function isNumberText(text: string): boolean {
  const c = text.charCodeAt(0);
  // Answers are valid JSON text: one that starts with '-' or a digit is a number.
  return c === 45 || (c >= 48 && c <= 57);
}

/** The output tensor of the rows' JSON texts (see the top of this file), in `declared` when it fits. */
export function outputTensor(texts: readonly string[], declared: OipDatatype | null): OutputTensor {
  const batch = texts.length;
  if (texts.every(isNumberText)) {
    if (declared === null || declared === 'FP64' || declared === 'BYTES') {
      return { datatype: 'FP64', shape: [batch], numberTexts: texts, values: null, strings: null };
    }
    return numericTensor(texts.map(Number), [batch], declared);
  }
  const parsed = texts.map((t) => JSON.parse(t) as unknown);
  const rowShape = batch === 0 ? [] : shapeOf(parsed[0]);
  const flat: unknown[] = [];
  const kind = leafKind(parsed, rowShape, flat);
  if (kind === null) {
    return { datatype: 'BYTES', shape: [batch], numberTexts: null, values: null, strings: texts };
  }
  const shape = [batch, ...rowShape];
  if (kind === 'string') return { datatype: 'BYTES', shape, numberTexts: null, values: null, strings: flat as string[] };
  if (kind === 'boolean') return { datatype: 'BOOL', shape, numberTexts: null, values: flat as boolean[], strings: null };
  return numericTensor(flat as number[], shape, declared);
}

function numericTensor(values: number[], shape: number[], declared: OipDatatype | null): OutputTensor {
  const fits = declared !== null && declared !== 'BYTES' && declared !== 'BOOL' && values.every((x) => fitsDatatype(declared, x));
  return { datatype: fits ? declared : 'FP64', shape, numberTexts: null, values, strings: null };
}

/** The shape of a row: [] for a scalar, the dimensions of a nested array (from its first entries). */
function shapeOf(value: unknown): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  return shape;
}

/**
 * Flattens every row into `out` when each has `rowShape` and all leaves are of one kind (number,
 * boolean or string); that kind, or null when they are not a tensor.
 */
function leafKind(rows: readonly unknown[], rowShape: readonly number[], out: unknown[]): 'number' | 'boolean' | 'string' | null {
  let kind: string | null = null;
  const walk = (v: unknown, depth: number): boolean => {
    if (depth === rowShape.length) {
      const k = typeof v;
      if (k !== 'number' && k !== 'boolean' && k !== 'string') return false;
      if (kind === null) kind = k;
      if (k !== kind) return false;
      out.push(v);
      return true;
    }
    if (!Array.isArray(v) || v.length !== rowShape[depth]) return false;
    for (const x of v) if (!walk(x, depth + 1)) return false;
    return true;
  };
  for (const row of rows) if (!walk(row, 0)) return null;
  // An empty row shape ([n, 0]) has no leaves: numbers, as the common case.
  return (kind ?? 'number') as 'number' | 'boolean' | 'string';
}

/** The tensor's data as a JSON array. */
export function tensorDataJson(t: OutputTensor): string {
  if (t.numberTexts !== null) return `[${t.numberTexts.join(',')}]`;
  return JSON.stringify(t.values ?? t.strings);
}

/** The tensor's data in the binary extension's layout. */
export function tensorDataBinary(t: OutputTensor): Buffer {
  if (t.strings !== null) return writeBytesElements(t.strings);
  const values = t.values ?? t.numberTexts!.map(Number);
  const dt = t.datatype as NumericDatatype;
  const size = elementBytes(dt);
  const out = Buffer.allocUnsafe(values.length * size);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    writeElement(dt, out, i * size, typeof x === 'boolean' ? (x ? 1 : 0) : x);
  }
  return out;
}

/** The whole response: JSON, or a JSON header and the tensor's bytes (head.binary). */
export function encodeInferResponse(head: ResponseHead, texts: readonly string[]): EncodedResponse {
  const t = outputTensor(texts, head.declared);
  const version = head.modelVersion === null ? '' : `,"model_version":${JSON.stringify(head.modelVersion)}`;
  const open = `{"model_name":${JSON.stringify(head.modelName)}${version},"id":${JSON.stringify(head.id)},"outputs":[{"name":${JSON.stringify(head.outputName)},"datatype":"${t.datatype}","shape":[${t.shape.join(',')}]`;
  if (!head.binary) return { body: `${open},"data":${tensorDataJson(t)}}]}`, headerLength: -1 };
  const data = tensorDataBinary(t);
  const { body, headerLength } = binaryBody(`${open},"parameters":{"binary_data_size":${data.length}}}]}`, [data]);
  return { body, headerLength };
}
