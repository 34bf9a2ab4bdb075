// Closed-loop load over the WebSocket stream (docs/streaming.md) with msgpack frames whose input is a
// `bin`: the elements' little-endian bytes in the app's element type (doubles or floats), one query
// per frame, `connections` connections with one frame in flight each (the same closed loop as wrk's
// connections). Each frame's first element is unique (nothing can come from the prediction cache).
// The clients run in a worker thread, off the caller's event loop. Latency is from send to answer.
//
// The frame is msgpack written by hand, so one template per connection is patched in place per
// query (the id and the first element) instead of packing 100 KB per query:
//   0x82 | fixstr "id" | 0xce u32 id | fixstr "input" | 0xc6 u32 length | elements
// (undici masks every client frame into a new buffer in send(), so patching after send is safe).

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { unpack } from 'msgpackr';
import { WebSocket } from 'undici';
import { Histogram } from '../tools/loadgen/histogram.js';

export interface WsLoadJob {
  /** ws://host:port/<app>/stream */
  url: string;
  connections: number;
  /** Elements per input. */
  count: number;
  elementType: 'doubles' | 'floats';
  warmupS: number;
  durationS: number;
}

export interface WsLoadResult {
  /** Answers in the window (default outputs included, as wrk counts them), and per second. */
  answers: number;
  requestsPerS: number;
  defaults: number;
  /** Error frames in the window; the first one's text. */
  errors: number;
  firstError: string | null;
  p50Us: number;
  p99Us: number;
  frameBytes: number;
}

const kIdOffset = 5;
const kDataOffset = 20;
const kUniqueSpan = 2 ** 24;

/** The frame template for one connection (id 0, random elements). */
export function frameTemplate(count: number, elementType: WsLoadJob['elementType']): Buffer {
  const bytes = count * (elementType === 'doubles' ? 8 : 4);
  const frame = Buffer.alloc(kDataOffset + bytes);
  frame[0] = 0x82;
  frame.write('\xa2id', 1, 'latin1');
  frame[4] = 0xce;
  frame.write('\xa5input', 9, 'latin1');
  frame[15] = 0xc6;
  frame.writeUInt32BE(bytes, 16);
  for (let i = 0; i < count; i++) {
    if (elementType === 'doubles') frame.writeDoubleLE(Math.random(), kDataOffset + 8 * i);
    else frame.writeFloatLE(Math.random(), kDataOffset + 4 * i);
  }
  return frame;
}

/** Patch the id and make the first element unique: (a value below 2^24, folded into [0, 1) so a float holds it exactly). */
export function patchFrame(frame: Buffer, elementType: WsLoadJob['elementType'], id: number, unique: number): void {
  frame.writeUInt32BE(id >>> 0, kIdOffset);
  const first = (unique % kUniqueSpan) / kUniqueSpan;
  if (elementType === 'doubles') frame.writeDoubleLE(first, kDataOffset);
  else frame.writeFloatLE(first, kDataOffset);
}

interface Tally {
  measuring: boolean;
  stopping: boolean;
  answers: number;
  defaults: number;
  errors: number;
  firstError: string | null;
  histogram: Histogram;
  inFlight: number;
}

function openConnection(job: WsLoadJob, index: number, tally: Tally): Promise<WebSocket> {
  const ws = new WebSocket(job.url);
  ws.binaryType = 'arraybuffer';
  const frame = frameTemplate(job.count, job.elementType);
  let sent = 0;
  let sentAtMs = 0;
  let waiting = false;
  const send = (): void => {
    patchFrame(frame, job.elementType, sent, index + job.connections * sent);
    sent++;
    tally.inFlight++;
    waiting = true;
    sentAtMs = performance.now();
    ws.send(frame);
  };
  ws.addEventListener('close', (ev) => {
    if (waiting) tally.inFlight--;
    waiting = false;
    if (tally.stopping) return;
    tally.errors++;
    tally.firstError ??= `connection ${index} closed by the server (${ev.code} ${ev.reason})`;
  });
  ws.addEventListener('message', (ev) => {
    tally.inFlight--;
    waiting = false;
    const answer = unpack(new Uint8Array(ev.data as ArrayBuffer)) as Record<string, unknown>;
    if (tally.measuring) {
      tally.histogram.record((performance.now() - sentAtMs) * 1000);
      if (typeof answer.error === 'string') {
        tally.errors++;
        tally.firstError ??= `${answer.error}: ${String(answer.cause)}`;
      } else {
        tally.answers++;
        if (answer.default === true) tally.defaults++;
      }
    }
    if (!tally.stopping) send();
  });
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => {
      send();
      resolve(ws);
    });
    ws.addEventListener('error', () => reject(new Error(`cannot connect to ${job.url}`)));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runClients(job: WsLoadJob): Promise<WsLoadResult> {
  const tally: Tally = {
    measuring: false,
    stopping: false,
    answers: 0,
    defaults: 0,
    errors: 0,
    firstError: null,
    histogram: new Histogram(),
    inFlight: 0,
  };
  const sockets = await Promise.all(Array.from({ length: job.connections }, (_, i) => openConnection(job, i, tally)));
  await sleep(job.warmupS * 1000);
  tally.measuring = true;
  const t0 = performance.now();
  await sleep(job.durationS * 1000);
  const seconds = (performance.now() - t0) / 1000;
  tally.measuring = false;
  tally.stopping = true;
  for (let waited = 0; tally.inFlight > 0 && waited < 5000; waited += 20) await sleep(20);
  for (const ws of sockets) ws.close();
  return {
    answers: tally.answers,
    requestsPerS: tally.answers / seconds,
    defaults: tally.defaults,
    errors: tally.errors,
    firstError: tally.firstError,
    p50Us: Math.round(tally.histogram.percentile(50)),
    p99Us: Math.round(tally.histogram.percentile(99)),
    frameBytes: kDataOffset + job.count * (job.elementType === 'doubles' ? 8 : 4),
  };
}

/** Run the load in a worker thread; resolves with its result. */
export function runWsLoad(job: WsLoadJob): Promise<WsLoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the WebSocket load thread exited with ${code} before reporting`)));
  });
}

if (!isMainThread && (workerData as { url?: unknown } | null)?.url !== undefined) {
  parentPort!.postMessage(await runClients(workerData as WsLoadJob));
}
