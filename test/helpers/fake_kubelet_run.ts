// One pod's container as the fake kubelet (fake_kubelet.ts) runs it: the local process, its state
// (listening, restarts, last exit, terminating), its log, and the environment the kubelet gives it
// from the pod spec (values, Secret and ConfigMap keys, the downward API); and how a test says which
// local command runs an image (RunnerFor, nodeRunner).

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import os from 'node:os';
import { kNodeRunnerPath } from '../../src/paths.js';
import type { FakeKubeApi } from './fake_kube_api.js';
import type { ContainerRun } from './fake_kube_pods.js';
import { timestamp, type Json } from './fake_kube_shapes.js';

/**
 * How a pod's container runs here: from its image, a local command (argv) that listens on ip:port and
 * exits when its stdin closes (for the Node runner: `--host IP --port PORT --watch-stdin yes`). `env`
 * is the container's environment as the kubelet resolved it (HOSTNAME = the pod name).
 */
export type RunnerFor = (
  image: string,
  pod: { ip: string; port: number; env: Record<string, string>; name: string; container: Json },
) => { command: string; args: string[] };

const kLogBytes = 64 * 1024;

/**
 * A runnerFor that runs each image as the Node runner (dist/containers/node/runner.js) with a model
 * file (one for all images, or chosen by image), inline (no model thread: many runners share 2 cores).
 */
export function nodeRunner(modelFor: string | ((image: string) => string)): RunnerFor {
  return (image, pod) => {
    const model = typeof modelFor === 'string' ? modelFor : modelFor(image);
    const args = [
      kNodeRunnerPath,
      '--model',
      model,
      '--host',
      pod.ip,
      '--port',
      String(pod.port),
      '--watch-stdin',
      'yes',
      '--isolate',
      'inline',
    ];
    return { command: process.execPath, args };
  };
}

/** Pods to delete first when scaling down: unready ones, then the newest. */
export function victims(runs: PodRun[], count: number): PodRun[] {
  if (count <= 0) return [];
  return [...runs].sort((a, b) => Number(a.ready) - Number(b.ready) || b.seq - a.seq).slice(0, count);
}

/** Pod IP number n as a loopback address 127.x.y.z. */
export function ipOf(n: number): string {
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export class PodRun implements ContainerRun {
  restarts = 0;
  startedAt = '';
  lastExit: ContainerRun['lastExit'] = null;
  child: ChildProcessWithoutNullStreams | null = null;
  /** The runner printed its ready line (the readiness probe passes). */
  listening = false;
  /** setReady(false): the readiness probe fails while the process runs. */
  forcedUnready = false;
  terminating = false;
  gone = false;
  pullAttempts = 0;
  timer: NodeJS.Timeout | null = null;
  /** Event reason|message → Event name, to count repeats up. */
  readonly events = new Map<string, string>();
  #output = '';
  #killTimer: NodeJS.Timeout | null = null;
  #waiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly namespace: string,
    readonly deployment: string,
    readonly hash: string,
    readonly ip: string,
    readonly port: number,
    readonly seq: number,
  ) {}

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  get ready(): boolean {
    return this.listening && this.child !== null && !this.forcedUnready && !this.terminating;
  }

  attach(child: ChildProcessWithoutNullStreams): void {
    this.child = child;
    this.startedAt = timestamp();
    this.listening = false;
  }

  detach(code: number | null, signal: NodeJS.Signals | null): void {
    const exitCode = code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0));
    this.lastExit = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: this.startedAt, finishedAt: timestamp() };
    if (!this.terminating) this.restarts += 1;
    this.child = null;
    this.listening = false;
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
  }

  log(text: string): void {
    this.#output = (this.#output + text).slice(-kLogBytes);
  }

  /** The container's output, or undefined before it ever started. */
  logText(): string | undefined {
    return this.startedAt === '' ? undefined : this.#output;
  }

  /** SIGTERM (SIGKILL after 2 s) and stdin closed; false when no process runs. */
  kill(): boolean {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const child = this.child;
    if (child === null) return false;
    child.kill('SIGTERM');
    child.stdin.end();
    this.#killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
    return true;
  }

  /** The pod is gone: no more restarts; waiters of whenGone() resolve. */
  forget(): void {
    this.gone = true;
    this.terminating = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.child !== null) this.child.kill('SIGKILL');
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  whenGone(): Promise<void> {
    return this.gone ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops the process for good (the kubelet closes); resolves when it exited. */
  shutdown(): Promise<void> {
    this.terminating = true;
    this.gone = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const child = this.child;
    for (const resolve of this.#waiters.splice(0)) resolve();
    if (child === null || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      this.kill();
    });
  }
}

function keyRef(api: FakeKubeApi, resource: 'secrets' | 'configmaps', ns: string, ref: Json): string | undefined {
  const kind = resource === 'secrets' ? 'Secret' : 'ConfigMap';
  const obj = api.get(resource, ns, ref.name);
  if (obj === undefined) {
    if (ref.optional === true) return undefined;
    throw new Error(`${resource === 'secrets' ? 'secret' : 'configmap'} "${ref.name}" not found`);
  }
  const raw = obj.data?.[ref.key];
  if (raw === undefined) {
    if (ref.optional === true) return undefined;
    throw new Error(`couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}`);
  }
  return resource === 'secrets' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
}

function fieldValue(pod: Json, path: string, ip: string): string {
  switch (path) {
    case 'status.podIP':
      return ip;
    case 'status.hostIP':
      return '127.0.0.1';
    default: {
      let v: Json = pod;
      for (const part of path.split('.')) v = v?.[part];
      return v === undefined || v === null ? '' : String(v);
    }
  }
}

/** The container's environment as the kubelet builds it; throws the kubelet's message when a Secret/ConfigMap or key is missing. */
export function resolveEnv(api: FakeKubeApi, pod: Json, container: Json, ip: string): Record<string, string> {
  const ns: string = pod.metadata.namespace;
  const env: Record<string, string> = { HOSTNAME: pod.metadata.name };
  for (const from of container.envFrom ?? []) {
    const resource = from.secretRef !== undefined ? 'secrets' : 'configmaps';
    const ref = from.secretRef ?? from.configMapRef;
    const obj = api.get(resource, ns, ref.name);
    if (obj === undefined) {
      if (ref.optional === true) continue;
      throw new Error(`${resource === 'secrets' ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries<string>(obj.data ?? {})) {
      env[`${from.prefix ?? ''}${k}`] = resource === 'secrets' ? Buffer.from(v, 'base64').toString('utf8') : v;
    }
  }
  for (const e of container.env ?? []) {
    let value: string | undefined;
    if (e.value !== undefined) value = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n) => env[n] ?? m);
    else if (e.valueFrom?.secretKeyRef !== undefined) value = keyRef(api, 'secrets', ns, e.valueFrom.secretKeyRef);
    else if (e.valueFrom?.configMapKeyRef !== undefined) value = keyRef(api, 'configmaps', ns, e.valueFrom.configMapKeyRef);
    else if (e.valueFrom?.fieldRef !== undefined) value = fieldValue(pod, e.valueFrom.fieldRef.fieldPath, ip);
    else value = '';
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}
