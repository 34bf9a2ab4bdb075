// One predict frame through an ONNX session (framework onnx, loaded by onnx_model.ts): the frame's
// `data` bytes become one tensor [rows, ...input dims] without a JS number array (a typed-array view
// when the element types agree, else one conversion pass), and each row of the chosen output becomes
// one input's answer (a number for a [batch] output, an array for [batch, k], nested arrays beyond).

import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { WireBatch } from './model_host.js';

/** The part of onnxruntime-node the runner uses (the module, or its default export under ESM). */
export interface OrtApi {
  InferenceSession: { create(path: string, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}
export type OnnxSession = InferenceSession;

/** What a batch needs to know about the model's one input (onnx_model.ts planInput reads it). */
export interface InputPlan {
  name: string;
  type: 'float32' | 'float64' | 'int32' | 'int64';
  /** The fixed first dimension, or null when the batch dimension is variable. */
  batchSize: number | null;
  /** The dimensions after the batch; null marks the (single) variable one. */
  dims: Array<number | null>;
  shapeText: string;
  /** The model version's input type: every frame must carry it. */
  inputType: string;
}

type SourceArray = Float64Array | Float32Array | Int32Array;
type ModelArray = Float64Array | Float32Array | Int32Array | BigInt64Array;

/** The frame's numbers as a typed-array view (copied once only when `data` is not aligned for it). */
function sourceView(data: Uint8Array, type: string): SourceArray {
  const width = type === 'doubles' ? 8 : 4;
  // A copy only when misaligned (new Uint8Array(view) copies; a Buffer's slice() would not).
  const bytes = data.byteOffset % width === 0 ? data : new Uint8Array(data);
  const count = bytes.length / width;
  if (type === 'doubles') return new Float64Array(bytes.buffer, bytes.byteOffset, count);
  if (type === 'floats') return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  return new Int32Array(bytes.buffer, bytes.byteOffset, count);
}

/** The numbers in the model's element type: the same view when they agree, else one typed conversion. */
function toModelType(source: SourceArray, type: InputPlan['type']): ModelArray {
  switch (type) {
    case 'float32':
      return source instanceof Float32Array ? source : new Float32Array(source);
    case 'float64':
      return source instanceof Float64Array ? source : new Float64Array(source);
    case 'int32':
      return source; // planInput allows integer models only for integers
    case 'int64': {
      const out = new BigInt64Array(source.length);
      for (let i = 0; i < source.length; i++) out[i] = BigInt(source[i]!);
      return out;
    }
  }
}

function emptyLike(values: ModelArray, length: number): ModelArray {
  if (values instanceof Float64Array) return new Float64Array(length);
  if (values instanceof Float32Array) return new Float32Array(length);
  if (values instanceof Int32Array) return new Int32Array(length);
  return new BigInt64Array(length);
}

/** Checks the frame (peer input: checked before anything is allocated for `n`); returns its numbers and widths. */
function framePayload(batch: WireBatch, plan: InputPlan): { values: ModelArray; lens: number[] } {
  const n: unknown = batch.n;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new Error('predict frame has an invalid input count n');
  if (batch.type !== plan.inputType)
    throw new Error(`predict frame carries ${String(batch.type)}; this model version takes ${plan.inputType}`);
  const data: unknown = batch.data ?? new Uint8Array(0);
  const lens: unknown = batch.lens ?? [];
  if (!(data instanceof Uint8Array) || !Array.isArray(lens)) throw new Error('predict frame data must be bytes and lens an array');
  if (lens.length !== n) throw new Error(`predict frame has ${lens.length} lens for ${n} inputs`);
  let total = 0;
  for (const len of lens) {
    if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 0)
      throw new Error('predict frame lens must be non-negative integers');
    total += len;
  }
  const width = plan.inputType === 'doubles' ? 8 : 4;
  if (total * width !== data.length) throw new Error(`predict frame data has ${data.length} bytes, lens describe ${total * width}`);
  return { values: toModelType(sourceView(data, plan.inputType), plan.type), lens: lens as number[] };
}

/** The dimensions of one input of `width` values, or why it does not fit the model's input. */
function rowDims(plan: InputPlan, width: number, index: number): number[] {
  const fixed = plan.dims.reduce<number>((p, d) => p * (d ?? 1), 1);
  const variable = plan.dims.includes(null);
  if (variable ? width > 0 && width % fixed === 0 : width === fixed) return plan.dims.map((d) => d ?? width / fixed);
  throw new Error(
    `input ${index} has ${width} values; model input '${plan.name}' takes ${variable ? `a multiple of ${fixed}` : fixed} ` +
      `per input (shape ${plan.shapeText}, the first dimension is the batch)`,
  );
}

/** A JS value for an output element: int64 as a number when exact, else its decimal text. */
function plainBigInt(v: bigint): number | string {
  const asNumber = Number(v);
  return Number.isSafeInteger(asNumber) ? asNumber : v.toString();
}

function plainValues(out: Tensor, start: number, end: number): unknown[] {
  const data = out.data;
  if (Array.isArray(data)) return data.slice(start, end); // string tensor
  const part = (data as Exclude<Tensor['data'], string[]>).subarray(start, end);
  if (out.type === 'bool') return Array.from(part as Uint8Array, (v) => v !== 0);
  if (part instanceof BigInt64Array || part instanceof BigUint64Array) return Array.from(part, plainBigInt);
  return Array.from(part as ArrayLike<number>);
}

function nest(flat: unknown[], dims: readonly number[], offset: number): unknown[] {
  const [size, ...rest] = dims;
  if (rest.length === 0) return flat.slice(offset, offset + size!);
  const step = rest.reduce((p, d) => p * d, 1);
  const out: unknown[] = new Array(size!);
  for (let i = 0; i < size!; i++) out[i] = nest(flat, rest, offset + i * step);
  return out;
}

/** Row `row` of an output tensor [rows, ...]: a scalar for [rows], else (nested) arrays. */
function outputRow(out: Tensor, row: number): unknown {
  const rest = out.dims.slice(1);
  const size = rest.reduce((p, d) => p * d, 1);
  const flat = plainValues(out, row * size, (row + 1) * size);
  return rest.length === 0 ? flat[0] : nest(flat, rest, 0);
}

interface Group {
  /** The inputs' indices in the frame, or null for all of them in order (their numbers are contiguous). */
  indices: number[] | null;
  count: number;
  width: number;
  dims: number[];
}

/** Inputs of one width run as one tensor; a frame whose inputs all have one width is one group. */
function groupsOf(plan: InputPlan, lens: number[]): { groups: Group[]; starts: number[] } {
  const first = lens[0] ?? 0;
  if (lens.every((w) => w === first)) {
    return { groups: [{ indices: null, count: lens.length, width: first, dims: rowDims(plan, first, 0) }], starts: [] };
  }
  const starts: number[] = new Array(lens.length);
  const byWidth = new Map<number, Group>();
  let offset = 0;
  lens.forEach((width, i) => {
    starts[i] = offset;
    offset += width;
    let group = byWidth.get(width);
    if (group === undefined) {
      group = { indices: [], count: 0, width, dims: rowDims(plan, width, i) };
      byWidth.set(width, group);
    }
    group.indices!.push(i);
    group.count++;
  });
  return { groups: [...byWidth.values()], starts };
}

/** The numbers of rows [from, from + count) of a group, in a tensor of `rows` rows (zeros past count). */
function chunkValues(values: ModelArray, group: Group, starts: number[], from: number, count: number, rows: number): ModelArray {
  const w = group.width;
  if (group.indices === null && count === rows) return values.subarray(from * w, (from + count) * w);
  const out = emptyLike(values, rows * w);
  for (let k = 0; k < count; k++) {
    const start = group.indices === null ? (from + k) * w : starts[group.indices[from + k]!]!;
    out.set(values.subarray(start, start + w) as never, k * w);
  }
  return out;
}

export interface BatchContext {
  ort: OrtApi;
  session: OnnxSession;
  plan: InputPlan;
  output: string;
}

async function runGroup(ctx: BatchContext, values: ModelArray, group: Group, starts: number[], outputs: unknown[]): Promise<void> {
  const chunk = ctx.plan.batchSize ?? group.count;
  for (let from = 0; from < group.count; from += chunk) {
    const count = Math.min(chunk, group.count - from);
    const data = chunkValues(values, group, starts, from, count, chunk);
    const tensor = new ctx.ort.Tensor(ctx.plan.type, data, [chunk, ...group.dims]);
    let result: InferenceSession.ReturnType;
    try {
      result = await ctx.session.run({ [ctx.plan.name]: tensor }, [ctx.output]);
    } catch (err) {
      throw new Error(`ONNX Runtime failed on this batch: ${err instanceof Error ? err.message : String(err)}`);
    }
    const out = result[ctx.output] as Tensor;
    if (out.dims.length === 0 || out.dims[0] !== chunk) {
      throw new Error(
        `model output '${ctx.output}' has shape [${out.dims.join(', ')}] for ${chunk} rows in; ` +
          'the runner needs one row per input (the first dimension is the batch)',
      );
    }
    for (let k = 0; k < count; k++) outputs[group.indices === null ? from + k : group.indices[from + k]!] = outputRow(out, k);
    tensor.dispose();
  }
}

/** Runs one predict frame; resolves to one answer per input, in input order. */
export async function runOnnxBatch(ctx: BatchContext, batch: WireBatch): Promise<unknown[]> {
  const { values, lens } = framePayload(batch, ctx.plan);
  const outputs: unknown[] = new Array(lens.length);
  if (lens.length === 0) return outputs;
  const { groups, starts } = groupsOf(ctx.plan, lens);
  for (const group of groups) await runGroup(ctx, values, group, starts, outputs);
  return outputs;
}
