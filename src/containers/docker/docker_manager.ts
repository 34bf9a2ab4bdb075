// The Docker container manager: each replica is a container of the model's image, labelled with
// the cluster, model, version and replica, publishing the runner's port on 127.0.0.1 only (the
// batching worker dials 127.0.0.1:<published port>, never a bridge address). Containers that exit
// or turn unhealthy are restarted with backoff; containers of this cluster found at start-up are
// adopted when their spec still matches, and removed when no model wants them (reconcile).

import type Docker from 'dockerode';
import { PassThrough, type Duplex } from 'node:stream';
import { createInterface } from 'node:readline';
import { ClipperError } from '../../errors.js';
import { modelKey, type ModelRecord } from '../../state/records.js';
import {
  OutputTail, wantedReplicas, type ContainerManager, type ContainerManagerEvents, type ReplicaEndpoint,
  type ReplicaInfo, type ReplicaLogs,
} from '../container_manager.js';
import { demuxLogs, dockerErrorText, dockerStatusCode, kLabelCluster, kLabelModel, kLabelReplica, kLabelSpec, kLabelVersion } from './engine.js';
import { containerCreateOptions, publishedPort, replicaSpecHash, type HealthTiming } from './replica_container.js';
import { backoffDelayMs } from '../../lib/backoff.js';

export interface DockerManagerOptions {
  clusterName: string;
  /**
   * The image a model version runs (built, found or pulled): its tag, shown to users, and its id,
   * which containers are created from (a tag another cluster rebuilds cannot change what runs).
   */
  prepareImage: (model: ModelRecord) => Promise<{ tag: string; id: string }>;
  /** From container start to the runner's ready line. */
  startTimeoutMs: number;
  restartDelayMsMin: number;
  restartDelayMsMax: number;
  /** How often the engine is asked for every replica's state and health. */
  healthPollMs: number;
  /** Grace period of `docker stop` before SIGKILL. */
  stopTimeoutS: number;
  /** Port the runner listens on inside the container. */
  containerPort: number;
  /** Health check timing instead of the image's (model images: every 5 s, 3 retries, 30 s start period). */
  health?: HealthTiming;
}

export const kDockerManagerDefaults: Omit<DockerManagerOptions, 'clusterName' | 'prepareImage'> = {
  startTimeoutMs: 60_000,
  restartDelayMsMin: 100,
  restartDelayMsMax: 5_000,
  healthPollMs: 2_000,
  stopTimeoutS: 2,
  containerPort: 7000,
};

const kOutputTailBytes = 64 * 1024;

interface Replica {
  info: ReplicaInfo;
  container: Docker.Container | null;
  output: OutputTail;
  wanted: boolean;
  ready: boolean;
  restartTimer: NodeJS.Timeout | null;
  startedAtMs: number;
  /** Bumped by every start, so a late exit notice of an earlier run is ignored. */
  run: number;
}

interface ModelReplicas {
  model: ModelRecord;
  replicas: Map<number, Replica>;
  nextReplicaId: number;
  /** Containers of this model version found at start-up, not yet adopted or removed. */
  found: Docker.ContainerInfo[];
}

export class DockerManager implements ContainerManager {
  readonly #docker: Docker;
  readonly #events: ContainerManagerEvents;
  readonly #options: DockerManagerOptions;
  readonly #models = new Map<string, ModelReplicas>();
  /** This cluster's containers found at start-up, by model key (taken by ensure(), the rest by reconcile()). */
  readonly #found: Promise<Map<string, Docker.ContainerInfo[]>>;
  readonly #healthTimer: NodeJS.Timeout;
  #closed = false;

  constructor(docker: Docker, events: ContainerManagerEvents, options: Partial<DockerManagerOptions> & Pick<DockerManagerOptions, 'clusterName' | 'prepareImage'>) {
    this.#docker = docker;
    this.#events = events;
    this.#options = { ...kDockerManagerDefaults, ...options };
    this.#found = this.#listOwn().then((all) => {
      const byKey = new Map<string, Docker.ContainerInfo[]>();
      for (const c of all) {
        const key = modelKey(c.Labels[kLabelModel] ?? '', c.Labels[kLabelVersion] ?? '');
        byKey.set(key, [...byKey.get(key) ?? [], c]);
      }
      return byKey;
    }, (err: unknown) => {
      // Not fatal: nothing is adopted, and leftovers wait for a later start's reconcile.
      process.stderr.write(`clipper: listing this cluster's containers failed (${dockerErrorText(err)}); none adopted\n`);
      return new Map<string, Docker.ContainerInfo[]>();
    });
    this.#healthTimer = setInterval(() => void this.#pollHealth(), this.#options.healthPollMs);
    this.#healthTimer.unref();
  }

  async ensure(model: ModelRecord): Promise<void> {
    if (this.#closed) throw new ClipperError('CLP_ERR_INTERNAL', 'container manager is closed');
    const key = modelKey(model.model_name, model.model_version);
    let entry = this.#models.get(key);
    if (entry === undefined) {
      const found = (await this.#found).get(key) ?? [];
      (await this.#found).delete(key);
      entry = this.#models.get(key); // another ensure() may have raced us here
      if (entry === undefined) {
        entry = { model, replicas: new Map(), nextReplicaId: 0, found };
        this.#models.set(key, entry);
      }
    }
    entry.model = model;
    await this.#adoptFound(entry);
    const live = [...entry.replicas.values()].filter((r) => r.wanted);
    const starts: Array<Promise<void>> = [];
    for (let i = live.length; i < model.num_replicas; i++) starts.push(this.#startReplica(entry, entry.nextReplicaId++));
    await Promise.all(live.slice(model.num_replicas).map((r) => this.#stopReplica(entry, r)));
    if (starts.length === 0) return;
    const results = await Promise.allSettled(starts);
    if (live.length === 0 && results.every((r) => r.status === 'rejected')) {
      throw (results[0] as PromiseRejectedResult).reason;
    }
  }

  async remove(name: string, version: string): Promise<void> {
    const key = modelKey(name, version);
    const entry = this.#models.get(key);
    const found = (await this.#found.catch(() => new Map<string, Docker.ContainerInfo[]>())).get(key) ?? [];
    await Promise.all(found.map((c) => this.#removeContainer(this.#docker.getContainer(c.Id))));
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
    const replicas = [...entry.replicas.values()].filter((r) => r.wanted);
    return Promise.all(replicas.map(async (r) => {
      let text = r.output.lines(tailLines);
      if (r.container !== null) {
        try {
          const raw = await r.container.logs({ stdout: true, stderr: true, tail: tailLines, follow: false });
          text = demuxLogs(raw as unknown as Buffer);
        } catch { /* the container is gone: the output we kept is all there is */ }
      }
      return { model: name, version, replicaId: r.info.replicaId, containerId: r.info.containerId, text };
    }));
  }

  async reconcile(wanted: ReadonlySet<string>): Promise<void> {
    const found = await this.#found;
    const orphans: Docker.ContainerInfo[] = [];
    for (const [key, list] of found) {
      if (wanted.has(key)) continue;
      orphans.push(...list);
      found.delete(key);
    }
    await Promise.all(orphans.map((c) => this.#removeContainer(this.#docker.getContainer(c.Id))));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#healthTimer);
    const stops: Array<Promise<void>> = [];
    for (const entry of this.#models.values()) {
      for (const r of entry.replicas.values()) stops.push(this.#stopReplica(entry, r));
    }
    this.#models.clear();
    await Promise.all(stops);
  }

  #listOwn(): Promise<Docker.ContainerInfo[]> {
    return this.#docker.listContainers({ all: true, filters: { label: [`${kLabelCluster}=${this.#options.clusterName}`] } });
  }

  #newReplica(entry: ModelReplicas, replicaId: number): Replica {
    const m = entry.model;
    const replica: Replica = {
      info: { model: m.model_name, version: m.model_version, replicaId, host: '127.0.0.1', port: 0, state: 'starting',
        pid: null, restartCount: 0, manager: 'docker', containerId: null, image: null, health: 'none' },
      container: null, output: new OutputTail(kOutputTailBytes), wanted: true, ready: false, restartTimer: null,
      startedAtMs: 0, run: 0,
    };
    entry.replicas.set(replicaId, replica);
    return replica;
  }

  /** Containers found at start-up for this model: adopt those that match (up to num_replicas), remove the rest. */
  async #adoptFound(entry: ModelReplicas): Promise<void> {
    const found = entry.found;
    entry.found = [];
    const hash = replicaSpecHash(entry.model);
    const adopt: Array<Promise<void>> = [];
    for (const c of found) {
      const replicaId = Number(c.Labels[kLabelReplica]);
      const live = [...entry.replicas.values()].filter((r) => r.wanted).length;
      if (c.Labels[kLabelSpec] !== hash || !Number.isInteger(replicaId) || entry.replicas.has(replicaId) ||
          live >= entry.model.num_replicas) {
        adopt.push(this.#removeContainer(this.#docker.getContainer(c.Id)));
        continue;
      }
      entry.nextReplicaId = Math.max(entry.nextReplicaId, replicaId + 1);
      const replica = this.#newReplica(entry, replicaId);
      replica.container = this.#docker.getContainer(c.Id);
      replica.info.containerId = c.Id;
      replica.info.image = c.Image;
      adopt.push(c.State === 'running'
        ? this.#adoptRunning(entry, replica)
        : this.#run(entry, replica, false).catch(() => this.#retryLater(entry, replica)));
    }
    await Promise.all(adopt);
  }

  /** A running container from before: serve it if its runner said it was ready, else restart it. */
  async #adoptRunning(entry: ModelReplicas, replica: Replica): Promise<void> {
    const container = replica.container!;
    try {
      const inspect = await container.inspect();
      const since = Math.floor(Date.parse(inspect.State.StartedAt) / 1000);
      const text = demuxLogs(await container.logs({ stdout: true, stderr: false, since, follow: false }) as unknown as Buffer);
      const port = publishedPort(inspect, this.#options.containerPort);
      if (port === null || !text.includes('"clipper_ready":true')) throw new Error('not ready');
      replica.ready = true;
      replica.run++;
      replica.startedAtMs = Date.parse(inspect.State.StartedAt);
      replica.info.port = port;
      replica.info.state = 'running';
      this.#watchExit(entry, replica, replica.run);
      this.#events.onReplicaStarted(endpointOf(replica));
    } catch {
      await container.stop({ t: this.#options.stopTimeoutS }).catch(() => {});
      await this.#run(entry, replica, false).catch(() => this.#retryLater(entry, replica));
    }
  }

  /** A start that failed before its exit could be watched: try again with backoff while wanted. */
  #retryLater(entry: ModelReplicas, replica: Replica): void {
    if (replica.wanted && !this.#closed && !replica.ready) this.#scheduleRestart(entry, replica);
  }

  async #startReplica(entry: ModelReplicas, replicaId: number): Promise<void> {
    const replica = this.#newReplica(entry, replicaId);
    try {
      await this.#create(entry, replica);
      await this.#run(entry, replica, true);
    } catch (err) {
      replica.wanted = false;
      entry.replicas.delete(replicaId);
      if (replica.container !== null) await this.#removeContainer(replica.container);
      throw err;
    }
  }

  async #create(entry: ModelReplicas, replica: Replica): Promise<void> {
    const m = entry.model;
    const image = await this.#options.prepareImage(m);
    const stopped = (): ClipperError => new ClipperError('CLP_ERR_DEPLOY_FAILED', 'the replica was stopped while its container was made');
    if (!replica.wanted || this.#closed) throw stopped();
    let container: Docker.Container;
    try {
      container = await this.#docker.createContainer(
        containerCreateOptions(m, replica.info.replicaId, image.id, this.#options.clusterName, this.#options.containerPort,
          this.#options.health));
    } catch (err) {
      throw new ClipperError('CLP_ERR_DEPLOY_FAILED', `cannot create a container of ${image.tag}: ${dockerErrorText(err)}`);
    }
    // Stopped (scaled down, deleted, shut down) while the engine created it: nobody else will remove it.
    if (!replica.wanted || this.#closed) {
      await this.#removeContainer(container);
      throw stopped();
    }
    replica.container = container;
    replica.info.containerId = container.id;
    replica.info.image = image.tag;
  }

  /** Start (or restart) the replica's container and wait for the runner's ready line. */
  async #run(entry: ModelReplicas, replica: Replica, firstStart: boolean): Promise<void> {
    const container = replica.container!;
    const run = ++replica.run;
    replica.ready = false;
    replica.info.state = firstStart ? 'starting' : 'restarting';
    const stream = await container.attach({ stream: true, stdout: true, stderr: true }) as unknown as Duplex;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.#docker.modem.demuxStream(stream, stdout, stderr);
    stream.on('end', () => { stdout.end(); stderr.end(); });
    stderr.setEncoding('utf8');
    stderr.on('data', (text: string) => replica.output.push(text));
    let timer: NodeJS.Timeout | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`did not print its ready line within ${this.#options.startTimeoutMs} ms`)),
        this.#options.startTimeoutMs);
      createInterface({ input: stdout }).on('line', (line) => {
        replica.output.push(`${line}\n`);
        if (line.startsWith('{') && line.includes('"clipper_ready":true')) { clearTimeout(timer); resolve(); }
      });
      stdout.on('end', () => { clearTimeout(timer); reject(new Error('exited before it was ready')); });
    });
    ready.catch(() => {});
    try {
      await container.start();
      replica.startedAtMs = Date.now();
      this.#watchExit(entry, replica, run);
      await ready;
      const port = publishedPort(await container.inspect(), this.#options.containerPort);
      if (port === null) throw new Error(`publishes no port for ${this.#options.containerPort}/tcp`);
      if (replica.run !== run || !replica.wanted) return;
      replica.ready = true;
      replica.info.port = port;
      replica.info.state = 'running';
      this.#events.onReplicaStarted(endpointOf(replica));
    } catch (err) {
      clearTimeout(timer);
      stream.destroy(); // a failed start must not leave its attach (and a second copy of every line) behind
      const name = `${entry.model.model_name}:${entry.model.model_version} replica ${replica.info.replicaId}`;
      const output = replica.output.lines(40).trim();
      if (replica.run === run) await container.kill().catch(() => {});
      throw new ClipperError('CLP_ERR_DEPLOY_FAILED',
        `${name} (container ${container.id.slice(0, 12)}) ${err instanceof ClipperError ? err.message : dockerErrorText(err)}` +
        `${output ? `: ${output}` : ''}`);
    }
  }

  /** When the container stops: report it, then restart it with backoff while the replica is wanted. */
  #watchExit(entry: ModelReplicas, replica: Replica, run: number): void {
    const container = replica.container!;
    const exited = (how: string): void => {
      if (replica.run !== run) return;
      const wasReady = replica.ready;
      replica.ready = false;
      replica.run++; // this run is over: a late ready line or exit notice of it changes nothing
      const reason = `${entry.model.model_name}:${entry.model.model_version} replica ${replica.info.replicaId} ${how}`;
      if (wasReady) this.#events.onReplicaStopped(endpointOf(replica), reason);
      if (!replica.wanted || this.#closed) { replica.info.state = 'stopped'; return; }
      if (!wasReady && replica.info.state === 'starting') return; // a first start: #run rejects the deploy
      this.#scheduleRestart(entry, replica);
    };
    container.wait({ condition: 'not-running' }).then(
      (r: { StatusCode?: number }) => exited(`exited (code ${r.StatusCode ?? '?'})`),
      (err: unknown) => exited(`is gone (${dockerErrorText(err)})`));
  }

  #scheduleRestart(entry: ModelReplicas, replica: Replica): void {
    if (replica.restartTimer !== null) return; // the exit notice and the failed start both ask
    const o = this.#options;
    if (Date.now() - replica.startedAtMs > 10 * o.restartDelayMsMax) replica.info.restartCount = 0;
    const delayMs = backoffDelayMs(replica.info.restartCount, o.restartDelayMsMin, o.restartDelayMsMax);
    replica.info.restartCount++;
    replica.info.state = 'restarting';
    replica.restartTimer = setTimeout(() => {
      replica.restartTimer = null;
      if (!replica.wanted || this.#closed) return;
      void this.#restart(entry, replica);
    }, delayMs);
  }

  async #restart(entry: ModelReplicas, replica: Replica): Promise<void> {
    try {
      await this.#run(entry, replica, false);
    } catch (err) {
      if (!replica.wanted || this.#closed) return;
      if (dockerStatusCode((err as { cause?: unknown }).cause) === 404 || /No such container|no such container/.test(String(err))) {
        // Removed behind our back: make a new container for this replica.
        try { await this.#create(entry, replica); } catch { /* retried below */ }
      }
      if (replica.restartTimer === null && !replica.ready) this.#scheduleRestart(entry, replica);
    }
  }

  async #stopReplica(entry: ModelReplicas, replica: Replica): Promise<void> {
    replica.wanted = false;
    entry.replicas.delete(replica.info.replicaId);
    if (replica.restartTimer !== null) clearTimeout(replica.restartTimer);
    replica.info.state = 'stopped';
    if (replica.ready) {
      replica.ready = false;
      this.#events.onReplicaStopped(endpointOf(replica), 'replica stopped');
    }
    if (replica.container !== null) await this.#removeContainer(replica.container);
  }

  async #removeContainer(container: Docker.Container): Promise<void> {
    await container.stop({ t: this.#options.stopTimeoutS }).catch(() => {});
    await container.remove({ force: true }).catch((err: unknown) => {
      const status = dockerStatusCode(err);
      if (status !== 404 && status !== 409) process.stderr.write(`clipper: cannot remove container ${container.id}: ${dockerErrorText(err)}\n`);
    });
  }

  /** Health and liveness from one list call: unhealthy replicas are killed (and so restarted). */
  async #pollHealth(): Promise<void> {
    if (this.#closed || this.#models.size === 0) return;
    let all: Docker.ContainerInfo[];
    try { all = await this.#listOwn(); } catch { return; }
    const byId = new Map(all.map((c) => [c.Id, c]));
    for (const entry of this.#models.values()) {
      for (const r of entry.replicas.values()) {
        const c = r.info.containerId === null ? undefined : byId.get(r.info.containerId);
        if (c === undefined) continue;
        r.info.health = /\(unhealthy\)/.test(c.Status) ? 'unhealthy' : /\(healthy\)/.test(c.Status) ? 'healthy'
          : /health: starting/.test(c.Status) ? 'starting' : 'none';
        if (r.info.health === 'unhealthy' && r.ready && r.wanted && r.container !== null) {
          r.output.push('clipper: the container is unhealthy; restarting it\n');
          void r.container.kill().catch(() => {});
        }
      }
    }
  }
}

function endpointOf(replica: Replica): ReplicaEndpoint {
  const { model, version, replicaId, host, port } = replica.info;
  return { model, version, replicaId, host, port };
}
