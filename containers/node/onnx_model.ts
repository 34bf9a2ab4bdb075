// An ONNX model in the Node runner (`--framework onnx`): onnxruntime-node loads the .onnx file, no
// Python involved. This file loads the session and reads what a batch needs from the model's own
// metadata (the input's name, element type and shape; the output to answer with); onnx_batch.ts
// turns a predict frame into one tensor and the output back into one answer per input.
//
// Rules (containers/PROTOCOL.md, "Framework onnx"):
// - the model has exactly one input, a tensor of float32, float64, int32 or int64; its first
//   dimension is the batch. Symbolic (or -1) → the whole batch runs as one tensor [N, ...]; a fixed
//   size B → the batch runs in chunks of B, the last one padded with zeros (their rows are dropped).
// - the other dimensions give each input's width; at most one of them may be symbolic, and it is
//   read from each input's length (inputs of different widths run as separate tensors).
// - the answer is the first tensor output, or the output named by the container's function.
// - `threads` is the session's intra-op thread count (default 1: one core per replica, scale out
//   with replicas); `device` auto (default, as for pytorch) takes onnxruntime-node's CUDA provider
//   when its library is installed and the CPU provider otherwise; cpu always the CPU; cuda requires it.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { runOnnxBatch, type InputPlan, type OnnxSession, type OrtApi } from './onnx_batch.js';
import type { WireBatch } from './model_host.js';

export interface OnnxModelSpec {
  modelPath: string;
  /** The container's function: an output's name, or the default 'predict' (the first tensor output). */
  functionName: string;
  /** The model version's input type (doubles, floats or integers). */
  inputType: string;
  threads: number;
  device: 'cpu' | 'cuda' | 'auto';
}

export const kOnnxMissing = 'framework onnx needs onnxruntime-node: npm install onnxruntime-node';
const kNumericInputTypes = new Set(['doubles', 'floats', 'integers']);
const kModelInputTypes = new Set(['float32', 'float64', 'int32', 'int64']);
/** Output element types whose JS data is not their values (packed bits). */
const kUnreadableOutputTypes = new Set(['float16', 'uint4', 'int4']);

/** The message for a failed `import('onnxruntime-node')`: the contract's text, and why when it is installed but broken. */
export function ortImportMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_MODULE_NOT_FOUND' && message.includes("'onnxruntime-node'")) return kOnnxMissing;
  return `${kOnnxMissing} (it is installed but does not load: ${message})`;
}

async function importOrt(): Promise<OrtApi> {
  try {
    const mod = (await import('onnxruntime-node')) as unknown as OrtApi & { default?: OrtApi };
    return mod.default ?? mod;
  } catch (err) {
    throw new Error(ortImportMessage(err));
  }
}

/** Whether onnxruntime-node's CUDA provider library sits beside its native binding (its install script puts it there). */
function cudaProviderInstalled(): boolean {
  try {
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    const dir = path.join(path.dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(path.join(dir, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

function sessionOptions(spec: OnnxModelSpec): InferenceSession.SessionOptions {
  const cuda = spec.device === 'cuda' || (spec.device === 'auto' && cudaProviderInstalled());
  return {
    executionProviders: cuda ? ['cuda'] : ['cpu'],
    intraOpNumThreads: spec.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Idle intra-op threads must not spin: replicas share the machine's cores.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

function shapeText(shape: ReadonlyArray<number | string>): string {
  return `[${shape.join(', ')}]`;
}

/** Reads the model's one input into an InputPlan; refuses (naming the file) what the runner cannot feed. */
export function planInput(session: OnnxSession, spec: OnnxModelSpec): InputPlan {
  const file = spec.modelPath;
  if (session.inputNames.length !== 1) {
    throw new Error(
      `ONNX model ${file} has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); ` +
        'the runner feeds exactly one input tensor [batch, ...]',
    );
  }
  const meta = session.inputMetadata[0]!;
  if (!meta.isTensor) throw new Error(`ONNX model ${file}: input '${meta.name}' is not a tensor; the runner feeds one tensor`);
  if (!kModelInputTypes.has(meta.type)) {
    throw new Error(`ONNX model ${file}: input '${meta.name}' is ${meta.type}; the runner feeds float32, float64, int32 or int64 tensors`);
  }
  const shape = meta.shape;
  if (shape.length === 0) {
    throw new Error(`ONNX model ${file}: input '${meta.name}' has no shape; export it with one whose first dimension is the batch`);
  }
  const [first, ...rest] = shape;
  const dims = rest.map((d) => (typeof d === 'number' && d >= 0 ? d : null));
  if (dims.filter((d) => d === null).length > 1) {
    throw new Error(
      `ONNX model ${file}: input '${meta.name}' has shape ${shapeText(shape)}, more than one variable dimension after the batch; ` +
        'the runner cannot tell an input’s shape from its length: fix all but one of them at export',
    );
  }
  if (dims.includes(0)) throw new Error(`ONNX model ${file}: input '${meta.name}' has an empty dimension (shape ${shapeText(shape)})`);
  const integerModel = meta.type === 'int32' || meta.type === 'int64';
  if (integerModel && spec.inputType !== 'integers') {
    throw new Error(
      `ONNX model ${file}: input '${meta.name}' is ${meta.type} but this model version takes ${spec.inputType}; ` +
        'deploy it with input type integers',
    );
  }
  return {
    name: meta.name,
    type: meta.type as InputPlan['type'],
    batchSize: typeof first === 'number' && first > 0 ? first : null,
    dims,
    shapeText: shapeText(shape),
    inputType: spec.inputType,
  };
}

/** The output to answer with: the one named by the function, else (function 'predict') the first tensor output. */
export function pickOutput(session: OnnxSession, spec: OnnxModelSpec): string {
  const file = spec.modelPath;
  const named = session.outputMetadata.find((m) => m.name === spec.functionName);
  const chosen = named ?? (spec.functionName === 'predict' ? session.outputMetadata.find((m) => m.isTensor) : undefined);
  if (chosen === undefined) {
    throw new Error(
      `ONNX model ${file} has no ${spec.functionName === 'predict' ? 'tensor ' : ''}output` +
        `${spec.functionName === 'predict' ? '' : ` named '${spec.functionName}'`} ` +
        `(its outputs: ${session.outputNames.join(', ') || 'none'}); name one as the container's function`,
    );
  }
  if (!chosen.isTensor) {
    throw new Error(
      `ONNX model ${file}: output '${chosen.name}' is not a tensor (a sequence or a map, such as a converter's ZipMap); ` +
        `name a tensor output as the container's function (its outputs: ${session.outputNames.join(', ')})`,
    );
  }
  if (kUnreadableOutputTypes.has(chosen.type)) {
    throw new Error(`ONNX model ${file}: output '${chosen.name}' is ${chosen.type}; add a Cast to float32 at export`);
  }
  return chosen.name;
}

async function createSession(ort: OrtApi, spec: OnnxModelSpec): Promise<OnnxSession> {
  const options = sessionOptions(spec);
  try {
    return await ort.InferenceSession.create(spec.modelPath, options);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const cuda = options.executionProviders?.[0] === 'cuda';
    throw new Error(
      `cannot load ONNX model ${spec.modelPath}: ${why}` +
        (cuda ? " (device cuda needs onnxruntime-node's CUDA provider, which its install script downloads; use device cpu)" : ''),
    );
  }
}

/** Loads `spec.modelPath`; resolves to the function that answers one predict frame. */
export async function loadOnnxModel(spec: OnnxModelSpec): Promise<(batch: WireBatch) => Promise<unknown[]>> {
  if (!kNumericInputTypes.has(spec.inputType)) {
    throw new Error(`framework onnx takes doubles, floats or integers; this model version's input type is ${spec.inputType}`);
  }
  const ort = await importOrt();
  const session = await createSession(ort, spec);
  const plan = planInput(session, spec);
  const output = pickOutput(session, spec);
  const context = { ort, session, plan, output };
  return (batch) => runOnnxBatch(context, batch);
}
