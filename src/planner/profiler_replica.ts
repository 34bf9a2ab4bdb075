// The replicas `clipper plan` measures on. By default a dedicated one per model: the runner process
// started from the model's record exactly as the local process manager starts a replica
// (runnerCommand, src/containers/local_process.ts), on this machine, so the sweep neither disturbs
// the replicas that serve traffic nor is disturbed by their queries. A model whose container cannot
// run here (an image, or an entry file this machine does not have) is measured on one of its
// running replicas instead, dialled like a batching worker dials it: replicas serve any number of
// frontend connections. Either way the batches go over the container protocol through the
// ReplicaConnection the workers use (src/rpc/replica_connection.ts), so t(n) includes what a
// worker sees: framing, the socket and the model.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readyPort } from '../containers/container_manager.js';
import { replicaBaseEnv, runnerCommand, stopChildProcess } from '../containers/local_process.js';
import { ClipperError } from '../errors.js';
import type { InputType } from '../input_types.js';
import { ReplicaConnection, type ReplicaConnectionOptions } from '../rpc/replica_connection.js';
import { encodeBatch } from './profile_batch.js';

/** A model's record, as runnerCommand reads it. */
export type RunnableModel = Parameters<typeof runnerCommand>[0];

/** One replica to send batches to, one at a time. */
export interface ReplicaPort {
  /** The outputs of one batch of `inputs` (JSON values of the model's input type), in order. */
  predict(inputs: readonly unknown[]): Promise<unknown[]>;
  close(): Promise<void>;
}

export interface ReplicaTarget {
  model: string;
  version: string;
  inputType: InputType;
}

/** How long a profiling replica has to exit after SIGTERM before it gets SIGKILL. */
const kStopKillAfterMs = 2000;

const kConnectionOptions: ReplicaConnectionOptions = {
  heartbeatMs: 500,
  // A model that computes inline sends no heartbeat while it works: allow long batches.
  livenessTimeoutMs: 60_000,
  handshakeTimeoutMs: 30_000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 1_000,
};

interface Pending {
  n: number;
  resolve(outputs: unknown[]): void;
  reject(err: Error): void;
}

/** Dials the replica listening on host:port; resolves once it is ready (rejects after `timeoutMs`). */
export function connectReplica(
  target: ReplicaTarget,
  host: string,
  port: number,
  replicaId: number,
  timeoutMs: number,
): Promise<ReplicaPort> {
  const pending = new Map<number, Pending>();
  let nextId = 1;
  const name = `${target.model}:${target.version}`;
  return new Promise<ReplicaPort>((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.close('profiling gave up');
      reject(
        new ClipperError('CLP_ERR_DEPLOY_FAILED', `replica of ${name} at ${host}:${port} not ready in ${timeoutMs} ms: ${conn.lastError}`),
      );
    }, timeoutMs);
    const port_: ReplicaPort = {
      predict(inputs) {
        const id = nextId++;
        const message = encodeBatch(id, target.inputType, inputs, target.model);
        return new Promise<unknown[]>((done, fail) => {
          pending.set(id, { n: inputs.length, resolve: done, reject: fail });
          if (!conn.send(message)) {
            pending.delete(id);
            fail(new ClipperError('CLP_ERR_INTERNAL', `replica of ${name}: connection lost (${conn.lastError})`));
          }
        });
      },
      async close() {
        conn.close('profiling done');
      },
    };
    const settle = (id: number, outcome: unknown[] | Error): void => {
      const p = pending.get(id);
      if (p === undefined) return;
      pending.delete(id);
      if (outcome instanceof Error) p.reject(outcome);
      else if (outcome.length !== p.n)
        p.reject(new ClipperError('CLP_ERR_INTERNAL', `${name} answered ${outcome.length} outputs for ${p.n}`));
      else p.resolve(outcome);
    };
    const conn = new ReplicaConnection(
      { model: target.model, version: target.version, inputType: target.inputType, replicaId, host, port, secret: null },
      kConnectionOptions,
      {
        onReady() {
          clearTimeout(timer);
          resolve(port_);
        },
        onDown(_conn, reason, lost) {
          for (const id of lost) settle(id, new ClipperError('CLP_ERR_INTERNAL', `replica of ${name} went down: ${reason}`));
        },
        onResult(_conn, id, outputs) {
          settle(id, outputs);
        },
        onBatchError(_conn, id, message) {
          settle(id, new ClipperError('CLP_ERR_INVALID_ARG', `${name} failed a batch: ${message}`));
        },
      },
    );
  });
}

/** Starts the model's runner on this machine (as the local process manager does) and connects to it. */
export async function startProfilingReplica(model: RunnableModel, timeoutMs: number): Promise<ReplicaPort> {
  const { command, args } = runnerCommand(model);
  const child = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...replicaBaseEnv(process.env), CLIPPER_MODEL_NAME: model.model_name, CLIPPER_MODEL_VERSION: model.model_version },
  });
  child.stdin?.on('error', () => {});
  const target = { model: model.model_name, version: model.model_version, inputType: model.input_type };
  try {
    const port = await readyPortOf(child, `${model.model_name}:${model.model_version}`, timeoutMs);
    const replica = await connectReplica(target, '127.0.0.1', port, 0, timeoutMs);
    return {
      predict: (inputs) => replica.predict(inputs),
      async close() {
        await replica.close();
        await stopChildProcess(child, kStopKillAfterMs);
      },
    };
  } catch (err) {
    await stopChildProcess(child, kStopKillAfterMs);
    throw err;
  }
}

/** The port the runner announces on stdout; rejects with its stderr when it exits or stays silent. */
function readyPortOf(child: ChildProcess, name: string, timeoutMs: number): Promise<number> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-4096);
  });
  return new Promise<number>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new ClipperError('CLP_ERR_DEPLOY_FAILED', `profiling replica of ${name} ${why}${stderr ? `: ${stderr.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`did not start listening within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail(`could not be spawned (${err.message})`));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? `exit code ${code}`})`));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const port = readyPort(line);
      if (port === null) return;
      clearTimeout(timer);
      resolve(port);
    });
  });
}
