// A bare uWebSockets.js server on N threads in one process: the ceiling for a multi-threaded HTTP
// predict path (bench/frontend_scaling.ts compares the cluster's frontend threads with it). Each
// worker thread runs its own App; any POST reads its body and answers a fixed Clipper-like answer
// {"query_id":N,"output":1,"default":false}. The threads share the port the way the cluster's
// frontends can (config frontendAccept):
//   reuseport  every thread's App listens on host:port (uWS without LIBUS_LISTEN_EXCLUSIVE_PORT sets
//              SO_REUSEPORT; the kernel spreads new connections). uSockets sets SO_REUSEPORT only when
//              the port is not 0, so a second thread cannot join a socket bound to port 0: with
//              --port 0 a free port is found first (a probe socket, closed) and every thread listens
//              on it.
//   acceptor   the main thread's App listens and hands each accepted socket to a thread's App
//              (addChildAppDescriptor, round-robin).
// Prints {"port":P,"threads":N,"accept":"..."} once every thread serves; SIGTERM stops it.
//
//   node dist/bench/echo_threads.js [--threads 4] [--accept reuseport|acceptor] [--port 0]

import { createServer, type AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { App, us_listen_socket_close, us_socket_local_port, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';

export type AcceptMode = 'reuseport' | 'acceptor';

/** uWS's child-app API (in the binary, not in its typings). */
interface AppDescriptors {
  getDescriptor(): unknown;
  addChildAppDescriptor(descriptor: unknown): void;
}

interface ThreadJob {
  index: number;
  /** reuseport: the port to listen on (0: pick one); acceptor: unused (the thread does not listen). */
  port: number;
  accept: AcceptMode;
}

type ThreadMessage = { kind: 'listening'; port: number } | { kind: 'descriptor'; descriptor: unknown } | { kind: 'failed'; reason: string };

function echoApp(): TemplatedApp {
  let n = 0;
  return App().post('/*', (res) => {
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    res.onData((_chunk, isLast) => {
      if (!isLast || state.aborted) return;
      n++;
      res.cork(() => {
        res.writeHeader('Content-Type', 'application/json').end(`{"query_id":${n},"output":1,"default":false}`);
      });
    });
  });
}

/** One worker thread: its App, listening (reuseport) or handing its descriptor to the acceptor. */
function runThread(job: ThreadJob): void {
  const app = echoApp();
  const port = parentPort!;
  if (job.accept === 'acceptor') {
    port.postMessage({ kind: 'descriptor', descriptor: (app as unknown as AppDescriptors).getDescriptor() } satisfies ThreadMessage);
    // The App has no listen socket of its own, so keep the thread alive until told to stop.
    const keepAlive = setInterval(() => {}, 1 << 30);
    port.on('message', () => {
      clearInterval(keepAlive);
      app.close();
      port.close();
    });
    return;
  }
  app.listen('127.0.0.1', job.port, (socket: us_listen_socket | false) => {
    if (socket === false) {
      // Close the App before the thread ends: a worker leaving a uWS poll handle open aborts Node.
      app.close();
      port.postMessage({ kind: 'failed', reason: `thread ${job.index}: cannot listen on 127.0.0.1:${job.port}` } satisfies ThreadMessage);
      port.close();
      return;
    }
    port.postMessage({ kind: 'listening', port: us_socket_local_port(socket) } satisfies ThreadMessage);
    port.on('message', () => {
      us_listen_socket_close(socket);
      app.close();
      port.close();
    });
  });
}

/** A port free right now on 127.0.0.1 (another process could take it before the threads bind it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function startThread(job: ThreadJob): Promise<{ worker: Worker; message: ThreadMessage }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  return new Promise((resolve, reject) => {
    worker.once('message', (message: ThreadMessage) => {
      if (message.kind === 'failed')
        reject(new Error(message.reason)); // the thread has closed its App and ends
      else resolve({ worker, message });
    });
    worker.once('error', reject);
  });
}

interface Options {
  threads: number;
  accept: AcceptMode;
  port: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: '1' },
      accept: { type: 'string', default: 'reuseport' },
      port: { type: 'string', default: '0' },
    },
  });
  const threads = Number(values.threads);
  const port = Number(values.port);
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= 256)) throw new Error(`--threads must be 1..256, got ${values.threads}`);
  if (values.accept !== 'reuseport' && values.accept !== 'acceptor')
    throw new Error(`--accept must be reuseport or acceptor, got ${values.accept}`);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error(`--port must be 0..65535, got ${values.port}`);
  return { threads, accept: values.accept, port };
}

/** The threads started so far and the acceptor's App: what stopping must close (a worker exiting with its uWS App open aborts Node). */
const workers: Worker[] = [];
let acceptor: { app: TemplatedApp; socket: us_listen_socket | null } | null = null;

function stopAll(code: number): void {
  if (acceptor !== null) {
    if (acceptor.socket !== null) us_listen_socket_close(acceptor.socket);
    acceptor.app.close();
  }
  for (const w of workers) w.postMessage('stop');
  void Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r)))).then(() => process.exit(code));
  setTimeout(() => process.exit(code), 2000).unref();
}

async function main(): Promise<void> {
  const { threads, accept, port: portAsked } = options();
  let port = portAsked;
  if (accept === 'reuseport') {
    if (port === 0) port = await freePort();
    for (let i = 0; i < threads; i++) {
      const { worker } = await startThread({ index: i, port, accept });
      workers.push(worker);
    }
  } else {
    const app = App();
    acceptor = { app, socket: null };
    for (let i = 0; i < threads; i++) {
      const { worker, message } = await startThread({ index: i, port: 0, accept });
      workers.push(worker);
      if (message.kind === 'descriptor') (app as unknown as AppDescriptors).addChildAppDescriptor(message.descriptor);
    }
    acceptor.socket = await new Promise<us_listen_socket>((resolve, reject) => {
      app.listen('127.0.0.1', port, (s: us_listen_socket | false) =>
        s === false ? reject(new Error(`acceptor: cannot listen on ${port}`)) : resolve(s),
      );
    });
    port = us_socket_local_port(acceptor.socket);
  }
  process.stdout.write(`${JSON.stringify({ port, threads, accept })}\n`);
  process.once('SIGTERM', () => stopAll(0));
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`echo_threads: ${err instanceof Error ? err.message : String(err)}\n`);
    stopAll(1);
  });
} else {
  runThread(workerData as ThreadJob);
}
