// A fake Deployment controller + kubelet on top of the fake Kubernetes API (fake_kube_api.ts): it
// follows Deployments (through api.onChange), keeps a ReplicaSet per pod template and creates,
// replaces and deletes their Pods, and runs each Pod's container as a local process (a model runner)
// bound at the Pod's own IP on loopback (127.0.0.2, 127.0.0.3, …: Linux routes all of 127.0.0.0/8 to
// loopback) and the container port. A Pod turns Running at once and Ready when its runner prints its
// ready line (containers/PROTOCOL.md); it reports ErrImagePull/ImagePullBackOff,
// CreateContainerConfigError (a missing Secret) and CrashLoopBackOff with the kubelet's own wording
// and Warning Events; the Deployment's status is kept as the real controller keeps it. Runners hold
// our stdin pipe (`--watch-stdin yes`), so none outlives a test process that dies.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readyPort } from '../../src/containers/container_manager.js';
import { replicaBaseEnv } from '../../src/containers/local_process.js';
import type { FakeKubeApi } from './fake_kube_api.js';
import { deploymentStatus, newPod, podEvent, replicaSetFor, runningStatus, templateHash, waitingStatus } from './fake_kube_pods.js';
import { timestamp, type Json } from './fake_kube_shapes.js';
import { ipOf, PodRun, resolveEnv, victims, type RunnerFor } from './fake_kubelet_run.js';

export { nodeRunner, type RunnerFor } from './fake_kubelet_run.js';

export interface FakePod {
  name: string;
  namespace: string;
  deployment: string;
  ip: string;
  port: number;
  ready: boolean;
}

export interface FakeKubelet {
  /** Pods this kubelet runs (terminating ones until their process ended). */
  pods(): FakePod[];
  /** Makes images matching this test fail to pull (pods stay Pending with ErrImagePull/ImagePullBackOff + a Warning event). */
  failImagePull(match: (image: string) => boolean, message?: string): void;
  /** Images pull again (pods that were failing start at their next retry). */
  clearImagePullFailures(): void;
  /** Deletes one pod as if evicted (graceful: deletionTimestamp, process stopped, DELETED); the Deployment replaces it unless `replace: false`. */
  deletePod(name: string, options?: { replace?: boolean }): Promise<void>;
  /** Marks a pod unready (readiness probe failing) without killing it, or ready again. */
  setReady(name: string, ready: boolean): void;
  /** Kills every runner process. */
  close(): Promise<void>;
}

export interface FakeKubeletOptions {
  /** The first pod IP handed out as 127.x.y.z (default 2: 127.0.0.2). */
  firstIp?: number;
  runnerFor: RunnerFor;
  /** The first restart delay of a crashed container (doubling, at most 10 s); default 500. */
  restartDelayMs?: number;
  /** How often a failing image pull or a missing Secret is retried; default 1000. */
  retryMs?: number;
}

class Kubelet implements FakeKubelet {
  readonly #api: FakeKubeApi;
  readonly #o: Required<FakeKubeletOptions>;
  readonly #runs = new Map<string, PodRun>();
  /** Pods not to replace per Deployment (deletePod replace:false), until its spec changes. */
  readonly #holdBack = new Map<string, { generation: number; count: number }>();
  readonly #queued = new Set<string>();
  #pullFailures: Array<{ match: (image: string) => boolean; message: string | undefined }> = [];
  #nextIp: number;
  #seq = 0;
  #closed = false;
  readonly #unsubscribe: () => void;

  constructor(api: FakeKubeApi, o: FakeKubeletOptions) {
    this.#api = api;
    this.#o = { firstIp: 2, restartDelayMs: 500, retryMs: 1000, ...o };
    this.#nextIp = this.#o.firstIp;
    this.#unsubscribe = api.onChange((type, resource, obj) => this.#onChange(type, resource, obj));
    api.setLogSource((ns, name) => this.#runs.get(`${ns}/${name}`)?.logText());
    for (const d of api.objects('deployments')) this.#queue(d.metadata.namespace, d.metadata.name);
  }

  #onChange(type: string, resource: string, obj: Json): void {
    if (this.#closed) return;
    const { namespace, name } = obj.metadata;
    if (resource === 'deployments') return this.#queue(namespace, name);
    const run = resource === 'pods' ? this.#runs.get(`${namespace}/${name}`) : undefined;
    if (run === undefined) return;
    if (type === 'DELETED') setImmediate(() => this.#forget(run));
    else if (obj.metadata.deletionTimestamp !== undefined && !run.terminating) setImmediate(() => this.#stop(run));
  }

  #queue(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (this.#queued.has(key) || this.#closed) return;
    this.#queued.add(key);
    setImmediate(() => {
      this.#queued.delete(key);
      this.#reconcile(namespace, name);
    });
  }

  /** The Deployment controller: one ReplicaSet per template, pods up to spec.replicas, old-template pods kept until new ones are ready. */
  #reconcile(namespace: string, name: string): void {
    if (this.#closed) return;
    const dep = this.#api.get('deployments', namespace, name);
    if (dep === undefined || dep.metadata.deletionTimestamp !== undefined) return;
    const hash = templateHash(dep.spec.template);
    const desired = Math.max(0, (dep.spec.replicas ?? 1) - this.#heldBack(dep));
    const rs = this.#replicaSet(dep, hash, desired);
    const live = this.#live(namespace, name);
    const current = live.filter((r) => r.hash === hash);
    const old = live.filter((r) => r.hash !== hash);
    for (let i = current.length; i < desired; i++) this.#createPod(rs, name, hash);
    for (const r of victims(current, current.length - desired)) this.#delete(r);
    const readyNew = current.filter((r) => r.ready).length;
    for (const r of victims(old, old.length - Math.max(0, desired - readyNew))) this.#delete(r);
    this.#writeStatus(namespace, name);
  }

  #live(namespace: string, deployment: string): PodRun[] {
    return [...this.#runs.values()].filter((r) => r.namespace === namespace && r.deployment === deployment && !r.terminating);
  }

  #heldBack(dep: Json): number {
    const key = `${dep.metadata.namespace}/${dep.metadata.name}`;
    const hold = this.#holdBack.get(key);
    if (hold === undefined || hold.generation !== dep.metadata.generation) {
      this.#holdBack.delete(key);
      return 0;
    }
    return hold.count;
  }

  #replicaSet(dep: Json, hash: string, desired: number): Json {
    const name = `${dep.metadata.name}-${hash}`;
    const existing = this.#api.get('replicasets', dep.metadata.namespace, name);
    if (existing !== undefined) return existing;
    const siblings = this.#api
      .objects('replicasets', dep.metadata.namespace)
      .filter((rs) => rs.metadata.ownerReferences?.[0]?.uid === dep.metadata.uid);
    const revision = 1 + Math.max(0, ...siblings.map((rs) => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)));
    return this.#api.upsert('replicasets', replicaSetFor(dep, hash, desired, revision));
  }

  #createPod(rs: Json, deployment: string, hash: string): void {
    const pod = this.#api.upsert('pods', newPod(rs));
    const port = pod.spec.containers[0]?.ports?.[0]?.containerPort ?? 7000;
    const run = new PodRun(pod.metadata.name, pod.metadata.namespace, deployment, hash, ipOf(this.#nextIp++), port, ++this.#seq);
    if ((this.#nextIp & 255) === 255) this.#nextIp += 3;
    this.#runs.set(run.key, run);
    this.#event(run, 'Normal', 'Scheduled', `Successfully assigned ${run.namespace}/${run.name} to fake-node`, 'default-scheduler');
    setImmediate(() => this.#start(run));
  }

  /** Starts the pod's container: pull (may fail), resolve its env (may fail), spawn the runner. */
  #start(run: PodRun): void {
    run.timer = null;
    if (run.terminating || this.#closed) return;
    const pod = this.#api.get('pods', run.namespace, run.name);
    if (pod === undefined) return this.#forget(run);
    const container = pod.spec.containers[0];
    const failure = this.#pullFailures.find((f) => f.match(container.image));
    if (failure !== undefined) return this.#pullFailed(run, pod, container.image, failure.message);
    let env: Record<string, string>;
    try {
      env = resolveEnv(this.#api, pod, container, run.ip);
    } catch (err) {
      const message = (err as Error).message;
      this.#setStatus(run, waitingStatus(pod, run, 'CreateContainerConfigError', message));
      this.#event(run, 'Warning', 'Failed', `Error: ${message}`);
      run.timer = setTimeout(() => this.#start(run), this.#o.retryMs);
      return;
    }
    const { command, args } = this.#o.runnerFor(container.image, { ip: run.ip, port: run.port, env, name: run.name, container });
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...replicaBaseEnv(process.env), ...env } });
    run.attach(child);
    child.stdin.on('error', () => {});
    child.stderr.setEncoding('utf8').on('data', (text: string) => run.log(text));
    createInterface({ input: child.stdout }).on('line', (line) => {
      run.log(`${line}\n`);
      if (run.listening || readyPort(line) === null) return;
      run.listening = true;
      this.#running(run);
      this.#queue(run.namespace, run.deployment);
    });
    child.once('exit', (code, signal) => this.#exited(run, code, signal));
    child.once('error', (err) => run.log(`${err.message}\n`));
    this.#running(run);
    this.#event(run, 'Normal', 'Started', `Started container ${container.name}`);
  }

  #running(run: PodRun): void {
    const pod = this.#api.get('pods', run.namespace, run.name);
    if (pod !== undefined) this.#setStatus(run, runningStatus(pod, run, run.ready));
  }

  #exited(run: PodRun, code: number | null, signal: NodeJS.Signals | null): void {
    run.detach(code, signal);
    if (this.#closed || run.gone) return;
    if (run.terminating) return this.#finish(run);
    const pod = this.#api.get('pods', run.namespace, run.name);
    if (pod === undefined) return this.#forget(run);
    const delayMs = Math.min(10_000, this.#o.restartDelayMs * 2 ** Math.min(run.restarts - 1, 5));
    const backoff = `back-off ${Math.ceil(delayMs / 1000) * 10}s restarting failed container=${pod.spec.containers[0].name} pod=${run.name}_${run.namespace}(${pod.metadata.uid})`;
    this.#setStatus(run, waitingStatus(pod, run, 'CrashLoopBackOff', backoff));
    this.#event(
      run,
      'Warning',
      'BackOff',
      `Back-off restarting failed container ${pod.spec.containers[0].name} in pod ${run.name}_${run.namespace}(${pod.metadata.uid})`,
    );
    this.#queue(run.namespace, run.deployment);
    run.timer = setTimeout(() => this.#start(run), delayMs);
  }

  #pullFailed(run: PodRun, pod: Json, image: string, message: string | undefined): void {
    run.pullAttempts += 1;
    const why =
      message ??
      `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`;
    if (run.pullAttempts % 2 === 1) {
      this.#setStatus(run, waitingStatus(pod, run, 'ErrImagePull', why));
      this.#event(run, 'Warning', 'Failed', `Failed to pull image "${image}": ${why}`);
      this.#event(run, 'Warning', 'Failed', 'Error: ErrImagePull');
    } else {
      this.#setStatus(run, waitingStatus(pod, run, 'ImagePullBackOff', `Back-off pulling image "${image}"`));
      this.#event(run, 'Normal', 'BackOff', `Back-off pulling image "${image}"`);
      this.#event(run, 'Warning', 'Failed', 'Error: ImagePullBackOff');
    }
    run.timer = setTimeout(() => this.#start(run), this.#o.retryMs);
  }

  #setStatus(run: PodRun, status: Json): void {
    const pod = this.#api.get('pods', run.namespace, run.name);
    if (pod === undefined || run.gone) return;
    pod.status = status;
    this.#api.upsert('pods', pod);
  }

  /** An Event about the pod; the same reason and message again counts up the existing one. */
  #event(run: PodRun, type: 'Normal' | 'Warning', reason: string, message: string, component = 'kubelet'): void {
    const key = `${reason}|${message}`;
    const known = run.events.get(key);
    const existing = known === undefined ? undefined : this.#api.get('events', run.namespace, known);
    if (existing !== undefined) {
      existing.count += 1;
      existing.lastTimestamp = timestamp();
      this.#api.upsert('events', existing);
      return;
    }
    const pod = this.#api.get('pods', run.namespace, run.name);
    if (pod === undefined) return;
    const event = this.#api.upsert('events', podEvent(pod, type, reason, message, component));
    run.events.set(key, event.metadata.name);
  }

  /** Graceful deletion as the controller does it: deletionTimestamp (MODIFIED), then the process stops, then DELETED. */
  #delete(run: PodRun): void {
    run.terminating = true;
    const pod = this.#api.get('pods', run.namespace, run.name);
    if (pod !== undefined && pod.metadata.deletionTimestamp === undefined) {
      const graceS = pod.spec.terminationGracePeriodSeconds ?? 30;
      pod.metadata.deletionTimestamp = timestamp(Date.now() + graceS * 1000);
      pod.metadata.deletionGracePeriodSeconds = graceS;
      this.#api.upsert('pods', pod);
    }
    this.#stop(run);
  }

  /** Stops the container (SIGTERM, then SIGKILL after 2 s); the pod goes away when it exited. */
  #stop(run: PodRun): void {
    run.terminating = true;
    this.#queue(run.namespace, run.deployment);
    if (!run.kill()) this.#finish(run);
  }

  #finish(run: PodRun): void {
    if (this.#api.get('pods', run.namespace, run.name) !== undefined) this.#api.remove('pods', run.namespace, run.name);
    this.#forget(run);
  }

  #forget(run: PodRun): void {
    if (run.gone) return;
    run.forget();
    this.#runs.delete(run.key);
    if (!this.#closed) this.#queue(run.namespace, run.deployment);
  }

  /** The Deployment's and its ReplicaSets' status from the pods, written only when it changed. */
  #writeStatus(namespace: string, name: string): void {
    const dep = this.#api.get('deployments', namespace, name);
    if (dep === undefined) return;
    const hash = templateHash(dep.spec.template);
    const live = this.#live(namespace, name);
    const counts = {
      replicas: live.length,
      updated: live.filter((r) => r.hash === hash).length,
      ready: live.filter((r) => r.ready).length,
    };
    const status = deploymentStatus(dep, counts, `${name}-${hash}`);
    if (JSON.stringify(status) !== JSON.stringify(dep.status)) this.#api.upsert('deployments', { ...dep, status });
    for (const rs of this.#api.objects('replicasets', namespace)) {
      if (rs.metadata.ownerReferences?.[0]?.uid !== dep.metadata.uid) continue;
      const mine = live.filter((r) => `${name}-${r.hash}` === rs.metadata.name);
      const replicas = rs.metadata.name === `${name}-${hash}` ? (dep.spec.replicas ?? 1) : mine.length;
      const ready = mine.filter((r) => r.ready).length;
      const rsStatus = {
        replicas: mine.length,
        fullyLabeledReplicas: mine.length,
        readyReplicas: ready,
        availableReplicas: ready,
        observedGeneration: rs.metadata.generation,
      };
      if (rs.spec.replicas !== replicas || JSON.stringify(rs.status) !== JSON.stringify(rsStatus)) {
        this.#api.upsert('replicasets', { ...rs, spec: { ...rs.spec, replicas }, status: rsStatus });
      }
    }
  }

  pods(): FakePod[] {
    return [...this.#runs.values()].map((r) => ({
      name: r.name,
      namespace: r.namespace,
      deployment: r.deployment,
      ip: r.ip,
      port: r.port,
      ready: r.ready,
    }));
  }

  failImagePull(match: (image: string) => boolean, message?: string): void {
    this.#pullFailures.push({ match, message });
  }

  clearImagePullFailures(): void {
    this.#pullFailures = [];
  }

  async deletePod(name: string, options: { replace?: boolean } = {}): Promise<void> {
    const run = [...this.#runs.values()].find((r) => r.name === name);
    if (run === undefined)
      throw new Error(
        `the fake kubelet runs no pod named ${name} (it runs: ${
          this.pods()
            .map((p) => p.name)
            .join(', ') || 'none'
        })`,
      );
    if (options.replace === false) {
      const dep = this.#api.get('deployments', run.namespace, run.deployment);
      if (dep !== undefined) {
        const key = `${run.namespace}/${run.deployment}`;
        const count = this.#heldBack(dep) + 1;
        this.#holdBack.set(key, { generation: dep.metadata.generation, count });
      }
    }
    const gone = run.whenGone();
    this.#delete(run);
    await gone;
  }

  setReady(name: string, ready: boolean): void {
    const run = [...this.#runs.values()].find((r) => r.name === name);
    if (run === undefined) throw new Error(`the fake kubelet runs no pod named ${name}`);
    run.forcedUnready = !ready;
    if (run.startedAt !== '') this.#running(run);
    this.#queue(run.namespace, run.deployment);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    const runs = [...this.#runs.values()];
    await Promise.all(runs.map((r) => r.shutdown()));
    this.#runs.clear();
  }
}

export function startFakeKubelet(api: FakeKubeApi, o: FakeKubeletOptions): FakeKubelet {
  return new Kubelet(api, o);
}
