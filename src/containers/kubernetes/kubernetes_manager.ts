// The Kubernetes container manager: one Deployment per model version, written only by the frontend
// that holds the cluster's Lease (leader_lease.ts), and followed by every frontend through one watch
// of the cluster's replica pods (watch_cache.ts → replica_tracker.ts), so each frontend's batching
// workers dial every ready pod and drop a pod the moment it leaves readiness. A deploy waits for
// its pods; one that does not become ready in time fails with the pods' own reasons (pod_view.ts)
// and the leader undoes what it wrote. A frontend that steps down aborts its writes in flight and
// starts no other; one that closes lets its writes in flight end before it releases the Lease, so
// two leaders never write at once. Deployments outlive the frontends, as Docker containers do.

import os from 'node:os';
import { CoreV1Api, type CoreV1Event, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ClipperError } from '../../errors.js';
import { modelKey, type ModelRecord } from '../../state/records.js';
import type { ContainerManager, ContainerManagerEvents, ReplicaInfo, ReplicaLogs } from '../container_manager.js';
import { type KubeDeployOptions, imageOf, specHashOf } from './deployment_spec.js';
import { type AppliedChange, DeploymentWriter, LeadLostError, withTimeout } from './deployment_writer.js';
import { loadKubeConfig, type LoadedKubeConfig } from './kube_config.js';
import { kubeError } from './kube_errors.js';
import { kubeServer } from './kube_request.js';
import { commonLabels, dnsName, replicaSelectorOf } from './labels.js';
import { LeaderLease, type LeaderLeaseOptions } from './leader_lease.js';
import { isPodReady, podFailureReason, podName, podSpecHash } from './pod_view.js';
import { ReplicaTracker } from './replica_tracker.js';
import { RolloutWaits } from './rollout_wait.js';
import { startWatchCache, type WatchCache, type WatchCacheOptions } from './watch_cache.js';

export interface KubernetesManagerOptions {
  clusterName: string;
  /** A kubeconfig file ('' = service account, $KUBECONFIG, ~/.kube/config); see kube_config.ts. */
  kubeconfig: string;
  /** A `kubectl proxy` address ('' = none). */
  proxyAddr: string;
  /** '' = the kubeconfig's or service account's namespace, else 'default'. */
  namespace: string;
  registry: string;
  replicaPort: number;
  imagePullSecrets: readonly string[];
  deployTimeoutMs: number;
  /** The Secret with the replica secret ('' = clipper-<cluster>-replica-secret); null: replica auth is off. */
  replicaSecretName: string | null;
  /** config.replicaSecretFile, the frontend's copy of that secret: manager_router.ts refuses to connect without one while auth is on. */
  replicaSecretFile?: string;
  /** This frontend in the Lease ('' = $HOSTNAME-pid). */
  identity: string;
  /** A KubeConfig to use as it is (tests); skips loading one. */
  kubeConfig?: KubeConfig;
  env?: Readonly<Record<string, string | undefined>>;
  inClusterPathPrefix?: string;
  lease?: Partial<Pick<LeaderLeaseOptions, 'leaseDurationS' | 'renewMs' | 'retryMs'>>;
  watch?: Partial<Pick<WatchCacheOptions, 'backoffMsMin' | 'backoffMsMax' | 'idleTimeoutMs'>>;
  /** Bound of each API request (default 30 s). */
  requestTimeoutMs?: number;
  /** The model versions the state holds now (modelKey): what a new leader keeps. */
  wantedModels?: () => ReadonlySet<string>;
  log?: (line: string) => void;
}

const kFailedPodsShown = 3;

export class KubernetesManager implements ContainerManager {
  readonly #o: KubernetesManagerOptions;
  readonly #config: LoadedKubeConfig;
  readonly #deploy: KubeDeployOptions;
  readonly #core: CoreV1Api;
  readonly #requestTimeoutMs: number;
  readonly #writer: DeploymentWriter;
  readonly #tracker: ReplicaTracker;
  readonly #waits = new RolloutWaits();
  readonly #watch: WatchCache<V1Pod>;
  readonly #lease: LeaderLease;
  /** The model versions ensured here and not removed, by modelKey: what a leader keeps written. */
  readonly #wanted = new Map<string, ModelRecord>();
  /** Per modelKey: bumped by every ensure and remove, so only the latest deploy rolls back. */
  readonly #generations = new Map<string, number>();
  /** The leader's last write per modelKey, with the generation it served. */
  readonly #changes = new Map<string, { generation: number; change: AppliedChange }>();
  /** Per modelKey: the tail of its writes (they run one at a time, in order). */
  readonly #chains = new Map<string, Promise<void>>();
  /** Aborts the writes in flight when this frontend steps down (a new one for each term). */
  #writeAbort = new AbortController();
  #leading = false;
  #reconcileDue = false;
  #closed = false;

  /** Connects: lists the cluster's pods (rejects naming the server when it cannot), then joins the Lease election. */
  static async start(events: ContainerManagerEvents, o: KubernetesManagerOptions): Promise<KubernetesManager> {
    const config: LoadedKubeConfig =
      o.kubeConfig !== undefined
        ? { kubeConfig: o.kubeConfig, namespace: 'default', server: kubeServer(o.kubeConfig), source: 'a given KubeConfig' }
        : loadKubeConfig({
            kubeconfig: o.kubeconfig,
            proxyAddr: o.proxyAddr,
            env: o.env ?? process.env,
            ...(o.inClusterPathPrefix !== undefined ? { inClusterPathPrefix: o.inClusterPathPrefix } : {}),
          });
    const manager = new KubernetesManager(events, o, config);
    try {
      await manager.#watch.ready;
    } catch (err) {
      await manager.close();
      throw err;
    }
    manager.#lease.start();
    return manager;
  }

  private constructor(events: ContainerManagerEvents, o: KubernetesManagerOptions, config: LoadedKubeConfig) {
    this.#o = o;
    this.#config = config;
    const namespace = o.namespace === '' ? config.namespace : o.namespace;
    this.#deploy = {
      clusterName: o.clusterName,
      namespace,
      registry: o.registry,
      containerPort: o.replicaPort,
      imagePullSecrets: o.imagePullSecrets,
      replicaSecretName: o.replicaSecretName === '' ? dnsName('clipper', o.clusterName, 'replica-secret') : o.replicaSecretName,
    };
    const kc = config.kubeConfig;
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#requestTimeoutMs = o.requestTimeoutMs ?? 30_000;
    this.#writer = new DeploymentWriter({
      kubeConfig: kc,
      deploy: this.#deploy,
      server: config.server,
      requestTimeoutMs: this.#requestTimeoutMs,
      // Checked right before each write: a frontend that stepped down (or is closing) writes nothing more.
      mayWrite: () => this.#leading && this.#lease.isLeader,
      writeSignal: () => this.#writeAbort.signal,
    });
    this.#tracker = new ReplicaTracker(events, o.replicaPort);
    this.#watch = startWatchCache<V1Pod>(
      {
        kubeConfig: kc,
        path: `/api/v1/namespaces/${namespace}/pods`,
        labelSelector: replicaSelectorOf(o.clusterName),
        requestTimeoutMs: this.#requestTimeoutMs,
        log: (line) => this.#log(line),
        ...o.watch,
      },
      {
        onUpsert: (pod) => this.#changed(this.#tracker.upsert(pod)),
        onDelete: (pod) => this.#changed(this.#tracker.delete(pod)),
        onWatchError: (reason, retryMs) => this.#log(`the watch of the replica pods broke (${reason}); again in ${retryMs} ms`),
      },
    );
    const identity = o.identity !== '' ? o.identity : `${(o.env ?? process.env).HOSTNAME || os.hostname()}-${process.pid}`;
    this.#lease = new LeaderLease({
      kubeConfig: kc,
      namespace,
      name: dnsName('clipper', o.clusterName, 'manager'),
      identity,
      labels: commonLabels(o.clusterName, 'frontend'),
      ...o.lease,
      onLeading: () => this.#onLeading(),
      onFollowing: () => {
        this.#leading = false;
        this.#writeAbort.abort();
        this.#writeAbort = new AbortController();
      },
      log: (line) => this.#log(line),
    });
  }

  /** True while this frontend holds the Lease and so writes the Deployments. */
  get isLeader(): boolean {
    return this.#leading;
  }

  get namespace(): string {
    return this.#deploy.namespace;
  }

  /**
   * The leader writes the Deployment; every frontend then waits until `num_replicas` pods of the
   * current spec are ready (zero: resolves once written). Rejects by the deploy timeout with the
   * pods' own reasons; the leader then undoes its write (deletes a new Deployment, restores a replaced spec).
   */
  async ensure(model: ModelRecord): Promise<void> {
    this.#checkOpen();
    const key = modelKey(model.model_name, model.model_version);
    const generation = this.#bump(key);
    // Refused on every frontend alike, before anything is written: a model this cluster cannot pull.
    if (model.num_replicas > 0) imageOf(model, this.#deploy);
    this.#wanted.set(key, model);
    this.#tracker.want(key, model.model_name, model.model_version);
    if (this.#leading) await this.#apply(key, model);
    this.#checkOpen();
    if (!this.#wanted.has(key)) throw new ClipperError('CLP_ERR_DEPLOY_FAILED', `model ${key} was removed while it was deploying`);
    if (model.num_replicas === 0) return;
    const hash = specHashOf(model, this.#deploy);
    const ready = () => this.#tracker.readyCount(key, hash) >= model.num_replicas;
    if (await this.#waits.wait(key, ready, this.#o.deployTimeoutMs)) return;
    const reason = await this.#failureText(key, model, hash);
    const undone = await this.#rollback(key, generation);
    throw new ClipperError('CLP_ERR_DEPLOY_FAILED', `${reason}${undone === '' ? '' : `; ${undone}`}`);
  }

  /** Every frontend drops the model's replicas at once; the leader deletes its Deployment. Never rejects. */
  async remove(name: string, version: string): Promise<void> {
    const key = modelKey(name, version);
    this.#bump(key);
    this.#wanted.delete(key);
    this.#changes.delete(key);
    this.#tracker.unwant(key);
    this.#waits.failAll(new ClipperError('CLP_ERR_DEPLOY_FAILED', `model ${key} was removed while it was deploying`), key);
    if (!this.#leading || this.#closed) return;
    await this.#serial(key, () =>
      this.#writer.delete(this.#writer.nameOf({ model_name: name, model_version: version } as ModelRecord)),
    ).catch((err: Error) => this.#log(`deleting the Deployment of ${key} failed: ${err.message}`));
  }

  list(): ReplicaInfo[] {
    return this.#tracker.list();
  }

  async logs(name: string, version: string, tailLines: number): Promise<ReplicaLogs[]> {
    const key = modelKey(name, version);
    const ids = this.#tracker.replicaIdsOf(key);
    return Promise.all(
      this.#tracker.podsOf(key).map(async (pod): Promise<ReplicaLogs> => {
        const pod_ = podName(pod);
        let text: string;
        try {
          const request = this.#core.readNamespacedPodLog({ name: pod_, namespace: this.namespace, container: 'model', tailLines });
          text = await withTimeout(request, this.#requestTimeoutMs);
        } catch (err) {
          const e = kubeError(err, {
            verb: 'get',
            resource: 'pods/log',
            namespace: this.namespace,
            name: pod_,
            server: this.#config.server,
          });
          text = `(no logs: ${e.message})`;
        }
        return { model: name, version, replicaId: ids.get(pod_) ?? -1, containerId: pod_, text };
      }),
    );
  }

  /** After start-up's resync: the leader (now or when it becomes one) deletes the Deployments of models not wanted. */
  async reconcile(wanted: ReadonlySet<string>): Promise<void> {
    this.#reconcileDue = true;
    if (this.#leading) await this.#reconcileNow(wanted);
  }

  /**
   * Stops the watch, lets the writes in flight end (each bounded by the request timeout; queued ones
   * are skipped), then gives up the Lease; Deployments stay (the next leader keeps them).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#leading = false;
    this.#waits.failAll(new ClipperError('CLP_ERR_INTERNAL', 'the Kubernetes container manager is closed'));
    this.#watch.close();
    // Released only then: the next leader must not write beside a write of this one still in flight.
    while (this.#chains.size > 0) await Promise.all(this.#chains.values());
    await this.#lease.close().catch((err: Error) => this.#log(`releasing the Lease failed: ${err.message}`));
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClipperError('CLP_ERR_INTERNAL', 'the Kubernetes container manager is closed');
  }

  #bump(key: string): number {
    const generation = (this.#generations.get(key) ?? 0) + 1;
    this.#generations.set(key, generation);
    return generation;
  }

  #changed(key: string | null): void {
    if (key !== null) this.#waits.check(key);
  }

  #log(line: string): void {
    this.#o.log?.(`kubernetes: ${line}`);
  }

  /** Writes the model's Deployment (in order with the model's other writes); remembers what changed for a rollback. */
  #apply(key: string, model: ModelRecord): Promise<void> {
    return this.#serial(key, async () => {
      // A newer record (or a removal) came meanwhile: its own write follows.
      if (this.#wanted.get(key) !== model || !this.#leading) return;
      let change: AppliedChange;
      try {
        change = await this.#writer.apply(model);
      } catch (err) {
        // Stepped down meanwhile (the write refused or aborted): the new leader writes it; this frontend waits.
        if (err instanceof LeadLostError || !this.#leading) return;
        throw err;
      }
      if (change.kind !== 'unchanged') this.#changes.set(key, { generation: this.#generations.get(key) ?? 0, change });
    });
  }

  /** The leader undoes its write for the deploy of `generation`, if that is still the latest. Returns what it did. */
  async #rollback(key: string, generation: number): Promise<string> {
    const written = this.#changes.get(key);
    if (!this.#leading || written === undefined || written.generation !== generation || this.#generations.get(key) !== generation) {
      return '';
    }
    this.#changes.delete(key);
    try {
      return await this.#serial(key, () => this.#writer.rollback(written.change));
    } catch (err) {
      return `rolling back failed: ${(err as Error).message}`;
    }
  }

  #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const next = previous.then(fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.#chains.set(key, tail);
    void tail.then(() => {
      if (this.#chains.get(key) === tail) this.#chains.delete(key);
    });
    return next;
  }

  #onLeading(): void {
    if (this.#closed) return;
    this.#leading = true;
    this.#log(`this frontend now writes the model Deployments in namespace ${this.namespace}`);
    for (const [key, model] of this.#wanted) {
      this.#apply(key, model).catch((err: Error) => this.#log(`writing the Deployment of ${key} failed: ${err.message}`));
    }
    if (this.#reconcileDue) this.#reconcileNow().catch((err: Error) => this.#log(`reconciling Deployments failed: ${err.message}`));
  }

  /** Deletes the cluster's Deployments whose model version is wanted neither here nor by the state. */
  async #reconcileNow(extra: ReadonlySet<string> = new Set()): Promise<void> {
    const keep = new Set([...this.#wanted.keys(), ...(this.#o.wantedModels?.() ?? []), ...extra]);
    const deployments = await this.#writer.listModels();
    await Promise.all(
      deployments
        .filter((d) => d.key !== null && !keep.has(d.key))
        .map((d) =>
          this.#serial(d.key!, async () => {
            if (!this.#leading || this.#wanted.has(d.key!)) return;
            this.#log(`deleting Deployment ${d.name}: model ${d.key} is no longer registered`);
            await this.#writer.delete(d.name);
          }),
        ),
    );
  }

  /** Why a deploy did not become ready: the pods' own reasons (status and Warning events), or the Deployment's conditions. */
  async #failureText(key: string, model: ModelRecord, hash: string): Promise<string> {
    const ready = this.#tracker.readyCount(key, hash);
    const head = `${ready} of ${model.num_replicas} replica(s) of model ${key} ready after ${this.#o.deployTimeoutMs / 1000} s`;
    const pods = this.#tracker
      .podsOf(key)
      .filter((pod) => !isPodReady(pod))
      .sort((a, b) => Number(podSpecHash(b) === hash) - Number(podSpecHash(a) === hash))
      .slice(0, kFailedPodsShown);
    if (pods.length > 0) {
      const texts = await Promise.all(
        pods.map(async (pod) => `pod ${podName(pod)}: ${podFailureReason(pod, await this.#eventsOf(podName(pod)))}`),
      );
      return `${head}: ${texts.join('; ')}`;
    }
    let deployment: Awaited<ReturnType<DeploymentWriter['read']>>;
    try {
      deployment = await this.#writer.read(this.#writer.nameOf(model));
    } catch (err) {
      return `${head}: no pod of it exists, and its Deployment cannot be read (${(err as Error).message})`;
    }
    if (deployment === null) {
      const holder = this.#leading ? '' : ` (the frontend holding the Lease, ${this.#lease.holder ?? 'none yet'}, writes it)`;
      return `${head}: its Deployment ${this.#writer.nameOf(model)} does not exist${holder}`;
    }
    const conditions = (deployment.status?.conditions ?? []).filter((c) => c.status !== 'True' || c.type === 'ReplicaFailure');
    const said = conditions.map((c) => `${c.type} ${c.reason ?? ''}: ${c.message ?? ''}`.trim()).join('; ');
    return `${head}: no pod of it exists${said === '' ? '' : ` (${said})`}`;
  }

  async #eventsOf(pod: string): Promise<CoreV1Event[]> {
    try {
      const request = this.#core.listNamespacedEvent({ namespace: this.namespace, fieldSelector: `involvedObject.name=${pod}` });
      const list = await withTimeout(request, this.#requestTimeoutMs);
      return list.items;
    } catch {
      return []; // the pod's status still says why
    }
  }
}
