// WebSocket streaming throughput and latency against an in-process cluster serving the noop model.
//
//   node dist/bench/ws_stream.bench.js [--connections 1,4] [--batch 100] [--depth 4] [--window-s 5] [--rtt-s 3]
//     [--batch-size-max 1024] [--ring-spin-count 1000]
//
// Clients run in a worker thread (one per connection count) so they do not share the frontend's
// event loop. Each connection keeps `depth` frames in flight, each carrying `batch` inputs
// (`input_batch`); throughput counts predictions answered inside the window. The RTT phase is one
// connection, one single-input frame at a time. Results are printed as a table and one JSON line.
// Every frame repeats one input, so the model is deployed with its prediction cache off: every
// prediction goes through the ring, the batching worker and the replica (with the cache on, all but
// the first would be answered from the frontend's cache).

import path from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { WebSocket } from 'undici';
import { Cluster } from '../src/cluster.js';
import { kRepoRoot } from '../src/paths.js';
import { appRecordOf, deployRecord, nodeModelRecord } from '../src/admin/deploy_local.js';

interface ClientJob {
  url: string;
  connections: number;
  batch: number;
  depth: number;
  windowS: number;
  rtt: boolean;
}
interface ClientResult {
  predictions: number;
  frames: number;
  errors: number;
  seconds: number;
  rttUs: number[];
}

/** The integer after the first `"id":` (answers start with it). */
function idOf(text: string): number {
  let i = text.indexOf('"id":') + 5;
  let id = 0;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) id = id * 10 + (c - 48);
  return id;
}

async function runClients(job: ClientJob): Promise<ClientResult> {
  const input = '[1.0,2.0,3.0,4.0]';
  const frame = job.batch === 1 && job.rtt ? null : `,"input_batch":[${new Array(job.batch).fill(input).join(',')}]}`;
  let measuring = false;
  let stopping = false;
  let predictions = 0;
  let frames = 0;
  let errors = 0;
  const rttUs: number[] = [];
  const sockets: WebSocket[] = [];
  await Promise.all(
    Array.from({ length: job.connections }, async () => {
      const ws = new WebSocket(job.url);
      sockets.push(ws);
      await new Promise<void>((resolve, reject) => {
        ws.addEventListener('open', () => resolve());
        ws.addEventListener('error', () => reject(new Error(`cannot connect to ${job.url}`)));
      });
      let nextId = 0;
      const sentAt = new Map<number, number>();
      const send = (): void => {
        const id = nextId++;
        if (job.rtt) sentAt.set(id, performance.now());
        ws.send(frame === null ? `{"id":${id},"input":${input}}` : `{"id":${id}${frame}`);
      };
      ws.addEventListener('message', (ev) => {
        const text = ev.data as string;
        if (measuring) {
          if (text.charCodeAt(text.indexOf(',') + 2) === 0x65 /* "error" */) errors++;
          else {
            frames++;
            predictions += job.batch;
          }
          if (job.rtt) rttUs.push((performance.now() - sentAt.get(idOf(text))!) * 1000);
        }
        if (job.rtt) sentAt.delete(idOf(text));
        if (!stopping) send();
      });
      for (let i = 0; i < job.depth; i++) send();
    }),
  );
  await new Promise((r) => setTimeout(r, 1000)); // warmup
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, job.windowS * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  stopping = true;
  await new Promise((r) => setTimeout(r, 200));
  for (const ws of sockets) ws.close();
  return { predictions, frames, errors, seconds, rttUs };
}

function runInWorker(job: ClientJob): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '1,4' },
      batch: { type: 'string', default: '100' },
      depth: { type: 'string', default: '4' },
      'window-s': { type: 'string', default: '5' },
      'rtt-s': { type: 'string', default: '3' },
      'batch-size-max': { type: 'string', default: '1024' },
      'ring-spin-count': { type: 'string', default: '1000' },
    },
  });
  const batch = Number(values.batch);
  const depth = Number(values.depth);
  const windowS = Number(values['window-s']);
  const cluster = await Cluster.start({
    config: {
      queryPort: 0,
      adminPort: 0,
      batchingThreads: 1,
      batchSizeMax: Number(values['batch-size-max']),
      ringSpinCount: Number(values['ring-spin-count']),
    },
  });
  try {
    await deployRecord(
      cluster,
      nodeModelRecord('noop', '1', 'doubles', path.join(kRepoRoot, 'containers', 'node', 'examples', 'noop_model.mjs'), {
        cache_enabled: false,
      }),
    );
    await cluster.store.putApp(appRecordOf('noop', 'doubles', ['noop'], { latency_slo_micros: 1_000_000 }));
    const url = `ws://127.0.0.1:${cluster.queryPort}/noop/stream`;
    const rows: Record<string, unknown>[] = [];
    for (const c of values.connections.split(',').map(Number)) {
      const r = await runInWorker({ url, connections: c, batch, depth, windowS, rtt: false });
      // With frontend threads the counters live in the threads: queryStats adds them up after a refresh.
      await cluster.queryStats.refresh();
      const row = {
        phase: 'throughput',
        connections: c,
        batch,
        depth,
        predictionsPerS: Math.round(r.predictions / r.seconds),
        framesPerS: Math.round(r.frames / r.seconds),
        errors: r.errors,
        defaults: cluster.queryStats.counters.defaults,
      };
      rows.push(row);
      console.log(row);
    }
    const r = await runInWorker({ url, connections: 1, batch: 1, depth: 1, windowS: Number(values['rtt-s']), rtt: true });
    const sorted = Float64Array.from(r.rttUs).sort();
    const rtt = {
      phase: 'rtt',
      connections: 1,
      depth: 1,
      samples: sorted.length,
      p50Us: Math.round(quantile([...sorted], 0.5)),
      p99Us: Math.round(quantile([...sorted], 0.99)),
      errors: r.errors,
    };
    rows.push(rtt);
    console.log(rtt);
    console.log(JSON.stringify(rows));
  } finally {
    await cluster.close();
  }
}

if (isMainThread) {
  await main();
} else {
  parentPort!.postMessage(await runClients(workerData as ClientJob));
}
