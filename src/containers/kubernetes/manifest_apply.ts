// Applies the cluster's manifests (manifests.ts) through the Kubernetes API, for `clipper k8s
// apply`: each object by server-side apply (field manager `clipper`, so a re-apply converges and
// reports "unchanged"), except Secrets, which are created only when absent: their values are random
// and the frontends and the model replicas must keep agreeing on them, so they are never rotated.
// Requests go through kube_request.ts (the kubeconfig's credentials, a timeout on each) to paths
// known here, with no discovery round trips.

import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { ClipperError } from '../../errors.js';
import { kubeError, kubeStatusCode, kubeStatusOf, type KubeRequestContext } from './kube_errors.js';
import { kubeRequestJson, kubeServer } from './kube_request.js';

export const kFieldManager = 'clipper';
const kRequestTimeoutMs = 30_000;

/** What applying one object did, as kubectl says it; `kept`: a Secret that exists and was left as it is. */
export type ApplyOutcome = 'created' | 'configured' | 'unchanged' | 'kept';

export interface AppliedObject {
  kind: string;
  name: string;
  namespace: string;
  outcome: ApplyOutcome;
  /** The object as the server stored it. */
  stored: KubernetesObject;
}

/** The resource (plural, as a Role names it) and scope of each kind the manifests hold. */
const kResources: Readonly<Record<string, { resource: string; namespaced: boolean }>> = {
  Namespace: { resource: 'namespaces', namespaced: false },
  ServiceAccount: { resource: 'serviceaccounts', namespaced: true },
  Secret: { resource: 'secrets', namespaced: true },
  ConfigMap: { resource: 'configmaps', namespaced: true },
  Service: { resource: 'services', namespaced: true },
  Role: { resource: 'roles', namespaced: true },
  RoleBinding: { resource: 'rolebindings', namespaced: true },
  Deployment: { resource: 'deployments', namespaced: true },
};

/** `apps/v1` Deployment `x` in `ns` → /apis/apps/v1/namespaces/ns/deployments[/x]. */
export function objectPath(obj: KubernetesObject, withName: boolean): string {
  const known = kResources[obj.kind ?? ''];
  if (known === undefined) throw new ClipperError('CLP_ERR_INTERNAL', `clipper k8s apply does not know the kind ${obj.kind}`);
  const root = obj.apiVersion === 'v1' ? '/api/v1' : `/apis/${obj.apiVersion}`;
  const ns = known.namespaced ? `/namespaces/${encodeURIComponent(obj.metadata?.namespace ?? 'default')}` : '';
  const name = withName ? `/${encodeURIComponent(obj.metadata?.name ?? '')}` : '';
  return `${root}${ns}/${known.resource}${name}`;
}

/**
 * A failure as a message naming the server, verb and resource. Forbidden is about the user running
 * apply (not the manager's Role, as kube_errors.ts says for the frontends), so it says what to ask for.
 */
function applyError(err: unknown, ctx: KubeRequestContext, source: string): ClipperError {
  if (kubeStatusCode(err) !== 403) return kubeError(err, ctx, 'CLP_ERR_DEPLOY_FAILED');
  const said = kubeStatusOf(err)?.message;
  const where = ctx.namespace ? ` in namespace "${ctx.namespace}"` : ' (cluster-wide)';
  return new ClipperError(
    'CLP_ERR_FORBIDDEN',
    `forbidden: the user of ${source} may not ${ctx.verb} ${ctx.resource}${where} at ${ctx.server}${said ? ` (${said})` : ''}; ` +
      `ask a cluster administrator for "${ctx.verb}" on "${ctx.resource}"${where} (e.g. a RoleBinding to the "admin" ClusterRole ` +
      'there), or have someone who has it run `clipper k8s manifests ... | kubectl apply -f -`',
    { verb: ctx.verb, resource: ctx.resource, namespace: ctx.namespace ?? '', server: ctx.server, status: 403 },
    { cause: err },
  );
}

/** What a re-apply may change without changing the object: bookkeeping the server keeps. */
function comparable(obj: KubernetesObject): string {
  const { metadata, ...rest } = obj as KubernetesObject & { status?: unknown };
  const { resourceVersion: _rv, managedFields: _mf, generation: _g, ...meta } = (metadata ?? {}) as Record<string, unknown>;
  delete (rest as { status?: unknown }).status;
  return JSON.stringify({ ...rest, metadata: meta });
}

export interface ApplyOptions {
  kubeConfig: KubeConfig;
  /** How the kubeconfig was found (for messages): loadKubeConfig's `source`. */
  source: string;
  /** Called as each object is done (the CLI prints a line). */
  onApplied?(applied: AppliedObject): void;
}

/** Applies `objects` in order; the first failure stops it (later objects depend on earlier ones) and rejects with a clear ClipperError. */
export async function applyObjects(objects: readonly KubernetesObject[], o: ApplyOptions): Promise<AppliedObject[]> {
  const server = kubeServer(o.kubeConfig);
  const done: AppliedObject[] = [];
  for (const obj of objects) {
    const applied = await applyOne(obj, o, server);
    done.push(applied);
    o.onApplied?.(applied);
  }
  return done;
}

async function applyOne(obj: KubernetesObject, o: ApplyOptions, server: string): Promise<AppliedObject> {
  const kind = obj.kind ?? '';
  const name = obj.metadata?.name ?? '';
  const namespace = kResources[kind]?.namespaced === true ? (obj.metadata?.namespace ?? 'default') : '';
  const ctx = (verb: string): KubeRequestContext => ({ verb, resource: kResources[kind]?.resource ?? kind, namespace, name, server });
  const call = async <T>(verb: string, r: Parameters<typeof kubeRequestJson>[1]): Promise<T> => {
    try {
      return await kubeRequestJson<T>(o.kubeConfig, { ...r, timeoutMs: kRequestTimeoutMs });
    } catch (err) {
      throw applyError(err, ctx(verb), o.source);
    }
  };
  let before: KubernetesObject | null = null;
  try {
    before = await kubeRequestJson<KubernetesObject>(o.kubeConfig, { path: objectPath(obj, true), timeoutMs: kRequestTimeoutMs });
  } catch (err) {
    if (kubeStatusCode(err) !== 404) throw applyError(err, ctx('get'), o.source);
  }
  const result = (outcome: ApplyOutcome, stored: KubernetesObject): AppliedObject => ({ kind, name, namespace, outcome, stored });
  if (kind === 'Secret') {
    if (before !== null) return result('kept', before);
    const created = await call<KubernetesObject>('create', {
      method: 'POST',
      path: objectPath(obj, false),
      body: obj,
      query: { fieldManager: kFieldManager },
    });
    return result('created', created);
  }
  const after = await call<KubernetesObject>('patch', {
    method: 'PATCH',
    path: objectPath(obj, true),
    body: obj,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: kFieldManager, force: 'true' },
  });
  if (before === null) return result('created', after);
  const same = before.metadata?.resourceVersion === after.metadata?.resourceVersion || comparable(before) === comparable(after);
  return result(same ? 'unchanged' : 'configured', after);
}

/** The object as kubectl names it: `deployment/clipper-default-frontend`. */
export function objectRef(a: Pick<AppliedObject, 'kind' | 'name'>): string {
  return `${a.kind.toLowerCase()}/${a.name}`;
}
