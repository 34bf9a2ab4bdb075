// One Docker replica's container over its life, for DockerManager (docker_manager.ts), which decides
// which replicas exist: create the container from the model's image, start it and wait for the
// runner's ready line, watch for its exit, restart it with backoff while it is wanted, remove it.

import type Docker from 'dockerode';
import { ClipperError } from '../../errors.js';
import type { ModelRecord } from '../../state/records.js';
import { beginRestart, endpointOf, type ContainerManagerEvents, type OutputTail, type ReplicaInfo } from '../container_manager.js';
import type { DockerManagerOptions } from './docker_options.js';
import { dockerErrorText, dockerStatusCode } from './engine.js';
import { containerCreateOptions, publishedPort } from './replica_container.js';
import { watchForReady } from './runner_output.js';

export interface DockerReplica {
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

export interface ModelReplicas {
  model: ModelRecord;
  replicas: Map<number, DockerReplica>;
  nextReplicaId: number;
  /** Containers of this model version found at start-up, not yet adopted or removed. */
  found: Docker.ContainerInfo[];
}

export class ReplicaRunner {
  readonly #docker: Docker;
  readonly #options: DockerManagerOptions;
  readonly #events: ContainerManagerEvents;
  /** Set by the manager's close(): nothing is created or restarted any more. */
  closed = false;

  constructor(docker: Docker, options: DockerManagerOptions, events: ContainerManagerEvents) {
    this.#docker = docker;
    this.#options = options;
    this.#events = events;
  }

  /** A start that failed before its exit could be watched: try again with backoff while wanted. */
  retryLater(entry: ModelReplicas, replica: DockerReplica): void {
    if (replica.wanted && !this.closed && !replica.ready) this.#scheduleRestart(entry, replica);
  }

  /** Create the replica's container from the model's image (built, found or pulled first). */
  async create(entry: ModelReplicas, replica: DockerReplica): Promise<void> {
    const m = entry.model;
    const image = await this.#options.prepareImage(m);
    const stopped = (): ClipperError => new ClipperError('CLP_ERR_DEPLOY_FAILED', 'the replica was stopped while its container was made');
    if (!replica.wanted || this.closed) throw stopped();
    let container: Docker.Container;
    try {
      container = await this.#docker.createContainer(
        containerCreateOptions(
          m,
          replica.info.replicaId,
          image.id,
          this.#options.clusterName,
          this.#options.containerPort,
          this.#options.health,
          this.#options.replicaSecretHex,
        ),
      );
    } catch (err) {
      throw new ClipperError('CLP_ERR_DEPLOY_FAILED', `cannot create a container of ${image.tag}: ${dockerErrorText(err)}`);
    }
    // Stopped (scaled down, deleted, shut down) while the engine created it: nobody else will remove it.
    if (!replica.wanted || this.closed) {
      await this.removeContainer(container);
      throw stopped();
    }
    replica.container = container;
    replica.info.containerId = container.id;
    replica.info.image = image.tag;
  }

  /** Start (or restart) the replica's container and wait for the runner's ready line. */
  async run(entry: ModelReplicas, replica: DockerReplica, firstStart: boolean): Promise<void> {
    const container = replica.container!;
    const run = ++replica.run;
    replica.ready = false;
    replica.info.state = firstStart ? 'starting' : 'restarting';
    const watch = await watchForReady(this.#docker, container, replica.output, this.#options.startTimeoutMs);
    try {
      await container.start();
      replica.startedAtMs = Date.now();
      this.watchExit(entry, replica, run);
      await watch.ready;
      const port = publishedPort(await container.inspect(), this.#options.containerPort);
      if (port === null) throw new Error(`publishes no port for ${this.#options.containerPort}/tcp`);
      if (replica.run !== run || !replica.wanted) return;
      replica.ready = true;
      replica.info.port = port;
      replica.info.state = 'running';
      this.#events.onReplicaStarted(endpointOf(replica.info));
    } catch (err) {
      watch.stop(); // a failed start must not leave its attach (and a second copy of every line) behind
      const name = `${entry.model.model_name}:${entry.model.model_version} replica ${replica.info.replicaId}`;
      const output = replica.output.lines(40).trim();
      if (replica.run === run) await container.kill().catch(() => {});
      throw new ClipperError(
        'CLP_ERR_DEPLOY_FAILED',
        `${name} (container ${container.id.slice(0, 12)}) ${err instanceof ClipperError ? err.message : dockerErrorText(err)}` +
          `${output ? `: ${output}` : ''}`,
      );
    }
  }

  /** When the container stops: report it, then restart it with backoff while the replica is wanted. */
  watchExit(entry: ModelReplicas, replica: DockerReplica, run: number): void {
    const container = replica.container!;
    const exited = (how: string): void => {
      if (replica.run !== run) return;
      const wasReady = replica.ready;
      replica.ready = false;
      replica.run++; // this run is over: a late ready line or exit notice of it changes nothing
      const reason = `${entry.model.model_name}:${entry.model.model_version} replica ${replica.info.replicaId} ${how}`;
      if (wasReady) this.#events.onReplicaStopped(endpointOf(replica.info), reason);
      if (!replica.wanted || this.closed) {
        replica.info.state = 'stopped';
        return;
      }
      if (!wasReady && replica.info.state === 'starting') return; // a first start: #run rejects the deploy
      this.#scheduleRestart(entry, replica);
    };
    container.wait({ condition: 'not-running' }).then(
      (r: { StatusCode?: number }) => exited(`exited (code ${r.StatusCode ?? '?'})`),
      (err: unknown) => exited(`is gone (${dockerErrorText(err)})`),
    );
  }

  #scheduleRestart(entry: ModelReplicas, replica: DockerReplica): void {
    if (replica.restartTimer !== null) return; // the exit notice and the failed start both ask
    const o = this.#options;
    const delayMs = beginRestart(replica.info, Date.now() - replica.startedAtMs, o.restartDelayMsMin, o.restartDelayMsMax);
    replica.restartTimer = setTimeout(() => {
      replica.restartTimer = null;
      if (!replica.wanted || this.closed) return;
      void this.#restart(entry, replica);
    }, delayMs);
  }

  async #restart(entry: ModelReplicas, replica: DockerReplica): Promise<void> {
    try {
      await this.run(entry, replica, false);
    } catch (err) {
      if (!replica.wanted || this.closed) return;
      if (dockerStatusCode((err as { cause?: unknown }).cause) === 404 || /No such container|no such container/.test(String(err))) {
        // Removed behind our back: make a new container for this replica.
        try {
          await this.create(entry, replica);
        } catch {
          /* retried below */
        }
      }
      if (replica.restartTimer === null && !replica.ready) this.#scheduleRestart(entry, replica);
    }
  }

  async removeContainer(container: Docker.Container): Promise<void> {
    await container.stop({ t: this.#options.stopTimeoutS }).catch(() => {});
    await container.remove({ force: true }).catch((err: unknown) => {
      const status = dockerStatusCode(err);
      if (status !== 404 && status !== 409)
        process.stderr.write(`clipper: cannot remove container ${container.id}: ${dockerErrorText(err)}\n`);
    });
  }
}
