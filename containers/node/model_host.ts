// Loads a model and runs predict on a predict frame's inputs: a user's JS module (framework node:
// its function gets decoded inputs) or an .onnx file (framework onnx, onnx_model.ts). Used by
// runner.ts either inline (on the runner's own thread) or inside a worker thread (isolate=thread), so
// that a model that computes synchronously for long cannot stop the runner's heartbeats.

import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { loadOnnxModel } from './onnx_model.js';

export type ModelInput = Float64Array | Float32Array | Int32Array | string | Uint8Array;
export type PredictFn = (inputs: ModelInput[]) => unknown[] | Promise<unknown[]>;

export interface WireBatch {
  type: string;
  n: number;
  lens?: number[];
  data?: Uint8Array;
  items?: Array<string | Uint8Array>;
}

export async function loadPredict(modelPath: string, functionName: string): Promise<PredictFn> {
  const url = pathToFileURL(path.resolve(modelPath)).href;
  const mod = (await import(url)) as Record<string, unknown>;
  const candidate = mod[functionName] ?? (mod.default as Record<string, unknown> | undefined)?.[functionName];
  if (typeof candidate !== 'function') {
    throw new Error(`model module ${modelPath} does not export a function named '${functionName}'`);
  }
  return candidate as PredictFn;
}

/** Turn a predict frame's payload into one JS value per input (typed-array views for numbers). */
export function decodeInputs(batch: WireBatch): ModelInput[] {
  // `n` comes from the peer: check it against the payload before allocating or looping to it.
  const n: unknown = batch.n;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new Error(`predict frame has an invalid input count n`);
  if (batch.items !== undefined) {
    const items: unknown = batch.items;
    if (!Array.isArray(items) || items.length !== n)
      throw new Error(`predict frame has ${Array.isArray(items) ? items.length : 'no'} items for ${n} inputs`);
    for (const item of items) {
      if (typeof item !== 'string' && !(item instanceof Uint8Array)) throw new Error('predict frame items must be strings or bytes');
    }
    return items as ModelInput[];
  }
  const inputs: ModelInput[] = new Array(n);
  const data: unknown = batch.data ?? new Uint8Array(0);
  const lens: unknown = batch.lens ?? [];
  if (!(data instanceof Uint8Array) || !Array.isArray(lens)) throw new Error('predict frame data must be bytes and lens an array');
  if (lens.length !== n) throw new Error(`predict frame has ${lens.length} lens for ${n} inputs`);
  // Copy once into aligned memory so typed-array views are legal whatever the frame's offset.
  const aligned = new Uint8Array(data.length);
  aligned.set(data);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const len = lens[i] as number;
    switch (batch.type) {
      case 'doubles':
        inputs[i] = new Float64Array(aligned.buffer, offset, len);
        offset += len * 8;
        break;
      case 'floats':
        inputs[i] = new Float32Array(aligned.buffer, offset, len);
        offset += len * 4;
        break;
      case 'integers':
        inputs[i] = new Int32Array(aligned.buffer, offset, len);
        offset += len * 4;
        break;
      default:
        throw new Error(`unknown numeric input type '${batch.type}'`);
    }
  }
  if (offset !== data.length) throw new Error(`predict frame data has ${data.length} bytes, lens describe ${offset}`);
  return inputs;
}

/** Validate what predict returned: an array with one output per input. */
export function checkOutputs(outputs: unknown, inputCount: number): unknown[] {
  if (!Array.isArray(outputs)) {
    throw new Error(`predict must return an array, got ${outputs === null ? 'null' : typeof outputs}`);
  }
  if (outputs.length !== inputCount) {
    throw new Error(`predict returned ${outputs.length} outputs for ${inputCount} inputs`);
  }
  return outputs;
}

export async function runPredict(predict: PredictFn, batch: WireBatch): Promise<unknown[]> {
  const inputs = decodeInputs(batch);
  return checkOutputs(await predict(inputs), inputs.length);
}

/** What the runner loads: its --model, --function, --framework, --threads, --device and --input-type. */
export interface ModelSpec {
  modelPath: string;
  functionName: string;
  framework: 'node' | 'onnx';
  inputType: string;
  threads: number;
  device: 'cpu' | 'cuda' | 'auto';
}

export type BatchPredict = (batch: WireBatch) => Promise<unknown[]>;

/** Loads the model of `spec`; resolves to the function that answers one predict frame. */
export async function loadModel(spec: ModelSpec): Promise<BatchPredict> {
  if (spec.framework === 'onnx') return loadOnnxModel(spec);
  const predict = await loadPredict(spec.modelPath, spec.functionName);
  return (batch) => runPredict(predict, batch);
}

// Worker-thread mode: receive { id, batch }, answer { id, outputs } or { id, error }.
if (parentPort !== null && (workerData as { clipperModelHost?: boolean } | undefined)?.clipperModelHost === true) {
  const port = parentPort;
  const { spec } = workerData as { spec: ModelSpec };
  loadModel(spec).then(
    (predict) => {
      port.postMessage({ kind: 'loaded' });
      port.on('message', (msg: { id: number; batch: WireBatch }) => {
        predict(msg.batch).then(
          (outputs) => port.postMessage({ id: msg.id, outputs }),
          (err: unknown) => port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) }),
        );
      });
    },
    (err: unknown) => port.postMessage({ kind: 'load_error', error: err instanceof Error ? err.message : String(err) }),
  );
}
