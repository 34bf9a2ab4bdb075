// The leader's writes to the model Deployments, through the typed client of @kubernetes/client-node:
// create one, replace it when its pod template's spec hash changed, scale it by a merge patch of
// spec.replicas, restore or delete it when a deploy is rolled back, delete it when its model goes.
// Every request is bounded by a timeout and every failure becomes a ClipperError naming the verb,
// the resource, the namespace and the server (kube_errors.ts).

import { type AppsV1Api, PatchStrategy, setHeaderOptions, type V1Deployment } from '@kubernetes/client-node';
import type { ModelRecord } from '../../state/records.js';
import { type KubeDeployOptions, deploymentOf, specHashOfDeployment } from './deployment_spec.js';
import { kubeError, kubeStatusCode } from './kube_errors.js';
import { deploymentNameOf, replicaSelectorOf } from './labels.js';
import { podModel } from './pod_view.js';

/** What one apply did, so that a failed deploy can undo it. */
export type AppliedChange =
  | { kind: 'created'; name: string }
  | { kind: 'replaced'; name: string; previous: V1Deployment }
  | { kind: 'scaled'; name: string; previousReplicas: number }
  | { kind: 'unchanged'; name: string };

export interface DeploymentWriterOptions {
  deploy: KubeDeployOptions;
  /** The API server, for messages. */
  server: string;
  /** Bound of each request. */
  requestTimeoutMs: number;
}

const kWriteAttempts = 3;

export class DeploymentWriter {
  readonly #apps: AppsV1Api;
  readonly #o: DeploymentWriterOptions;

  constructor(apps: AppsV1Api, o: DeploymentWriterOptions) {
    this.#apps = apps;
    this.#o = o;
  }

  get namespace(): string {
    return this.#o.deploy.namespace;
  }

  nameOf(model: ModelRecord): string {
    return deploymentNameOf(this.#o.deploy.clusterName, model.model_name, model.model_version);
  }

  /**
   * Makes the model version's Deployment what its record asks: created, replaced (spec changed) or
   * scaled. A version scaled to zero that has no Deployment gets none. Retries a lost race (409).
   */
  async apply(model: ModelRecord): Promise<AppliedChange> {
    const name = this.nameOf(model);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#applyOnce(model, name);
      } catch (err) {
        // 409: another writer (an earlier leader) changed it meanwhile: read it again.
        if (kubeStatusCode(err) !== 409 || attempt === kWriteAttempts) throw err;
      }
    }
  }

  async #applyOnce(model: ModelRecord, name: string): Promise<AppliedChange> {
    const existing = await this.read(name);
    const replicas = model.num_replicas;
    if (existing === null) {
      if (replicas === 0) return { kind: 'unchanged', name };
      await this.#call('create', name, () =>
        this.#apps.createNamespacedDeployment({ namespace: this.namespace, body: deploymentOf(model, this.#o.deploy) }),
      );
      return { kind: 'created', name };
    }
    const previousReplicas = existing.spec?.replicas ?? 1;
    if (replicas > 0) {
      const desired = deploymentOf(model, this.#o.deploy);
      if (specHashOfDeployment(existing) !== specHashOfDeployment(desired)) {
        desired.metadata!.resourceVersion = existing.metadata?.resourceVersion;
        await this.#call('update', name, () => this.#apps.replaceNamespacedDeployment({ name, namespace: this.namespace, body: desired }));
        return { kind: 'replaced', name, previous: existing };
      }
    }
    if (previousReplicas === replicas) return { kind: 'unchanged', name };
    await this.scale(name, replicas);
    return { kind: 'scaled', name, previousReplicas };
  }

  /** Sets spec.replicas by a JSON merge patch. */
  async scale(name: string, replicas: number): Promise<void> {
    await this.#call('patch', name, () =>
      this.#apps.patchNamespacedDeployment(
        { name, namespace: this.namespace, body: { spec: { replicas } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }

  /** Undoes an apply: a created Deployment is deleted, a replaced one gets its previous spec back. Returns what it did, in words. */
  async rollback(change: AppliedChange): Promise<string> {
    if (change.kind === 'created') {
      await this.delete(change.name);
      return `its Deployment ${change.name} was deleted (rolled back)`;
    }
    if (change.kind !== 'replaced') return '';
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(change.name);
      if (current === null) return `its Deployment ${change.name} is gone`;
      const body: V1Deployment = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { ...change.previous.metadata, resourceVersion: current.metadata?.resourceVersion },
        spec: { ...change.previous.spec!, replicas: current.spec?.replicas ?? change.previous.spec?.replicas },
      };
      delete body.metadata!.managedFields;
      try {
        await this.#call('update', change.name, () =>
          this.#apps.replaceNamespacedDeployment({ name: change.name, namespace: this.namespace, body }),
        );
        return `its Deployment ${change.name} got its previous spec back (rolled back)`;
      } catch (err) {
        if (kubeStatusCode(err) !== 409 || attempt === kWriteAttempts) throw err;
      }
    }
  }

  /** Deletes a Deployment and, in the background, its pods; one already gone is fine. */
  async delete(name: string): Promise<void> {
    try {
      await this.#call('delete', name, () =>
        this.#apps.deleteNamespacedDeployment({ name, namespace: this.namespace, propagationPolicy: 'Background' }),
      );
    } catch (err) {
      if (kubeStatusCode(err) !== 404) throw err;
    }
  }

  /** The Deployment, or null when there is none. */
  async read(name: string): Promise<V1Deployment | null> {
    try {
      return await this.#call('get', name, () => this.#apps.readNamespacedDeployment({ name, namespace: this.namespace }));
    } catch (err) {
      if (kubeStatusCode(err) === 404) return null;
      throw err;
    }
  }

  /** The cluster's model Deployments: name and model key (from their annotations, else labels). */
  async listModels(): Promise<Array<{ name: string; key: string | null }>> {
    const list = await this.#call('list', '', () =>
      this.#apps.listNamespacedDeployment({ namespace: this.namespace, labelSelector: replicaSelectorOf(this.#o.deploy.clusterName) }),
    );
    return list.items.map((d) => ({ name: d.metadata?.name ?? '', key: podModel({ metadata: d.metadata ?? {} })?.key ?? null }));
  }

  /** One request, bounded by the timeout; a failure as a ClipperError (the ApiException kept as its cause, its status readable). */
  async #call<T>(verb: string, name: string, request: () => Promise<T>): Promise<T> {
    const ctx = { verb, resource: 'deployments', namespace: this.namespace, name, server: this.#o.server };
    try {
      return await withTimeout(request(), this.#o.requestTimeoutMs);
    } catch (err) {
      const status = kubeStatusCode(err);
      // 404 and 409 are answers the callers act on: kept as they are.
      if (status === 404 || status === 409) throw err;
      throw kubeError(err, ctx);
    }
  }
}

/**
 * `request`, or an ETIMEDOUT error after `timeoutMs` (the generated clients take no timeout; the
 * request itself ends when its socket does). kube_errors.ts words it as a server that did not answer.
 */
export async function withTimeout<T>(request: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
  });
  try {
    return await Promise.race([request, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
