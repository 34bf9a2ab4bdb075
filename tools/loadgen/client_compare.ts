// One-off comparison behind the choice of raw `net` sockets for the HTTP client: drive the same
// closed loop (c connections, one request in flight each) with an undici Pool and with our raw
// client, and print requests/s for each. Usage (against a running echo server):
//   node dist/tools/loadgen/client_compare.js http://127.0.0.1:8080 64 5

import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { HttpTransport } from './http_client.js';
import { fixedInput } from './inputs.js';
import type { LoadConnection, ResultSink } from './transport.js';

const kBody = '{"input":[1.1,2.2,3.3]}';

async function undiciRps(url: URL, concurrency: number, seconds: number): Promise<number> {
  const pool = new Pool(url.origin, { connections: concurrency, pipelining: 1 });
  const endMs = performance.now() + seconds * 1000;
  let done = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < endMs) {
      const res = await pool.request({
        path: '/default/predict',
        method: 'POST',
        body: kBody,
        headers: { 'content-type': 'application/json' },
      });
      await res.body.text();
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const rps = done / ((performance.now() - t0) / 1000);
  await pool.close();
  return rps;
}

async function rawRps(url: URL, concurrency: number, seconds: number): Promise<number> {
  const transport = new HttpTransport({ host: url.hostname, port: Number(url.port), path: '/default/predict', shape: 'clipper' });
  const item = fixedInput('[1.1,2.2,3.3]').next();
  const endMs = performance.now() + seconds * 1000;
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  let live = concurrency;
  const sink: ResultSink = {
    onResponse(conn: LoadConnection): void {
      done++;
      if (performance.now() < endMs) conn.send(item, 0);
      else if (--live === 0) finish();
    },
    onError(): void {
      if (--live === 0) finish();
    },
  };
  const conns = await transport.connect(concurrency, sink);
  const t0 = performance.now();
  for (const c of conns) c.send(item, 0);
  await finished;
  const rps = done / ((performance.now() - t0) / 1000);
  for (const c of conns) c.close();
  return rps;
}

const url = new URL(process.argv[2] ?? 'http://127.0.0.1:8080');
const concurrency = Number(process.argv[3] ?? 64);
const seconds = Number(process.argv[4] ?? 5);
process.stdout.write(`undici Pool: ${(await undiciRps(url, concurrency, seconds)).toFixed(0)} req/s\n`);
process.stdout.write(`raw net:     ${(await rawRps(url, concurrency, seconds)).toFixed(0)} req/s\n`);
