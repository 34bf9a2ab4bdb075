// The ONNX baseline of the framework benchmarks: an .onnx model called directly with onnxruntime-node,
// one input per call by default (--batch 1), as an application would without a serving system.
// Prints one JSON line: calls, inputs per second and per-call latency. bench/frameworks.ts runs it
// beside the same model served by clipper-ts (framework onnx, containers/node/onnx_model.ts).
//
//   npm run build && node dist/bench/models/onnx_direct.js --model FILE [--batch 1] [--seconds 3]
//       [--warmup-seconds 0.5] [--threads 1] [--dims 2,8] [--seed 1]
//
// The inputs are random (seeded), of the model's input type and shape; its first dimension is the
// batch. A variable dimension after it needs --dims (the dimensions after the batch). The session has
// the runner's settings: --threads intra-op threads (default 1, as a replica), sequential execution.

import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { createPrng } from '../../src/lib/prng.js';

interface Options {
  model: string;
  batch: number;
  seconds: number;
  warmupSeconds: number;
  threads: number;
  dims: number[] | null;
  seed: number;
}

function positive(name: string, text: string | undefined, integer: boolean): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'} (got ${text})`);
  }
  return value;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      batch: { type: 'string', default: '1' },
      seconds: { type: 'string', default: '3' },
      'warmup-seconds': { type: 'string', default: '0.5' },
      threads: { type: 'string', default: '1' },
      dims: { type: 'string' },
      seed: { type: 'string', default: '1' },
    },
  });
  if (values.model === undefined) throw new Error('--model FILE.onnx is required');
  return {
    model: values.model,
    batch: positive('batch', values.batch, true),
    seconds: positive('seconds', values.seconds, false),
    warmupSeconds: Number(values['warmup-seconds']),
    threads: positive('threads', values.threads, true),
    dims: values.dims === undefined ? null : values.dims.split(',').map((d) => positive('dims', d, true)),
    seed: Number(values.seed),
  };
}

type InputArray = Float32Array | Float64Array | Int32Array | BigInt64Array;

/** `count` random arrays of `size` elements of the model's input type. */
function randomInputs(type: string, size: number, count: number, seed: number): InputArray[] {
  const prng = createPrng(seed);
  const out: InputArray[] = [];
  for (let c = 0; c < count; c++) {
    const values = Array.from({ length: size }, () => prng.next() * 2 - 1);
    if (type === 'float32') out.push(Float32Array.from(values));
    else if (type === 'float64') out.push(Float64Array.from(values));
    else if (type === 'int32') out.push(Int32Array.from(values, (v) => Math.round(v * 100)));
    else if (type === 'int64') out.push(BigInt64Array.from(values, (v) => BigInt(Math.round(v * 100))));
    else throw new Error(`the model's input is ${type}; this baseline feeds float32, float64, int32 or int64`);
  }
  return out;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return Number(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!.toFixed(4));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const session = await ort.InferenceSession.create(options.model, {
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const meta = session.inputMetadata[0];
  if (meta === undefined || !meta.isTensor) throw new Error(`${options.model}: the first input is not a tensor`);
  const inner = options.dims ?? meta.shape.slice(1).map((d) => (typeof d === 'number' && d >= 0 ? d : Number.NaN));
  if (inner.some(Number.isNaN))
    throw new Error(`${options.model}: input shape [${meta.shape.join(', ')}] has a variable dimension: give --dims`);
  const batch = typeof meta.shape[0] === 'number' && meta.shape[0] > 0 ? meta.shape[0] : options.batch;
  const shape = [batch, ...inner];
  const inputs = randomInputs(
    meta.type,
    shape.reduce((p, d) => p * d, 1),
    64,
    options.seed,
  );
  const call = async (i: number): Promise<void> => {
    await session.run({ [meta.name]: new ort.Tensor(meta.type, inputs[i % inputs.length]!, shape) });
  };
  for (let i = 0, end = performance.now() + options.warmupSeconds * 1000; performance.now() < end; i++) await call(i);
  let latencies = new Float64Array(1 << 16);
  let calls = 0;
  const started = performance.now();
  const end = started + options.seconds * 1000;
  for (let now = started; now < end; ) {
    await call(calls);
    const after = performance.now();
    if (calls === latencies.length) {
      const grown = new Float64Array(calls * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[calls++] = after - now;
    now = after;
  }
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, calls).sort();
  const result = {
    framework: 'onnx',
    model: path.basename(options.model),
    input: { name: meta.name, type: meta.type, shape },
    batch,
    threads: options.threads,
    calls,
    inputs: calls * batch,
    seconds: Number(seconds.toFixed(3)),
    inputs_per_second: Math.round((calls * batch) / seconds),
    latency_ms: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: percentile(sorted, 1) },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await session.release();
}

main().catch((err: unknown) => {
  process.stderr.write(`onnx_direct: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
