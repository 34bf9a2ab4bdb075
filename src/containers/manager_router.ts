// The cluster's one ContainerManager: it sends each model version to the manager its container
// spec names (`container.manager`, else the cluster's default, config.containers). Local processes
// are always at hand; the Docker and Kubernetes managers are connected on first use (at start-up
// when one is the default), so a cluster that never runs a container never needs an engine, and one
// that never runs a Deployment never contacts an API server (nor loads the Kubernetes client).

import type Docker from 'dockerode';
import { ClipperError } from '../errors.js';
import { modelKey, type ModelRecord } from '../state/records.js';
import type { ContainerManager, ContainerManagerEvents, ManagerKind, ReplicaInfo, ReplicaLogs } from './container_manager.js';
import { DockerManager, type DockerManagerOptions } from './docker/docker_manager.js';
import { connectDocker, dockerErrorText } from './docker/engine.js';
import { buildModelImage } from './docker/images.js';
import { followProgress } from './docker/rootfs.js';
import type { KubernetesManager, KubernetesManagerOptions } from './kubernetes/kubernetes_manager.js';
import { replicaSecretFileMissing } from './kubernetes/replica_secret_rule.js';
import { LocalProcessManager, type LocalProcessOptions } from './local_process.js';

export interface ManagerRouterOptions {
  /** Where a model runs when its spec does not say. */
  defaultManager: ManagerKind;
  clusterName: string;
  /** The Docker engine: unix:///path or tcp://host:port. */
  dockerHost: string;
  localProcess?: Partial<LocalProcessOptions>;
  docker?: Partial<Omit<DockerManagerOptions, 'clusterName' | 'prepareImage'>>;
  /** Progress of image builds (one line at a time). */
  log?: (line: string) => void;
  /** The model versions the state holds now (modelKey): what a Docker manager connected late reconciles against. */
  wantedModels?: () => ReadonlySet<string>;
  /** Where a built image's model files must lie (config.modelDirs); absent: not checked here. */
  modelDirs?: readonly string[];
  /** The Kubernetes manager's options (absent: models cannot run on Kubernetes here). */
  kubernetes?: Omit<KubernetesManagerOptions, 'clusterName' | 'wantedModels' | 'log'>;
}

export function managerOf(model: ModelRecord, defaultManager: ManagerKind): ManagerKind {
  return model.container?.manager ?? defaultManager;
}

export class ManagerRouter implements ContainerManager {
  readonly #options: ManagerRouterOptions;
  readonly #events: ContainerManagerEvents;
  readonly #local: LocalProcessManager;
  #docker: Promise<DockerManager> | null = null;
  #kubernetes: Promise<KubernetesManager> | null = null;
  #kubernetesNow: KubernetesManager | null = null;
  /** Per model key: the image build or look-up of this process (a model version is built once per run). */
  readonly #images = new Map<string, Promise<{ tag: string; id: string }>>();
  #closed = false;

  constructor(events: ContainerManagerEvents, options: ManagerRouterOptions) {
    this.#events = events;
    this.#options = options;
    this.#local = new LocalProcessManager(events, options.localProcess);
  }

  /**
   * Connects to the default manager's engine now (start-up of a cluster whose default is Docker or
   * Kubernetes); rejects naming the socket or the API server.
   */
  async start(): Promise<void> {
    if (this.#options.defaultManager === 'docker') await this.#dockerManager();
    if (this.#options.defaultManager === 'kubernetes') await this.#kubernetesManager();
  }

  async ensure(model: ModelRecord): Promise<void> {
    const kind = managerOf(model, this.#options.defaultManager);
    if (kind === 'local') return this.#local.ensure(model);
    if (kind === 'kubernetes') {
      // Nothing to run and no API server contacted yet: registering needs none.
      if (model.num_replicas === 0 && this.#kubernetes === null) return;
      return (await this.#kubernetesManager()).ensure(model);
    }
    // Nothing to run, and no engine was ever needed: registering needs no Docker.
    if (model.num_replicas === 0 && this.#docker === null) return;
    const docker = await this.#dockerManager();
    return docker.ensure(model);
  }

  async remove(name: string, version: string): Promise<void> {
    this.#images.delete(modelKey(name, version));
    await Promise.all([
      this.#local.remove(name, version),
      this.#withDocker((d) => d.remove(name, version)),
      this.#withKubernetes((k) => k.remove(name, version)),
    ]);
  }

  list(): ReplicaInfo[] {
    return [...this.#local.list(), ...(this.#dockerNow?.list() ?? []), ...(this.#kubernetesNow?.list() ?? [])];
  }

  async logs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]> {
    const [local, docker, kubernetes] = await Promise.all([
      this.#local.logs(name, version, tailLines),
      this.#withDocker((d) => d.logs(name, version, tailLines)),
      this.#withKubernetes((k) => k.logs(name, version, tailLines)),
    ]);
    return [...local, ...(docker ?? []), ...(kubernetes ?? [])];
  }

  async reconcile(wanted: ReadonlySet<string>): Promise<void> {
    this.#reconcileDue = true;
    await Promise.all([this.#withDocker((d) => d.reconcile(wanted)), this.#withKubernetes((k) => k.reconcile(wanted))]);
  }

  /** Set by the start-up reconcile: a Docker manager connected after it reconciles on connecting. */
  #reconcileDue = false;

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#local.close(), this.#withDocker((d) => d.close()), this.#withKubernetes((k) => k.close())]);
  }

  /** The Kubernetes manager, connected (its client loaded, the pods listed) on first use; a failed connection is tried again next time. */
  #kubernetesManager(): Promise<KubernetesManager> {
    if (this.#closed) return Promise.reject(new ClipperError('CLP_ERR_INTERNAL', 'container manager is closed'));
    const options = this.#options.kubernetes;
    if (options === undefined) {
      return Promise.reject(new ClipperError('CLP_ERR_INVALID_ARG', 'this cluster was started without Kubernetes options'));
    }
    // Pods prove the Kubernetes Secret's value; without that secret in a file this frontend would
    // check them against one of its own and fail every handshake (config.ts refuses this at start
    // when Kubernetes is the default; a model's own container.manager is caught here).
    if (options.replicaSecretName !== null && options.replicaSecretFile === '') {
      return Promise.reject(new ClipperError('CLP_ERR_DEPLOY_FAILED', replicaSecretFileMissing(), { option: 'replicaSecretFile' }));
    }
    this.#kubernetes ??= import('./kubernetes/kubernetes_manager.js').then(async ({ KubernetesManager }) => {
      const manager = await KubernetesManager.start(this.#events, {
        ...options,
        clusterName: this.#options.clusterName,
        ...(this.#options.wantedModels !== undefined ? { wantedModels: this.#options.wantedModels } : {}),
        ...(this.#options.log !== undefined ? { log: this.#options.log } : {}),
      });
      if (this.#closed) {
        await manager.close();
        throw new ClipperError('CLP_ERR_INTERNAL', 'container manager is closed');
      }
      this.#kubernetesNow = manager;
      const wanted = this.#options.wantedModels;
      if (this.#reconcileDue && wanted !== undefined) {
        manager.reconcile(wanted()).catch((err: Error) => this.#options.log?.(`reconciling Deployments failed: ${err.message}`));
      }
      return manager;
    });
    this.#kubernetes.catch(() => {
      this.#kubernetes = null;
    });
    return this.#kubernetes;
  }

  /** Runs `fn` on the Kubernetes manager if one was ever connected (a failed connection counts as none). */
  async #withKubernetes<T>(fn: (k: KubernetesManager) => Promise<T>): Promise<T | undefined> {
    if (this.#kubernetes === null) return undefined;
    const manager = await this.#kubernetes.catch(() => null);
    return manager === null ? undefined : fn(manager);
  }

  #dockerNow: DockerManager | null = null;

  #dockerManager(): Promise<DockerManager> {
    if (this.#closed) return Promise.reject(new ClipperError('CLP_ERR_INTERNAL', 'container manager is closed'));
    this.#docker ??= connectDocker(this.#options.dockerHost).then((client) => {
      const manager = new DockerManager(client, this.#events, {
        ...this.#options.docker,
        clusterName: this.#options.clusterName,
        prepareImage: (model) => this.#prepareImage(client, model),
      });
      this.#dockerNow = manager;
      const wanted = this.#options.wantedModels;
      if (this.#reconcileDue && wanted !== undefined) {
        manager.reconcile(wanted()).catch((err: Error) => this.#options.log?.(`reconciling containers failed: ${err.message}`));
      }
      return manager;
    });
    // An engine that was down may come up: the next deploy tries again.
    this.#docker.catch(() => {
      this.#docker = null;
    });
    return this.#docker;
  }

  /** Runs `fn` on the Docker manager if one was ever connected (a failed connection counts as none). */
  async #withDocker<T>(fn: (d: DockerManager) => Promise<T>): Promise<T | undefined> {
    if (this.#docker === null) return undefined;
    const docker = await this.#docker.catch(() => null);
    return docker === null ? undefined : fn(docker);
  }

  #prepareImage(docker: Docker, model: ModelRecord): Promise<{ tag: string; id: string }> {
    const key = modelKey(model.model_name, model.model_version);
    let image = this.#images.get(key);
    if (image === undefined) {
      image =
        model.container?.image !== undefined ? findImage(docker, model.container.image, this.#options.log) : this.#build(docker, model);
      this.#images.set(key, image);
      image.catch(() => {
        if (this.#images.get(key) === image) this.#images.delete(key);
      });
    }
    return image;
  }

  async #build(docker: Docker, model: ModelRecord): Promise<{ tag: string; id: string }> {
    const c = model.container!;
    if (c.runtime === undefined || c.entry === undefined) {
      throw new ClipperError(
        'CLP_ERR_INVALID_ARG',
        `model ${model.model_name}:${model.model_version} names neither an image nor a runtime and entry`,
      );
    }
    const { tag, imageId } = await buildModelImage(
      docker,
      {
        model: model.model_name,
        version: model.model_version,
        runtime: c.runtime,
        entry: c.entry,
        inputType: model.input_type,
        ...(c.folder !== undefined ? { folder: c.folder } : {}),
        ...(c.function !== undefined ? { function: c.function } : {}),
        ...(c.options !== undefined ? { options: c.options } : {}),
        ...(c.pkgs_to_install !== undefined ? { pkgsToInstall: c.pkgs_to_install } : {}),
        ...(c.framework !== undefined ? { framework: c.framework } : {}),
        ...(this.#options.modelDirs !== undefined ? { modelDirs: this.#options.modelDirs } : {}),
      },
      this.#options.log,
    );
    return { tag, id: imageId };
  }
}

/** An image named by the user: used when present here, else pulled from its registry (which the user runs). */
async function findImage(docker: Docker, image: string, log?: (line: string) => void): Promise<{ tag: string; id: string }> {
  try {
    return { tag: image, id: (await docker.getImage(image).inspect()).Id };
  } catch {
    /* not here: try its registry */
  }
  try {
    const stream = await docker.pull(image);
    await followProgress(docker, stream, (event) => {
      if (event.status !== undefined) log?.(`pull ${image}: ${event.status}`);
    });
    return { tag: image, id: (await docker.getImage(image).inspect()).Id };
  } catch (err) {
    throw new ClipperError(
      'CLP_ERR_DEPLOY_FAILED',
      `image ${image} is not on this machine and could not be pulled (${dockerErrorText(err)}); ` +
        'build it with `clipper build`, or give a registry the engine can reach',
    );
  }
}
