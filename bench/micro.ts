// tinybench micro-benchmarks of the hot parts of a query's path. Small parameters run in CI (as a
// test that they run, never with thresholds); large ones on demand:
//
//   npm run build && node dist/bench/micro.js            # large
//   node dist/bench/micro.js --small                    # what CI runs
//   node dist/bench/micro.js --small --json             # machine-readable

import { Bench } from 'tinybench';
import { outputToJson } from '../src/batching/output_json.js';
import type { Clock } from '../src/lib/clock.js';
import { ModelScheduler } from '../src/batching/model_scheduler.js';
import { CacheResult, PredictionCache } from '../src/cache/prediction_cache.js';
import { parsePredictRequest } from '../src/frontend/predict_request.js';
import { createRing, RingConsumer, RingProducer } from '../src/ipc/ring_buffer.js';
import { encodeFrame, FrameDecoder, type ContainerMessage } from '../src/rpc/protocol.js';

export interface MicroResult {
  name: string;
  meanNs: number;
  p99Ns: number;
  opsPerS: number;
  samples: number;
}

export interface MicroOptions {
  small: boolean;
}

export async function runMicro(options: MicroOptions): Promise<MicroResult[]> {
  const bench = new Bench({ time: options.small ? 20 : 1000, warmupTime: options.small ? 5 : 200 });
  const batchSize = options.small ? 8 : 64;

  // Ring: push one 4-double query record and pop it (the main → worker hand-off, one thread).
  const ring = createRing(1 << 20);
  const producer = new RingProducer(ring);
  const consumer = new RingConsumer(ring);
  const values = [1.1, 2.2, 3.3, 4.4];
  let sink = 0;
  bench.add('ring push+pop (24 B header + 4 doubles)', () => {
    const body = producer.reserve(24 + 32, 1);
    const base = (body + 24) >>> 3;
    for (let i = 0; i < 4; i++) producer.f64[base + i] = values[i]!;
    producer.commit();
    consumer.drain((b) => {
      sink += consumer.f64[(b + 24) >>> 3]!;
    });
  });

  // Container codec: encode a predict frame of `batchSize` 4-double inputs, decode its result.
  const data = new Uint8Array(batchSize * 32);
  const predict: ContainerMessage = { t: 'predict', id: 1, type: 'doubles', n: batchSize, lens: new Array(batchSize).fill(4), data };
  const resultFrame = encodeFrame({ t: 'result', id: 1, outputs: new Array(batchSize).fill(6.6) });
  const decoder = new FrameDecoder();
  bench.add(`msgpack predict frame encode (batch ${batchSize})`, () => {
    sink += encodeFrame(predict).length;
  });
  bench.add(`msgpack result frame decode (batch ${batchSize})`, () => {
    decoder.push(resultFrame, (m) => {
      sink += (m as { outputs: unknown[] }).outputs.length;
    });
  });

  // Frontend: parse and validate a predict body; format an output.
  const body = Buffer.from('{"input":[1.1,2.2,3.3,4.4,5.5,6.6,7.7,8.8]}');
  const batchBody = Buffer.from(JSON.stringify({ input_batch: Array.from({ length: batchSize }, (_, i) => [i, i + 0.5, 2]) }));
  bench.add('predict body parse+validate (8 doubles)', () => {
    sink += parsePredictRequest(body, 'doubles', 1e9).inputs.length;
  });
  bench.add(`predict body parse+validate (input_batch ${batchSize})`, () => {
    sink += parsePredictRequest(batchBody, 'doubles', 1e9).inputs.length;
  });
  bench.add('output to JSON text (number)', () => {
    sink += outputToJson(6.6).length;
  });
  bench.add('output to JSON text (JSON string "0.25")', () => {
    sink += outputToJson('0.25').length;
  });

  // Batcher step: enqueue `batchSize` queries, the scheduler forms and sends one batch, the batch
  // completes. A manual clock (no timers fire) keeps it deterministic.
  let nowMs = 1_000;
  const clock: Clock = { nowMs: () => nowMs, setTimer: () => 0, clearTimer: () => {} };
  let lastBatchId = -1;
  const scheduler = new ModelScheduler<number>({ batchSize: batchSize }, clock, {
    sendBatch: (_replica, batchId) => {
      lastBatchId = batchId;
    },
    expire: () => {},
    reject: () => {},
  });
  scheduler.addReplica(1);
  let token = 0;
  bench.add(`batcher step: ${batchSize} enqueues + 1 batch sent and done`, () => {
    // The first enqueue goes out alone (the replica is idle); the rest form the next batch.
    for (let i = 0; i < batchSize; i++) scheduler.enqueue({ token: token++, deadlineMs: nowMs + 1e9, payload: i });
    while (lastBatchId !== -1) {
      const id = lastBatchId;
      lastBatchId = -1;
      nowMs += 0.01;
      sink += scheduler.onBatchDone(id)?.length ?? 0;
    }
  });

  // Prediction cache: lookup of a 32-byte input that hits, and of a new one (a miss: a pending
  // record, then settled with an output).
  const cache = new PredictionCache({});
  const input = new Uint8Array(new Float64Array([1.1, 2.2, 3.3, 4.4]).buffer);
  cache.put(1, 1, input, '6.6');
  bench.add('prediction cache lookup (hit, 4 doubles)', () => {
    if (cache.lookup(1, 1, input) === CacheResult.Hit) sink += cache.hitOutput.length;
  });
  const missKey = new Float64Array(4);
  const missBytes = new Uint8Array(missKey.buffer);
  let missCount = 0;
  bench.add('prediction cache miss + settle (4 doubles)', () => {
    missKey[0] = missCount++;
    if (cache.lookup(1, 1, missBytes) === CacheResult.Owner) cache.settle(cache.handle, '6.6');
  });

  await bench.run();
  scheduler.close();
  if (sink === -1) process.stdout.write(''); // keep the results observable to the optimiser
  return bench.tasks.map((task) => {
    const r = task.result as { latency?: { mean: number; p99?: number; samples: number[] }; throughput?: { mean: number } } | undefined;
    const meanMs = r?.latency?.mean ?? NaN;
    return {
      name: task.name,
      meanNs: meanMs * 1e6,
      p99Ns: (r?.latency?.p99 ?? NaN) * 1e6,
      opsPerS: r?.throughput?.mean ?? 1000 / meanMs,
      samples: r?.latency?.samples.length ?? 0,
    };
  });
}

export function formatMicro(results: MicroResult[]): string {
  // ns/op from throughput is the figure to compare; the per-sample p99 includes timer overhead.
  const lines = ['| benchmark | ns/op | ops/s | p99 of samples, ns |', '|---|---|---|---|'];
  for (const r of results) {
    lines.push(`| ${r.name} | ${(1e9 / r.opsPerS).toFixed(0)} | ${Math.round(r.opsPerS)} | ${r.p99Ns.toFixed(0)} |`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const small = process.argv.includes('--small');
  runMicro({ small }).then(
    (results) => {
      process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(results, null, 2)}\n` : `${formatMicro(results)}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
