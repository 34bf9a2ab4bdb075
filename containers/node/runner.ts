#!/usr/bin/env node
// The Node model container: serves one model version over containers/PROTOCOL.md.
//
//   node dist/containers/node/runner.js --model path/to/model.mjs --name m --version 1 \
//        --input-type doubles [--function predict] [--host 127.0.0.1] [--port 0] [--isolate thread]
//        [--watch-stdin auto|yes|no] [--alive-file PATH] [--framework node|onnx] [--threads N]
//        [--device cpu|cuda|auto]
//
// --framework node (the default) imports --model as a JS module and calls its --function; onnx
// loads an .onnx file with onnxruntime-node (onnx_model.ts), --function then names the output to
// answer with. --threads (1..256, default 1) and --device apply to onnx; framework node accepts and
// ignores them, as a spec's runtime options may name them for either runtime.
//
// --name, --version and --input-type default to $CLIPPER_MODEL_NAME, $CLIPPER_MODEL_VERSION and
// $CLIPPER_INPUT_TYPE (a Docker image takes them from the manager's environment). --alive-file is
// touched every second while the runner's event loop runs: the image's health check reads it.
//
// It listens (the batching worker dials it), prints one line `{"clipper_ready":true,"port":N}` on
// stdout once the model is loaded, and serves any number of frontend connections. Heartbeats go out
// on a timer that keeps running while a model computes (isolate=thread puts predict on its own
// thread; isolate=inline runs it here and suits models that return at once).

import { fstatSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import {
  encodeFrame,
  FrameDecoder,
  kProtocolVersion,
  ProtocolError,
  type ContainerMessage,
  type HelloMessage,
  type PredictMessage,
  type ReadyMessage,
} from '../../src/rpc/protocol.js';
import { kReplicaSecretEnv, parseSecretHex, replicaAuthMac } from '../../src/rpc/replica_auth.js';
import { loadModel, type ModelSpec, type WireBatch } from './model_host.js';

interface RunnerOptions {
  spec: ModelSpec;
  name: string;
  version: string;
  inputType: string;
  host: string;
  port: number;
  isolate: 'thread' | 'inline';
  watchStdin: boolean;
  aliveFile: string | null;
  /** The cluster's replica secret ($CLIPPER_REPLICA_SECRET, hex): `ready` proves we hold it. Null: none given. */
  secret: Buffer | null;
  /** $CLIPPER_REPLICA_ID, set by the managers: the only replica id this process signs for (null: any). */
  replicaId: number | null;
}

type Executor = (batch: WireBatch) => Promise<unknown[]>;

function parseOptions(argv: string[]): RunnerOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      function: { type: 'string', default: 'predict' },
      name: { type: 'string' },
      version: { type: 'string' },
      'input-type': { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      isolate: { type: 'string', default: 'thread' },
      'watch-stdin': { type: 'string', default: 'auto' },
      'alive-file': { type: 'string' },
      framework: { type: 'string', default: 'node' },
      threads: { type: 'string', default: '1' },
      device: { type: 'string', default: 'auto' },
    },
  });
  values.name ??= process.env.CLIPPER_MODEL_NAME;
  values.version ??= process.env.CLIPPER_MODEL_VERSION;
  values['input-type'] ??= process.env.CLIPPER_INPUT_TYPE;
  for (const key of ['model', 'name', 'version', 'input-type'] as const) {
    if (values[key] === undefined || values[key] === '') throw new Error(`runner: --${key} is required`);
  }
  const watch = values['watch-stdin'];
  if (watch !== 'auto' && watch !== 'yes' && watch !== 'no') {
    throw new Error(`runner: --watch-stdin must be 'auto', 'yes' or 'no' (got ${watch})`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`runner: --port must be 0..65535 (got ${values.port})`);
  if (values.isolate !== 'thread' && values.isolate !== 'inline') {
    throw new Error(`runner: --isolate must be 'thread' or 'inline' (got ${values.isolate})`);
  }
  return {
    spec: modelSpec(values.model!, values.function!, values['input-type']!, values),
    name: values.name!,
    version: values.version!,
    inputType: values['input-type']!,
    host: values.host!,
    port,
    isolate: values.isolate,
    watchStdin: watch === 'yes' || (watch === 'auto' && stdinIsWatchable()),
    aliveFile: values['alive-file'] ?? null,
    secret: takeSecret(),
    replicaId: /^[0-9]{1,9}$/.test(process.env.CLIPPER_REPLICA_ID ?? '') ? Number(process.env.CLIPPER_REPLICA_ID) : null,
  };
}

/** The model part of the flags: what model_host.ts loads, each flag checked with a message that names it. */
function modelSpec(
  modelPath: string,
  functionName: string,
  inputType: string,
  flags: { framework?: string; threads?: string; device?: string },
): ModelSpec {
  const { framework, device } = flags;
  if (framework !== 'node' && framework !== 'onnx') {
    throw new Error(
      `runner: --framework must be 'node' or 'onnx' for the Node runner (got ${framework}); ` +
        'python, sklearn, pytorch and xgboost models run in the Python runner',
    );
  }
  const threads = Number(flags.threads);
  if (!/^[0-9]+$/.test(flags.threads ?? '') || threads < 1 || threads > 256) {
    throw new Error(`runner: --threads must be an integer from 1 to 256 (got ${flags.threads})`);
  }
  if (device !== 'cpu' && device !== 'cuda' && device !== 'auto') {
    throw new Error(`runner: --device must be 'cpu', 'cuda' or 'auto' (got ${device})`);
  }
  return { modelPath, functionName, framework, inputType, threads, device };
}

/** Reads the replica secret and removes it from our environment (the model's child processes never see it). */
function takeSecret(): Buffer | null {
  const hex = process.env[kReplicaSecretEnv];
  delete process.env[kReplicaSecretEnv];
  if (hex === undefined || hex === '') return null;
  const secret = parseSecretHex(hex);
  if (secret === null) throw new Error(`runner: $${kReplicaSecretEnv} must be at least 32 bytes as hex`);
  return secret;
}

/** `auth` for a hello: HMAC over its nonce and names (src/rpc/replica_auth.ts); none without a secret or a nonce. */
function authFor(
  options: RunnerOptions,
  hello: { nonce?: unknown; model: string; version: string; replica: unknown },
): Uint8Array | undefined {
  const { nonce, replica } = hello;
  if (options.secret === null || !(nonce instanceof Uint8Array) || nonce.length < 16 || !Number.isSafeInteger(replica)) return undefined;
  // Sign only for our own replica id: a process squatting on another replica's old port cannot relay
  // the handshake to us and pass as that replica.
  if (options.replicaId !== null && replica !== options.replicaId) return undefined;
  return replicaAuthMac(options.secret, nonce, hello.model, hello.version, replica as number);
}

/** Auto: watch stdin only when it is a pipe or a socket (a manager holds it), not a TTY or /dev/null. */
function stdinIsWatchable(): boolean {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/** Touches `file` now and every second while the event loop runs (never keeps the process alive). */
function keepAliveFile(file: string): void {
  const touch = (): void => {
    const now = new Date();
    try {
      utimesSync(file, now, now);
    } catch {
      try {
        writeFileSync(file, '');
      } catch {
        /* read-only: health check fails */
      }
    }
  };
  touch();
  setInterval(touch, 1000).unref();
}

/**
 * A batch as posted to the model thread: its fields, with `data` copied into a buffer of its own and
 * transferred. The decoder's `data` views a pooled socket buffer, which postMessage would clone whole.
 */
function forThread(batch: WireBatch): { message: WireBatch; transfer: ArrayBuffer[] } {
  const { type, n, lens, data, items } = batch;
  if (!(data instanceof Uint8Array)) return { message: { type, n, lens, data, items }, transfer: [] };
  const own = new Uint8Array(data);
  return { message: { type, n, lens, data: own, items }, transfer: [own.buffer] };
}

async function makeExecutor(options: RunnerOptions): Promise<{ run: Executor; close: () => Promise<void> }> {
  if (options.isolate === 'inline') {
    return { run: await loadModel(options.spec), close: async () => {} };
  }
  const worker = new Worker(fileURLToPath(new URL('./model_host.js', import.meta.url)), {
    workerData: { clipperModelHost: true, spec: options.spec },
  });
  const pending = new Map<number, { resolve: (v: unknown[]) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (msg: { kind?: string; error?: string }) => {
      if (msg.kind === 'loaded') resolve();
      else reject(new Error(msg.error ?? 'model failed to load'));
    });
  });
  worker.on('message', (msg: { id: number; outputs?: unknown[]; error?: string }) => {
    const entry = pending.get(msg.id);
    if (entry === undefined) return;
    pending.delete(msg.id);
    if (msg.error !== undefined) entry.reject(new Error(msg.error));
    else entry.resolve(msg.outputs!);
  });
  worker.on('error', (err) => {
    for (const entry of pending.values()) entry.reject(err);
    pending.clear();
    process.stderr.write(`runner: model thread crashed: ${err.message}\n`);
    process.exit(1);
  });
  return {
    run: (batch) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        const { message, transfer } = forThread(batch);
        worker.postMessage({ id, batch: message }, transfer);
      }),
    close: async () => {
      await worker.terminate();
    },
  };
}

/**
 * A field of a peer's message as an error message shows it. Any msgpack value may arrive (a map
 * whose `toString` is a number makes `${value}` throw), and a throw here would end the runner.
 */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value == null) return String(value);
  return `a value of type ${typeof value}`;
}

/** The hello's heartbeat_ms as a timer interval: 10 ms to 1 h (a larger one would overflow to 1 ms), else 1 s. */
function heartbeatIntervalMs(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return 1000;
  return Math.min(3_600_000, Math.max(10, value));
}

/** The answer to an accepted hello, with the auth that proves our secret when we hold one. */
function readyFor(options: RunnerOptions, hello: HelloMessage): ReadyMessage {
  const auth = authFor(options, hello);
  return {
    t: 'ready',
    protocol: kProtocolVersion,
    model: options.name,
    version: options.version,
    input_type: options.inputType,
    pid: process.pid,
    runtime: `node ${process.version}`,
    ...(auth === undefined ? {} : { auth }),
  };
}

function serveConnection(socket: net.Socket, options: RunnerOptions, run: Executor): void {
  socket.setNoDelay(true);
  const decoder = new FrameDecoder();
  let greeted = false;
  let heartbeat: NodeJS.Timeout | undefined;
  // Batches run one after another per connection, in arrival order.
  let chain: Promise<void> = Promise.resolve();
  const send = (message: ContainerMessage): void => {
    if (!socket.destroyed) socket.write(encodeFrame(message));
  };
  const fail = (message: string): void => {
    send({ t: 'error', message });
    socket.end();
  };
  const onPredict = (msg: PredictMessage): void => {
    chain = chain.then(() =>
      run(msg).then(
        (outputs) => send({ t: 'result', id: msg.id, outputs }),
        (err: unknown) => send({ t: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) }),
      ),
    );
  };
  const onMessage = (msg: ContainerMessage): void => {
    if (!greeted) {
      if (msg.t !== 'hello') return fail(`expected hello, got ${msg.t}`);
      if (msg.protocol !== kProtocolVersion)
        return fail(`protocol ${shown(msg.protocol)} not supported (this runner speaks ${kProtocolVersion})`);
      if (msg.model !== options.name || msg.version !== options.version) {
        return fail(`this container serves ${options.name}:${options.version}, not ${shown(msg.model)}:${shown(msg.version)}`);
      }
      if (msg.input_type !== options.inputType) {
        return fail(`this container takes ${options.inputType}, not ${shown(msg.input_type)}`);
      }
      greeted = true;
      const intervalMs = heartbeatIntervalMs(msg.heartbeat_ms);
      heartbeat = setInterval(() => send({ t: 'hb' }), intervalMs);
      send(readyFor(options, msg));
      return;
    }
    switch (msg.t) {
      case 'predict':
        return onPredict(msg);
      case 'hb':
        return;
      case 'bye':
        socket.end();
        return;
      default:
        return fail(`unexpected message ${msg.t}`);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(chunk, onMessage);
    } catch (err) {
      if (err instanceof ProtocolError) fail(err.message);
      else throw err;
    }
  });
  socket.on('close', () => clearInterval(heartbeat));
  socket.on('error', () => clearInterval(heartbeat));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const executor = await makeExecutor(options);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, options, executor.run);
  });
  server.listen(options.port, options.host, () => {
    const address = server.address() as net.AddressInfo;
    process.stdout.write(`${JSON.stringify({ clipper_ready: true, port: address.port, pid: process.pid })}\n`);
    if (options.aliveFile !== null) keepAliveFile(options.aliveFile);
  });
  const shutdown = (): void => {
    server.close();
    for (const socket of sockets) {
      if (!socket.destroyed) socket.end(encodeFrame({ t: 'bye', reason: 'container shutting down' }));
    }
    void executor.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // The manager closes our stdin pipe when it goes away: never outlive it.
  if (options.watchStdin) {
    process.stdin.on('end', shutdown);
    process.stdin.on('error', shutdown);
    process.stdin.resume();
  }
}

main().catch((err: unknown) => {
  const text = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${text.startsWith('runner: ') ? text : `runner: ${text}`}\n`);
  process.exit(1);
});
