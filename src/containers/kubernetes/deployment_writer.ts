// The leader's writes to the model Deployments: create one, replace it when its pod template's spec
// hash changed, scale it by a merge patch of spec.replicas, restore or delete it when a deploy is
// rolled back, delete it when its model goes. Requests go through kube_request.ts, so each one is
// bounded by a timeout that really cancels it (a create that timed out cannot land minutes later)
// and can be aborted when this frontend steps down. Right before each write the manager is asked
// whether this frontend still leads; a create whose answer never came is read back, and counted as
// created when it landed, so a rollback or a remove deletes it. Every failure becomes a ClipperError
// naming the verb, the resource, the namespace and the server (kube_errors.ts).

import type { KubeConfig, V1Deployment, V1DeploymentList } from '@kubernetes/client-node';
import { ClipperError } from '../../errors.js';
import type { ModelRecord } from '../../state/records.js';
import { type KubeDeployOptions, deploymentOf, specHashOfDeployment } from './deployment_spec.js';
import { kubeError, kubeStatusCode } from './kube_errors.js';
import { type KubeRequest, kubeRequestJson } from './kube_request.js';
import { deploymentNameOf, replicaSelectorOf } from './labels.js';
import { podModel } from './pod_view.js';

/** What one apply did, so that a failed deploy can undo it. */
export type AppliedChange =
  | { kind: 'created'; name: string }
  | { kind: 'replaced'; name: string; previous: V1Deployment }
  | { kind: 'scaled'; name: string; previousReplicas: number }
  | { kind: 'unchanged'; name: string };

export interface DeploymentWriterOptions {
  kubeConfig: KubeConfig;
  deploy: KubeDeployOptions;
  /** The API server, for messages. */
  server: string;
  /** Bound of each request (it is cancelled then). */
  requestTimeoutMs: number;
  /** Asked right before each write: false once this frontend no longer leads, and the write is refused. */
  mayWrite?: () => boolean;
  /** The signal that aborts the writes in flight (this frontend stepped down); read at each write. */
  writeSignal?: () => AbortSignal | undefined;
}

/** A write refused because this frontend no longer holds the Lease (the frontend that does writes instead). */
export class LeadLostError extends ClipperError {
  constructor(verb: string, name: string) {
    super(
      'CLP_ERR_DEPLOY_FAILED',
      `did not ${verb} Deployment ${name}: this frontend no longer holds the Lease, the frontend holding it writes the Deployments`,
    );
    this.name = 'LeadLostError';
  }
}

/** True when a request failed without an answer from the server (timed out, connection lost, aborted). */
function noAnswer(err: unknown): boolean {
  if (err instanceof LeadLostError) return false;
  // kubeError records the HTTP status of an answer in details.status.
  if (err instanceof ClipperError) return err.details?.['status'] === undefined;
  return kubeStatusCode(err) === undefined;
}

const kWriteAttempts = 3;

export class DeploymentWriter {
  readonly #o: DeploymentWriterOptions;

  constructor(o: DeploymentWriterOptions) {
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
        if (kubeStatusCode(err) !== 409 || attempt === kWriteAttempts) throw this.#error(err, 'update', name);
      }
    }
  }

  async #applyOnce(model: ModelRecord, name: string): Promise<AppliedChange> {
    const existing = await this.read(name);
    const replicas = model.num_replicas;
    if (existing === null) return replicas === 0 ? { kind: 'unchanged', name } : await this.#create(model, name);
    const previousReplicas = existing.spec?.replicas ?? 1;
    if (replicas > 0) {
      const desired = deploymentOf(model, this.#o.deploy);
      if (specHashOfDeployment(existing) !== specHashOfDeployment(desired)) {
        desired.metadata!.resourceVersion = existing.metadata?.resourceVersion;
        await this.#call('update', name, { method: 'PUT', path: this.#path(name), body: desired });
        return { kind: 'replaced', name, previous: existing };
      }
    }
    if (previousReplicas === replicas) return { kind: 'unchanged', name };
    await this.scale(name, replicas);
    return { kind: 'scaled', name, previousReplicas };
  }

  /** Creates the Deployment; one whose answer never came counts as created when reading it back finds it. */
  async #create(model: ModelRecord, name: string): Promise<AppliedChange> {
    const body = deploymentOf(model, this.#o.deploy);
    try {
      await this.#call('create', name, { method: 'POST', path: this.#path(), body });
    } catch (err) {
      if (!noAnswer(err)) throw err;
      // The request was cancelled, but the server may have made the Deployment before that: then it
      // is ours to undo like any other (a rollback or a remove deletes it), not an orphan.
      const landed = await this.read(name).catch(() => null);
      if (landed === null || specHashOfDeployment(landed) !== specHashOfDeployment(body)) throw err;
    }
    return { kind: 'created', name };
  }

  /** Sets spec.replicas by a JSON merge patch. */
  async scale(name: string, replicas: number): Promise<void> {
    await this.#call('patch', name, {
      method: 'PATCH',
      path: this.#path(name),
      body: { spec: { replicas } },
      contentType: 'application/merge-patch+json',
    });
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
        await this.#call('update', change.name, { method: 'PUT', path: this.#path(change.name), body });
        return `its Deployment ${change.name} got its previous spec back (rolled back)`;
      } catch (err) {
        if (kubeStatusCode(err) !== 409 || attempt === kWriteAttempts) throw this.#error(err, 'update', change.name);
      }
    }
  }

  /** Deletes a Deployment and, in the background, its pods; one already gone is fine. */
  async delete(name: string): Promise<void> {
    try {
      await this.#call('delete', name, { method: 'DELETE', path: this.#path(name), query: { propagationPolicy: 'Background' } });
    } catch (err) {
      if (kubeStatusCode(err) !== 404) throw err;
    }
  }

  /** The Deployment, or null when there is none. */
  async read(name: string): Promise<V1Deployment | null> {
    try {
      return await this.#call<V1Deployment>('get', name, { path: this.#path(name) });
    } catch (err) {
      if (kubeStatusCode(err) === 404) return null;
      throw err;
    }
  }

  /** The cluster's model Deployments: name and model key (from their annotations, else labels). */
  async listModels(): Promise<Array<{ name: string; key: string | null }>> {
    const list = await this.#call<V1DeploymentList>('list', '', {
      path: this.#path(),
      query: { labelSelector: replicaSelectorOf(this.#o.deploy.clusterName) },
    });
    return list.items.map((d) => ({ name: d.metadata?.name ?? '', key: podModel({ metadata: d.metadata ?? {} })?.key ?? null }));
  }

  #path(name?: string): string {
    const base = `/apis/apps/v1/namespaces/${encodeURIComponent(this.namespace)}/deployments`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  /**
   * One request, cancelled after the timeout; a write only while this frontend leads, aborted when
   * it steps down. A failure as a ClipperError (the ApiException kept as its cause), but for the
   * answers the callers act on, thrown as they are: 404 to a get or delete, 409 to a write.
   */
  async #call<T = unknown>(verb: string, name: string, r: KubeRequest): Promise<T> {
    const write = verb !== 'get' && verb !== 'list';
    if (write && this.#o.mayWrite?.() === false) throw new LeadLostError(verb, name);
    const signal = write ? this.#o.writeSignal?.() : undefined;
    try {
      return await kubeRequestJson<T>(this.#o.kubeConfig, {
        ...r,
        timeoutMs: this.#o.requestTimeoutMs,
        ...(signal !== undefined ? { signal } : {}),
      });
    } catch (err) {
      const status = kubeStatusCode(err);
      if ((status === 404 && (verb === 'get' || verb === 'delete')) || (status === 409 && write)) throw err;
      throw this.#error(err, verb, name);
    }
  }

  #error(err: unknown, verb: string, name: string): ClipperError {
    return kubeError(err, { verb, resource: 'deployments', namespace: this.namespace, name, server: this.#o.server });
  }
}

/**
 * `request`, or an ETIMEDOUT error after `timeoutMs`, for the generated clients' reads (logs,
 * events), which take no timeout; the request itself ends when its socket does. Writes use
 * kube_request.ts instead, whose timeout cancels the request. kube_errors.ts words it as a server
 * that did not answer.
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
