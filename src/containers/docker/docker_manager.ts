// The Docker container manager: each replica is a container of the model's image, labelled with
// the cluster, model, version and replica, publishing the runner's port on 127.0.0.1 only (the
// batching worker dials 127.0.0.1:<published port>, never a bridge address). Containers that exit
// or turn unhealthy are restarted with backoff; containers of this cluster found at start-up are
// adopted when their spec still matches, and removed when no model wants them (reconcile).

import type Docker from 'dockerode';
import { ClipperError } from '../../errors.js';
import { modelKey, type ModelRecord } from '../../state/records.js';
import {
  endpointOf,
  newReplicaInfo,
  hasReadyLine,
  OutputTail,
  wantedReplicas,
  type ContainerManager,
  type ContainerManagerEvents,
  type ReplicaInfo,
  type ReplicaLogs,
} from '../container_manager.js';
import { kDockerManagerDefaults, type DockerManagerOptions } from './docker_options.js';
import { demuxLogs, dockerErrorText, kLabelCluster, kLabelModel, kLabelReplica, kLabelSpec, kLabelVersion } from './engine.js';
import { healthOf, publishedPort, replicaSpecHash } from './replica_container.js';
import { ReplicaRunner, type DockerReplica, type ModelReplicas } from './replica_runner.js';

export { kDockerManagerDefaults, type DockerManagerOptions } from './docker_options.js';

const kOutputTailBytes = 64 * 1024;

export class DockerManager implements ContainerManager {
  readonly #docker: Docker;
  readonly #events: ContainerManagerEvents;
  readonly #options: DockerManagerOptions;
  readonly #models = new Map<string, ModelReplicas>();
  /** This cluster's containers found at start-up, by model key (taken by ensure(), the rest by reconcile()). */
  readonly #found: Promise<Map<string, Docker.ContainerInfo[]>>;
  readonly #healthTimer: NodeJS.Timeout;
  readonly #runner: ReplicaRunner;
  #closed = false;

  constructor(
    docker: Docker,
    events: ContainerManagerEvents,
    options: Partial<DockerManagerOptions> & Pick<DockerManagerOptions, 'clusterName' | 'prepareImage'>,
  ) {
    this.#docker = docker;
    this.#events = events;
    this.#options = { ...kDockerManagerDefaults, ...options };
    this.#runner = new ReplicaRunner(docker, this.#options, events);
    this.#found = this.#listOwn().then(
      (all) => {
        const byKey = new Map<string, Docker.ContainerInfo[]>();
        for (const c of all) {
          const key = modelKey(c.Labels[kLabelModel] ?? '', c.Labels[kLabelVersion] ?? '');
          byKey.set(key, [...(byKey.get(key) ?? []), c]);
        }
        return byKey;
      },
      (err: unknown) => {
        // Not fatal: nothing is adopted, and leftovers wait for a later start's reconcile.
        process.stderr.write(`clipper: listing this cluster's containers failed (${dockerErrorText(err)}); none adopted\n`);
        return new Map<string, Docker.ContainerInfo[]>();
      },
    );
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
    await Promise.all(found.map((c) => this.#runner.removeContainer(this.#docker.getContainer(c.Id))));
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
    return Promise.all(
      replicas.map(async (r) => {
        let text = r.output.lines(tailLines);
        if (r.container !== null) {
          try {
            const raw = await r.container.logs({ stdout: true, stderr: true, tail: tailLines, follow: false });
            text = demuxLogs(raw as unknown as Buffer);
          } catch {
            /* the container is gone: the output we kept is all there is */
          }
        }
        return { model: name, version, replicaId: r.info.replicaId, containerId: r.info.containerId, text };
      }),
    );
  }

  async reconcile(wanted: ReadonlySet<string>): Promise<void> {
    const found = await this.#found;
    const orphans: Docker.ContainerInfo[] = [];
    for (const [key, list] of found) {
      if (wanted.has(key)) continue;
      orphans.push(...list);
      found.delete(key);
    }
    await Promise.all(orphans.map((c) => this.#runner.removeContainer(this.#docker.getContainer(c.Id))));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#runner.closed = true;
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

  #newReplica(entry: ModelReplicas, replicaId: number): DockerReplica {
    const replica: DockerReplica = {
      info: newReplicaInfo(entry.model, replicaId, 'docker'),
      container: null,
      output: new OutputTail(kOutputTailBytes),
      wanted: true,
      ready: false,
      restartTimer: null,
      startedAtMs: 0,
      run: 0,
    };
    entry.replicas.set(replicaId, replica);
    return replica;
  }

  /** Containers found at start-up for this model: adopt those that match (up to num_replicas), remove the rest. */
  async #adoptFound(entry: ModelReplicas): Promise<void> {
    const found = entry.found;
    entry.found = [];
    const hash = replicaSpecHash(entry.model, this.#options.replicaSecretHex);
    const adopt: Array<Promise<void>> = [];
    for (const c of found) {
      const replicaId = Number(c.Labels[kLabelReplica]);
      const live = [...entry.replicas.values()].filter((r) => r.wanted).length;
      if (
        c.Labels[kLabelSpec] !== hash ||
        !Number.isInteger(replicaId) ||
        entry.replicas.has(replicaId) ||
        live >= entry.model.num_replicas
      ) {
        adopt.push(this.#runner.removeContainer(this.#docker.getContainer(c.Id)));
        continue;
      }
      entry.nextReplicaId = Math.max(entry.nextReplicaId, replicaId + 1);
      const replica = this.#newReplica(entry, replicaId);
      replica.container = this.#docker.getContainer(c.Id);
      replica.info.containerId = c.Id;
      replica.info.image = c.Image;
      adopt.push(
        c.State === 'running'
          ? this.#adoptRunning(entry, replica)
          : this.#runner.run(entry, replica, false).catch(() => this.#runner.retryLater(entry, replica)),
      );
    }
    await Promise.all(adopt);
  }

  /** A running container from before: serve it if its runner said it was ready, else restart it. */
  async #adoptRunning(entry: ModelReplicas, replica: DockerReplica): Promise<void> {
    const container = replica.container!;
    try {
      const inspect = await container.inspect();
      const since = Math.floor(Date.parse(inspect.State.StartedAt) / 1000);
      const text = demuxLogs((await container.logs({ stdout: true, stderr: false, since, follow: false })) as unknown as Buffer);
      const port = publishedPort(inspect, this.#options.containerPort);
      if (port === null || !hasReadyLine(text)) throw new Error('not ready');
      replica.ready = true;
      replica.run++;
      replica.startedAtMs = Date.parse(inspect.State.StartedAt);
      replica.info.port = port;
      replica.info.state = 'running';
      this.#runner.watchExit(entry, replica, replica.run);
      this.#events.onReplicaStarted(endpointOf(replica.info));
    } catch {
      await container.stop({ t: this.#options.stopTimeoutS }).catch(() => {});
      await this.#runner.run(entry, replica, false).catch(() => this.#runner.retryLater(entry, replica));
    }
  }

  async #startReplica(entry: ModelReplicas, replicaId: number): Promise<void> {
    const replica = this.#newReplica(entry, replicaId);
    try {
      await this.#runner.create(entry, replica);
      await this.#runner.run(entry, replica, true);
    } catch (err) {
      replica.wanted = false;
      entry.replicas.delete(replicaId);
      if (replica.container !== null) await this.#runner.removeContainer(replica.container);
      throw err;
    }
  }

  async #stopReplica(entry: ModelReplicas, replica: DockerReplica): Promise<void> {
    replica.wanted = false;
    entry.replicas.delete(replica.info.replicaId);
    if (replica.restartTimer !== null) clearTimeout(replica.restartTimer);
    replica.info.state = 'stopped';
    if (replica.ready) {
      replica.ready = false;
      this.#events.onReplicaStopped(endpointOf(replica.info), 'replica stopped');
    }
    if (replica.container !== null) await this.#runner.removeContainer(replica.container);
  }

  /** Health and liveness from one list call: unhealthy replicas are killed (and so restarted). */
  async #pollHealth(): Promise<void> {
    if (this.#closed || this.#models.size === 0) return;
    let all: Docker.ContainerInfo[];
    try {
      all = await this.#listOwn();
    } catch {
      return;
    }
    const byId = new Map(all.map((c) => [c.Id, c]));
    for (const entry of this.#models.values()) {
      for (const r of entry.replicas.values()) {
        const c = r.info.containerId === null ? undefined : byId.get(r.info.containerId);
        if (c === undefined) continue;
        r.info.health = healthOf(c.Status);
        if (r.info.health === 'unhealthy' && r.ready && r.wanted && r.container !== null) {
          r.output.push('clipper: the container is unhealthy; restarting it\n');
          void r.container.kill().catch(() => {});
        }
      }
    }
  }
}
