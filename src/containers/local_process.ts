// The local-process container manager: each replica is a child process running a model runner
// (containers/node or containers/python) that listens on a port it picks and announces on stdout.
// Replicas that die are restarted with exponential backoff; a first start that fails rejects the
// deploy with the container's stderr. Every child holds our stdin pipe and exits when it closes, so
// no replica outlives the cluster process, even one that is SIGKILLed.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ClipperError } from '../errors.js';
import { frameworkArgs, isFramework, runtimeOfFramework } from '../frameworks.js';
import { kNodeRunnerPath, kPythonInterpreter, kPythonRunnerPath, kRepoRoot } from '../paths.js';
import { runtimeOptionArgs } from '../runtime_options.js';
import { modelKey, type ModelRecord } from '../state/records.js';
import {
  beginRestart,
  endpointOf,
  newReplicaInfo,
  OutputTail,
  readyPort,
  wantedReplicas,
  type ContainerManager,
  type ContainerManagerEvents,
  type ReplicaInfo,
  type ReplicaLogs,
} from './container_manager.js';

export interface LocalProcessOptions {
  /** How long a replica may take from spawn to listening. */
  startTimeoutMs: number;
  restartDelayMsMin: number;
  restartDelayMsMax: number;
  /** Extra environment for every replica. */
  env?: Record<string, string>;
}

export const kLocalProcessDefaults: LocalProcessOptions = {
  startTimeoutMs: 60_000,
  restartDelayMsMin: 100,
  restartDelayMsMax: 5_000,
};

const kStderrTailBytes = 4096;
/** How long a stopped replica has to exit after SIGTERM before it gets SIGKILL. */
const kStopKillAfterMs = 2000;
/** Output kept per replica for `logs()`. */
const kOutputTailBytes = 64 * 1024;

interface Replica {
  info: ReplicaInfo;
  child: ChildProcess | null;
  stderrTail: string;
  output: OutputTail;
  restartTimer: NodeJS.Timeout | null;
  startedAtMs: number;
  wanted: boolean;
}

interface ModelReplicas {
  model: ModelRecord;
  replicas: Map<number, Replica>;
  nextReplicaId: number;
}

export function runnerCommand(model: ModelRecord): { command: string; args: string[] } {
  const spec = model.container;
  const runtime = spec?.runtime ?? (isFramework(spec?.framework) ? runtimeOfFramework(spec.framework) : undefined);
  if (spec === null || runtime === undefined || spec.entry === undefined) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `model ${model.model_name}:${model.model_version} has no runtime (or framework) and entry for a local process`,
    );
  }
  const entry = path.resolve(kRepoRoot, spec.entry);
  // With a framework the runner's own default applies when the spec names no function (onnx: its first output).
  const fn = spec.function ?? (spec.framework === undefined ? 'predict' : undefined);
  const common = [
    '--model',
    entry,
    ...(fn === undefined ? [] : ['--function', fn]),
    '--name',
    model.model_name,
    '--version',
    model.model_version,
    '--input-type',
    model.input_type,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
  ];
  // Checked against the allowlist again (a record may come from a shared store): argv, never a shell.
  const extra = [...frameworkArgs(spec.framework), ...runtimeOptionArgs(spec.options)];
  switch (runtime) {
    case 'node':
      return { command: process.execPath, args: [kNodeRunnerPath, ...common, ...extra] };
    case 'python':
      return { command: kPythonInterpreter, args: [kPythonRunnerPath, ...common, ...extra] };
  }
}

/**
 * The environment a replica inherits from the server: everything but the server's own CLIPPER_*
 * variables (its configuration, which may hold the admin token or a Redis password). Model code runs
 * in the replica and must not be handed the keys to the management API; the replica's own CLIPPER_*
 * variables (model, version, replica id, secret) are added by the caller.
 */
export function replicaBaseEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) if (!name.startsWith('CLIPPER_')) out[name] = value;
  return out;
}

export class LocalProcessManager implements ContainerManager {
  readonly #options: LocalProcessOptions;
  readonly #events: ContainerManagerEvents;
  readonly #models = new Map<string, ModelReplicas>();
  #closed = false;

  constructor(events: ContainerManagerEvents, options: Partial<LocalProcessOptions> = {}) {
    this.#events = events;
    this.#options = { ...kLocalProcessDefaults, ...options };
  }

  async ensure(model: ModelRecord): Promise<void> {
    if (this.#closed) throw new ClipperError('CLP_ERR_INTERNAL', 'container manager is closed');
    const key = modelKey(model.model_name, model.model_version);
    let entry = this.#models.get(key);
    if (entry === undefined) {
      entry = { model, replicas: new Map(), nextReplicaId: 0 };
      this.#models.set(key, entry);
    }
    entry.model = model;
    const live = [...entry.replicas.values()].filter((r) => r.wanted);
    const starts: Array<Promise<void>> = [];
    for (let i = live.length; i < model.num_replicas; i++) starts.push(this.#startReplica(entry, entry.nextReplicaId++));
    for (const replica of live.slice(model.num_replicas)) this.#stopReplica(entry, replica);
    if (starts.length === 0) return;
    // The deploy succeeds when any new replica listens; it fails only if all of them failed.
    const results = await Promise.allSettled(starts);
    if (live.length === 0 && results.every((r) => r.status === 'rejected')) {
      throw (results[0] as PromiseRejectedResult).reason;
    }
  }

  async remove(name: string, version: string): Promise<void> {
    const key = modelKey(name, version);
    const entry = this.#models.get(key);
    if (entry === undefined) return;
    this.#models.delete(key);
    await Promise.all([...entry.replicas.values()].map((r) => this.#stopReplica(entry, r)));
  }

  list(): ReplicaInfo[] {
    return wantedReplicas(this.#models.values());
  }

  async logs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]> {
    const entry = this.#models.get(modelKey(name, version));
    if (entry === undefined) return [];
    return [...entry.replicas.values()]
      .filter((r) => r.wanted)
      .map((r) => ({
        model: name,
        version,
        replicaId: r.info.replicaId,
        containerId: null,
        text: r.output.lines(tailLines),
      }));
  }

  /** Local replicas never outlive the server: nothing to reconcile. */
  async reconcile(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
    const stops: Array<Promise<void>> = [];
    for (const entry of this.#models.values()) {
      for (const replica of entry.replicas.values()) stops.push(this.#stopReplica(entry, replica));
    }
    this.#models.clear();
    await Promise.all(stops);
  }

  #startReplica(entry: ModelReplicas, replicaId: number): Promise<void> {
    const model = entry.model;
    const replica: Replica = {
      info: newReplicaInfo(model, replicaId, 'local'),
      child: null,
      stderrTail: '',
      output: new OutputTail(kOutputTailBytes),
      restartTimer: null,
      startedAtMs: 0,
      wanted: true,
    };
    entry.replicas.set(replicaId, replica);
    return this.#spawn(entry, replica, true);
  }

  /** Start the replica's process; resolves when it listens, rejects when a first start fails. */
  #spawn(entry: ModelReplicas, replica: Replica, firstStart: boolean): Promise<void> {
    const child = this.#launch(entry.model, replica, firstStart);
    const name = `${entry.model.model_name}:${entry.model.model_version} replica ${replica.info.replicaId}`;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        if (ready) return;
        reject(new ClipperError('CLP_ERR_DEPLOY_FAILED', `${name} did not start listening within ${this.#options.startTimeoutMs} ms`));
        child.kill('SIGKILL');
      }, this.#options.startTimeoutMs);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        replica.output.push(`${line}\n`);
        const port = ready ? null : readyPort(line);
        if (port === null) return;
        ready = true;
        clearTimeout(timer);
        replica.info.port = port;
        replica.info.state = 'running';
        this.#events.onReplicaStarted(endpointOf(replica.info));
        resolve();
      });
      /** The process is gone: a first start rejects the deploy; a later one is restarted while wanted. */
      const ended = (reason: string): void => {
        clearTimeout(timer);
        replica.child = null;
        if (!ready && firstStart) {
          replica.wanted = false;
          entry.replicas.delete(replica.info.replicaId);
          reject(new ClipperError('CLP_ERR_DEPLOY_FAILED', reason));
        } else if (!replica.wanted || this.#closed) {
          replica.info.state = 'stopped';
        } else {
          this.#scheduleRestart(entry, replica);
        }
      };
      child.once('error', (err) => {
        clearTimeout(timer);
        // A spawn that fails (ENOENT, EMFILE, EAGAIN…) emits 'error' and no 'exit': settle here.
        if (child.pid !== undefined) return; // a running child's error: its 'exit' follows
        replica.stderrTail = `${name} could not be spawned: ${err.message}`;
        ended(replica.stderrTail);
      });
      child.once('exit', (code, signal) => {
        replica.info.pid = null;
        const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
        const reason = `${name} exited (${how})${replica.stderrTail ? `: ${replica.stderrTail.trim()}` : ''}`;
        if (ready) this.#events.onReplicaStopped(endpointOf(replica.info), reason);
        ended(reason);
      });
    });
  }

  /** Spawn the runner process of a replica, its stderr kept for errors and logs. */
  #launch(model: ModelRecord, replica: Replica, firstStart: boolean): ChildProcess {
    const { command, args } = runnerCommand(model);
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...replicaBaseEnv(process.env),
        ...this.#options.env,
        CLIPPER_MODEL_NAME: model.model_name,
        CLIPPER_MODEL_VERSION: model.model_version,
        CLIPPER_REPLICA_ID: String(replica.info.replicaId),
      },
    });
    replica.child = child;
    replica.stderrTail = '';
    replica.startedAtMs = Date.now();
    replica.info.pid = child.pid ?? null;
    replica.info.state = firstStart ? 'starting' : 'restarting';
    child.stdin?.on('error', () => {});
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      replica.stderrTail = (replica.stderrTail + text).slice(-kStderrTailBytes);
      replica.output.push(text);
    });
    return child;
  }

  #scheduleRestart(entry: ModelReplicas, replica: Replica): void {
    const o = this.#options;
    const delayMs = beginRestart(replica.info, Date.now() - replica.startedAtMs, o.restartDelayMsMin, o.restartDelayMsMax);
    replica.restartTimer = setTimeout(() => {
      replica.restartTimer = null;
      if (!replica.wanted || this.#closed) return;
      this.#spawn(entry, replica, false).catch(() => {
        /* the exit or error handler schedules the next try */
      });
    }, delayMs);
  }

  #stopReplica(entry: ModelReplicas, replica: Replica): Promise<void> {
    replica.wanted = false;
    entry.replicas.delete(replica.info.replicaId);
    if (replica.restartTimer !== null) clearTimeout(replica.restartTimer);
    const child = replica.child;
    replica.info.state = 'stopped';
    return child === null ? Promise.resolve() : stopChildProcess(child, kStopKillAfterMs);
  }
}

/**
 * Stops a child process: SIGTERM and its stdin closed (runners exit when it closes), SIGKILL if it is
 * still alive `killAfterMs` later; resolves once it has exited (at once if it never ran or already ended).
 */
export function stopChildProcess(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const killTimer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
    child.stdin?.end();
  });
}
