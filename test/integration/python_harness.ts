// Shared helpers for tests that run the Python container runner: start it like the local-process
// manager does, and speak containers/PROTOCOL.md to it over a socket.

import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { kPythonInterpreter, kPythonRunnerPath } from '../../src/paths.js';
import { encodeFrame, FrameDecoder, kProtocolVersion, type ContainerMessage } from '../../src/rpc/protocol.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

/** Which of `modules` the project's Python interpreter cannot import. */
export function missingPythonModules(modules: string[]): string[] {
  const script = `import importlib, sys\nfor m in sys.argv[1:]:\n    try: importlib.import_module(m)\n    except Exception: print(m)\n`;
  const out = spawnSync(kPythonInterpreter, ['-c', script, ...modules], { encoding: 'utf8' });
  if (out.error !== undefined || out.status !== 0) return [`a working ${kPythonInterpreter}`];
  return out.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function runPython(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(kPythonInterpreter, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
}

/** runPython without blocking the event loop (for tests that serve HTTP to the script). */
export function runPythonAsync(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ProcessResult> {
  return runProcess(kPythonInterpreter, args, { env, timeoutMs });
}

export interface RunnerSpec {
  model: string;
  function: string;
  name: string;
  version: string;
  inputType: string;
  /** Extra environment (e.g. CLIPPER_REPLICA_SECRET). */
  env?: Record<string, string>;
  /** Extra runner flags after the common ones (e.g. --framework pytorch --threads 2). */
  args?: string[];
}

export interface PythonRunner {
  port: number;
  pid: number;
  stderr: () => string;
  kill: (signal: NodeJS.Signals) => void;
  /** Close stdin (as a departing manager does) and wait for the exit; SIGKILL after 5 s. */
  stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawn the runner as src/containers/local_process.ts does; resolve at its ready line. */
export function startRunner(spec: RunnerSpec): Promise<PythonRunner> {
  const child = spawn(
    kPythonInterpreter,
    [
      kPythonRunnerPath,
      '--model',
      spec.model,
      '--function',
      spec.function,
      '--name',
      spec.name,
      '--version',
      spec.version,
      '--input-type',
      spec.inputType,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      ...(spec.args ?? []),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...spec.env } },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr += text;
  });
  child.stdin.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const stop = async (): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const result = await exited;
      clearTimeout(killer);
      return result;
    }
    return exited;
  };
  return new Promise<PythonRunner>((resolve, reject) => {
    let ready = false;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (ready || !line.startsWith('{')) return;
      const msg = JSON.parse(line) as { clipper_ready?: boolean; port?: number; pid?: number };
      if (msg.clipper_ready !== true || typeof msg.port !== 'number') return;
      ready = true;
      resolve({ port: msg.port, pid: msg.pid ?? -1, stderr: () => stderr, kill: (sig) => child.kill(sig), stop });
    });
    void exited.then(({ code, signal }) => {
      // Let the stderr pipe drain before reporting.
      setImmediate(() => {
        if (!ready)
          reject(new Error(`runner exited with ${signal !== null ? `signal ${signal}` : `code ${code}`} before the ready line: ${stderr}`));
      });
    });
  });
}

type Message = ContainerMessage & Record<string, unknown>;

/** A frontend-side protocol client: queues every message except heartbeats (it counts those). */
export class RunnerClient {
  heartbeats = 0;
  lastId = 0;
  readonly ready: Promise<Message>;
  readonly closed: Promise<void>;
  readonly #socket: net.Socket;
  readonly #queue: Message[] = [];
  readonly #waiters: Array<{ resolve: (m: Message) => void; reject: (e: Error) => void }> = [];
  #ended = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => decoder.push(chunk, (m) => this.#deliver(m as Message)));
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#ended = true;
        for (const w of this.#waiters.splice(0)) w.reject(new Error('connection closed'));
        resolve();
      }),
    );
    socket.on('error', () => {});
    this.ready = this.next();
  }

  static async open(port: number, hello: Record<string, unknown>): Promise<RunnerClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RunnerClient(socket);
    socket.write(encodeFrame({ t: 'hello', protocol: kProtocolVersion, replica: 0, heartbeat_ms: 1000, ...hello } as ContainerMessage));
    return client;
  }

  #deliver(message: Message): void {
    if (message.t === 'hb') {
      this.heartbeats++;
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve(message);
    else this.#queue.push(message);
  }

  /** The next non-heartbeat message. */
  next(): Promise<Message> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Send one numeric batch (doubles/floats/integers) and wait for its answer. */
  predict(type: 'doubles' | 'floats' | 'integers', inputs: number[][]): Promise<Message> {
    const data = packNumbers(type, inputs);
    this.lastId++;
    this.#socket.write(encodeFrame({ t: 'predict', id: this.lastId, type, n: inputs.length, lens: inputs.map((x) => x.length), data }));
    return this.next();
  }

  predictItems(type: 'strings' | 'bytes', items: Array<string | Uint8Array>): Promise<Message> {
    this.lastId++;
    this.#socket.write(encodeFrame({ t: 'predict', id: this.lastId, type, n: items.length, items }));
    return this.next();
  }

  writeRaw(bytes: Buffer): void {
    this.#socket.write(bytes);
  }

  close(): void {
    this.#socket.end();
  }
}

/** Inputs back to back, little-endian, as the frontend puts them in `data`. */
export function packNumbers(type: 'doubles' | 'floats' | 'integers', inputs: number[][]): Uint8Array {
  const flat = inputs.flat();
  const width = type === 'doubles' ? 8 : 4;
  const buf = Buffer.alloc(flat.length * width);
  flat.forEach((v, i) => {
    if (type === 'doubles') buf.writeDoubleLE(v, i * 8);
    else if (type === 'floats') buf.writeFloatLE(v, i * 4);
    else buf.writeInt32LE(v, i * 4);
  });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}
