// Fuzz properties of the container protocol's two ends over real loopback sockets: a malicious
// frontend against the Node runner (a real runner process: it must never exit, and must still serve
// a proper hello and predict after every batch), and a malicious replica against the batching
// worker's ReplicaConnection (nothing escapes it, and with a cluster secret no fuzzed `ready` is
// ever accepted; a ready with the right auth always is).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { kRepoRoot } from '../../src/paths.js';
import { encodeFrame, FrameDecoder, kProtocolVersion, type ContainerMessage, type HelloMessage } from '../../src/rpc/protocol.js';
import { replicaAuthMac } from '../../src/rpc/replica_auth.js';
import { ReplicaConnection } from '../../src/rpc/replica_connection.js';
import { check } from './fuzz_checks.js';
import type { FuzzProperty } from './fuzz_property.js';
import { containerMessage } from './props_protocol.js';

export interface Runner {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** A Node runner serving the sum model as m:1 (doubles), on a free loopback port. */
export async function startRunner(): Promise<Runner> {
  const runner = path.join(kRepoRoot, 'dist', 'containers', 'node', 'runner.js');
  const model = path.join(kRepoRoot, 'containers', 'node', 'examples', 'sum_model.mjs');
  const args = [
    runner,
    '--model',
    model,
    '--name',
    'm',
    '--version',
    '1',
    '--input-type',
    'doubles',
    '--isolate',
    'inline',
    '--watch-stdin',
    'no',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = (JSON.parse(line.toString().split('\n')[0]!) as { port: number }).port;
  return {
    port,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

const kHello: HelloMessage = {
  t: 'hello',
  protocol: kProtocolVersion,
  model: 'm',
  version: '1',
  input_type: 'doubles',
  replica: 0,
  heartbeat_ms: 1000,
};

/** Send `chunks`, half-close, and collect what comes back until the peer closes (a reset is a close too). */
async function session(port: number, chunks: readonly Buffer[]): Promise<ContainerMessage[]> {
  const socket = net.connect(port, '127.0.0.1');
  const got: ContainerMessage[] = [];
  const decoder = new FrameDecoder();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (d: Buffer) => decoder.push(d, (m) => got.push(m)));
  socket.on('error', () => {});
  for (const c of chunks) socket.write(c);
  socket.end();
  await closed;
  return got;
}

/** A proper hello and predict are answered: the runner is up and serving. */
async function runnerHealth(port: number): Promise<void> {
  const data = Buffer.alloc(24);
  for (let i = 0; i < 3; i++) data.writeDoubleLE(i + 1, i * 8);
  const predict: ContainerMessage = { t: 'predict', id: 1, type: 'doubles', n: 1, lens: [3], data };
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const decoder = new FrameDecoder();
  const result = new Promise<ContainerMessage>((resolve) => {
    socket.on('data', (d: Buffer) => decoder.push(d, (m) => m.t === 'result' && resolve(m)));
    socket.on('close', () => resolve({ t: 'bye', reason: 'closed before a result' }));
  });
  socket.write(Buffer.concat([encodeFrame(kHello), encodeFrame(predict)]));
  const m = await result;
  socket.destroy();
  check(m.t === 'result' && JSON.stringify(m.outputs) === '[6]', `runner health check: ${JSON.stringify(m)}`);
}

const hostile = fc.oneof(
  containerMessage.map((m) => encodeFrame(m)),
  fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)),
);
const runnerCase = fc
  .tuple(fc.boolean(), fc.array(hostile, { minLength: 1, maxLength: 4 }))
  .map(([greet, frames]) => (greet ? [encodeFrame(kHello), ...frames] : frames));

export function runnerProperty(runner: Runner, batch: number): FuzzProperty {
  let cases = 0;
  return {
    name: 'runner_malicious_frontend',
    parser: 'node_runner',
    weight: 1,
    run: async ({ seed, numRuns }) => {
      await fc.assert(
        fc.asyncProperty(runnerCase, async (chunks) => {
          await session(runner.port, chunks);
          check(runner.child.exitCode === null && runner.child.signalCode === null, 'the runner exited');
          if (++cases % batch === 0) await runnerHealth(runner.port);
        }),
        { seed, numRuns, endOnFailure: true, includeErrorInReport: true },
      );
      await runnerHealth(runner.port);
    },
  };
}

const kSecret = Buffer.alloc(32, 7);
const kReplicaOptions = {
  heartbeatMs: 60_000,
  livenessTimeoutMs: 60_000,
  handshakeTimeoutMs: 60_000,
  reconnectDelayMsMin: 60_000,
  reconnectDelayMsMax: 60_000,
};

/** A fake replica: answers each hello with the case's bytes (or a ready with the right auth), then closes. */
export const replicaProperty: FuzzProperty = {
  name: 'replica_malicious_container',
  parser: 'rpc_handshake',
  weight: 1,
  run: async ({ seed, numRuns }) => {
    let reply: (hello: HelloMessage) => Buffer[] = () => [];
    let closed: () => void = () => {};
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.on('close', () => closed());
      const decoder = new FrameDecoder();
      socket.on('data', (d: Buffer) =>
        decoder.push(d, (m) => {
          if (m.t !== 'hello') return;
          for (const c of reply(m)) socket.write(c);
          socket.end();
        }),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const arb = fc.tuple(fc.boolean(), fc.array(hostile, { maxLength: 4 }));
    try {
      await fc.assert(
        fc.asyncProperty(arb, async ([honest, frames]) => {
          reply = (hello) => {
            if (!honest) return frames;
            const auth = replicaAuthMac(kSecret, hello.nonce!, hello.model, hello.version, hello.replica);
            return [
              encodeFrame({
                t: 'ready',
                protocol: kProtocolVersion,
                model: 'm',
                version: '1',
                input_type: 'doubles',
                pid: 1,
                runtime: 'x',
                auth,
              }),
            ];
          };
          const serverClosed = new Promise<void>((resolve) => {
            closed = resolve;
          });
          let readyCount = 0;
          const address = { model: 'm', version: '1', inputType: 'doubles', replicaId: 0, host: '127.0.0.1', port, secret: kSecret };
          const conn = new ReplicaConnection(address, kReplicaOptions, {
            onReady: () => readyCount++,
            onDown: () => {},
            onResult: () => {},
            onBatchError: () => {},
          });
          // The fake replica's socket closes once the connection has read everything it sent.
          await serverClosed;
          await new Promise((r) => setImmediate(r));
          const why = conn.lastError;
          conn.close();
          check(!/^[A-Za-z]*Error\b/.test(why), `the connection failed on a runtime exception, not a named reason: ${why}`);
          if (honest) check(readyCount === 1, 'a ready with the right auth was not accepted');
          else check(readyCount === 0, 'a ready without the right auth was accepted');
        }),
        { seed, numRuns, endOnFailure: true, includeErrorInReport: true },
      );
    } finally {
      server.close();
    }
  },
};
