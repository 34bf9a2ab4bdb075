// Fuzz properties of the Open Inference Protocol's infer bodies: JSON, and a JSON header followed by
// binary tensors (Inference-Header-Content-Length), through the functions infer.ts calls in order.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { splitInferBody, writeBytesElements } from '../../src/frontend/oip/binary_body.js';
import { elementBytes, writeElement, type NumericDatatype } from '../../src/frontend/oip/datatypes.js';
import { readInferRequest, type InputTensor } from '../../src/frontend/oip/infer_request.js';
import type { QueryInput } from '../../src/query/query_processor.js';
import { tensorRows } from '../../src/frontend/oip/tensor_rows.js';
import { parseJsonBody } from '../../src/http/http_util.js';
import type { InputType } from '../../src/input_types.js';
import { kDatatypesByInputType, type OipDatatype, type TensorSpec } from '../../src/tensor_spec.js';
import { kInputTypes, mutateObject, mutateText, nastyString, withInvalidUtf8 } from './arbitraries.js';
import { check, parseOrReject } from './fuzz_checks.js';
import { syncProperty, type FuzzProperty } from './fuzz_property.js';

const kTimeoutMicrosMax = 60_000_000;

export interface InferCase {
  readonly t: InputType;
  readonly body: Buffer;
  /** The Inference-Header-Content-Length header ('' when absent). */
  readonly headerLength: string;
  /** The model's declared input, or null. */
  readonly declared: TensorSpec | null;
  /** Rows a valid request must parse to; null for a mutated one. */
  readonly rows: number | null;
}

interface ValidTensor {
  readonly t: InputType;
  readonly datatype: OipDatatype;
  readonly batch: number;
  readonly width: number;
  readonly values: Array<number | string>;
}

const validTensor: fc.Arbitrary<ValidTensor> = fc.constantFrom(...kInputTypes).chain((t) =>
  fc
    .tuple(fc.constantFrom(...kDatatypesByInputType[t]), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 4 }))
    .chain(([dt, batch, w]) => {
      const width = dt === 'BYTES' ? 1 : w;
      const element = dt === 'BYTES' ? fc.string({ maxLength: 12 }) : fc.integer({ min: 0, max: 100 });
      return fc
        .array(element as fc.Arbitrary<number | string>, { minLength: batch * width, maxLength: batch * width })
        .map((values) => ({ t, datatype: dt, batch, width, values }));
    }),
);

function tensorBytes(v: ValidTensor): Buffer {
  if (v.datatype === 'BYTES') return writeBytesElements(v.values as string[]);
  const dt = v.datatype as NumericDatatype;
  const size = elementBytes(dt);
  const out = Buffer.alloc(v.values.length * size);
  for (let i = 0; i < v.values.length; i++) writeElement(dt, out, i * size, v.values[i] as number);
  return out;
}

function header(v: ValidTensor, binary: boolean, nested: boolean): Record<string, unknown> {
  const shape = [v.batch, v.width];
  const input: Record<string, unknown> = { name: 'x', shape, datatype: v.datatype };
  if (binary) input.parameters = { binary_data_size: tensorBytes(v).length };
  else if (nested && v.batch > 0) input.data = Array.from({ length: v.batch }, (_, r) => v.values.slice(r * v.width, (r + 1) * v.width));
  else input.data = v.values;
  return { id: 'r', inputs: [input], parameters: { timeout: 10_000_000 } };
}

const validCase: fc.Arbitrary<InferCase> = fc
  .tuple(validTensor, fc.boolean(), fc.boolean(), fc.boolean())
  .map(([v, binary, nested, declare]) => {
    const json = Buffer.from(JSON.stringify(header(v, binary, nested)));
    const declared: TensorSpec | null = declare ? { name: 'x', datatype: v.datatype, shape: [-1, v.width] } : null;
    if (!binary) return { t: v.t, body: json, headerLength: '', declared, rows: v.batch };
    return { t: v.t, body: Buffer.concat([json, tensorBytes(v)]), headerLength: String(json.length), declared, rows: v.batch };
  });

const headerLength = fc.oneof(
  fc.constant(''),
  fc.nat(400).map(String),
  fc.constantFrom('-1', '1e3', ' 10', '0x10', '999999999999999', '9999999999999999999', 'abc', '+5', '5 '),
);

const mutatedCase: fc.Arbitrary<InferCase> = fc
  .tuple(validTensor, fc.boolean(), fc.nat(3), headerLength, fc.uint8Array({ maxLength: 64 }), nastyString)
  .chain(([v, binary, how, length, tail, text]) => {
    const base = fc.constant(header(v, binary, false));
    const bodies: fc.Arbitrary<Buffer>[] = [
      mutateObject(base).map((o) => Buffer.from(JSON.stringify(o) ?? '')),
      mutateText(base.map((o) => JSON.stringify(o))).map((s) => Buffer.from(s)),
      withInvalidUtf8(base.map((o) => JSON.stringify(o))),
      fc.constant(Buffer.from(text)),
    ];
    return bodies[how]!.map((json) => {
      const body = Buffer.concat([json, Buffer.from(tail)]);
      const hl = length === '' && binary ? String(json.length) : length;
      return { t: v.t, body, headerLength: hl, declared: null, rows: null };
    });
  });

function inferCase(c: InferCase): void {
  const split = parseOrReject('splitInferBody', () => splitInferBody(c.body, c.headerLength));
  if (split === null) return check(c.rows === null, `a valid infer body was refused by splitInferBody`);
  const request = parseOrReject('readInferRequest', () => readInferRequest(parseJsonBody(split.header), split.binary, kTimeoutMicrosMax));
  if (request === null) return check(c.rows === null, 'a valid infer request was refused by readInferRequest');
  for (let i = 0; i < request.inputs.length; i++) {
    const input: InputTensor = request.inputs[i]!;
    const rows: QueryInput[] | null = parseOrReject('tensorRows', () =>
      tensorRows(input, { name: 'm', inputType: c.t, declared: c.declared }, `inputs[${i}]`),
    );
    if (rows === null) check(c.rows === null, 'a valid tensor was refused by tensorRows');
    else if (c.rows !== null) assert.equal(rows.length, c.rows);
    if (rows !== null) check(rows.length === input.shape[0], 'one query per row of the batch dimension');
  }
}

/** Infer requests: valid ones (JSON or binary) and mutated ones, with their header length. */
export const inferCaseArb: fc.Arbitrary<InferCase> = fc.oneof({ weight: 1, arbitrary: validCase }, { weight: 3, arbitrary: mutatedCase });

const inferBodies = syncProperty('oip_infer_body', 'oip', 6, inferCaseArb, inferCase);

export const kOipProperties: readonly FuzzProperty[] = [inferBodies];
