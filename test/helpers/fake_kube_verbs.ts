// The verbs of the fake Kubernetes API on its store: get, list, create, replace (PUT), patch (merge,
// strategic merge treated as merge, JSON patch, server-side apply), delete (with preconditions,
// graceful deletion of scheduled pods, and garbage collection of dependents by ownerReferences), the
// status and scale subresources, as a real API server answers them.

import { clone, applyMerge, jsonPatch, mergePatch } from './fake_kube_patch.js';
import { matchesFields, matchesLabels, parseSelector, selectorString } from './fake_kube_select.js';
import {
  alreadyExists,
  applyDefaults,
  badRequest,
  conflict,
  createdMetadata,
  fixture,
  groupVersion,
  listBody,
  notFound,
  resourceInfo,
  statusError,
  successStatus,
  timestamp,
  type Json,
  type ResourceInfo,
} from './fake_kube_shapes.js';
import type { KubeStore } from './fake_kube_store.js';
import { KubeError, validateObject } from './fake_kube_validate.js';

export interface Reply {
  code: number;
  body: Json;
  /** Default application/json. */
  contentType?: string;
}

export type Sub = 'status' | 'scale' | undefined;

/** Everything but metadata and status: what bumps metadata.generation when it changes. */
function specPart(obj: Json): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

function sameContent(a: Json, b: Json): boolean {
  const strip = (o: Json): string => {
    const c = clone(o);
    delete c.metadata.resourceVersion;
    return JSON.stringify(c);
  };
  return strip(a) === strip(b);
}

export class KubeVerbs {
  constructor(readonly store: KubeStore) {}

  #existing(info: ResourceInfo, ns: string | undefined, name: string): Json {
    const obj = this.store.get(info, ns, name);
    if (obj === undefined) throw new KubeError(notFound(info, name));
    return obj;
  }

  #checkNamespace(info: ResourceInfo, ns: string | undefined): void {
    if (!info.namespaced || ns === undefined) return;
    if (this.store.get(resourceInfo('namespaces'), undefined, ns) === undefined) {
      throw new KubeError(notFound(resourceInfo('namespaces'), ns));
    }
  }

  get(info: ResourceInfo, ns: string | undefined, name: string): Reply {
    return { code: 200, body: this.#existing(info, ns, name) };
  }

  /** The objects of a collection that match the request's label and field selectors. */
  select(info: ResourceInfo, ns: string | undefined, query: URLSearchParams): Json[] {
    const labels = parseSelector(query.get('labelSelector'));
    const fields = parseSelector(query.get('fieldSelector'));
    return this.store.list(info, ns).filter((o) => matchesLabels(labels, o) && matchesFields(fields, o));
  }

  list(info: ResourceInfo, ns: string | undefined, query: URLSearchParams): Reply {
    let items = this.select(info, ns, query);
    const rv = this.store.rv;
    const limit = Number(query.get('limit') ?? 0);
    const token = query.get('continue');
    const start = token ? Number(JSON.parse(Buffer.from(token, 'base64').toString()).start) : 0;
    let next: string | undefined;
    if (limit > 0 || start > 0) {
      const end = limit > 0 ? start + limit : items.length;
      if (end < items.length) next = Buffer.from(JSON.stringify({ rv, start: end })).toString('base64');
      items = items.slice(start, end);
    }
    return { code: 200, body: listBody(info, items, rv, next) };
  }

  /** Fills kind/apiVersion from the URL and refuses a body of another kind or namespace. */
  #decode(info: ResourceInfo, ns: string | undefined, body: Json): Json {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new KubeError(badRequest('the body of the request was not a JSON object'));
    const obj = clone(body);
    if (obj.kind !== undefined && obj.kind !== info.kind) {
      throw new KubeError(
        badRequest(
          `the API version in the data (${obj.apiVersion}) does not match the expected API version (${groupVersion(info)}) or kind ${obj.kind} is not ${info.kind}`,
        ),
      );
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== groupVersion(info)) {
      throw new KubeError(
        badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${groupVersion(info)})`),
      );
    }
    obj.kind = info.kind;
    obj.apiVersion = groupVersion(info);
    obj.metadata ??= {};
    if (info.namespaced) {
      if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== ns) {
        throw new KubeError(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
      }
      obj.metadata.namespace = ns;
    }
    return obj;
  }

  create(info: ResourceInfo, ns: string | undefined, body: Json, query: URLSearchParams): Reply {
    const obj = this.#decode(info, ns, body);
    if (obj.metadata.resourceVersion !== undefined && obj.metadata.resourceVersion !== '') {
      throw new KubeError(statusError(500, 'InternalError', 'resourceVersion should not be set on objects to be created'));
    }
    if (!obj.metadata.name && !obj.metadata.generateName) {
      throw new KubeError(
        statusError(422, 'Invalid', `${info.kind} "" is invalid: metadata.name: Required value: name or generateName is required`),
      );
    }
    this.#checkNamespace(info, ns);
    const stored = { ...obj, metadata: createdMetadata(obj.metadata, ns, info, this.store.rv + 1) };
    applyDefaults(info, stored);
    if (this.store.get(info, ns, stored.metadata.name) !== undefined) throw new KubeError(alreadyExists(info, stored.metadata.name));
    validateObject(info, stored, undefined);
    if (query.get('dryRun') === 'All') return { code: 201, body: stored };
    return { code: 201, body: this.store.write(info, stored) };
  }

  /**
   * The one write path of updates: keeps the identity fields, the status (or, for `sub` 'status', all
   * but the status), bumps generation when the spec changed, refuses a stale resourceVersion.
   */
  #update(info: ResourceInfo, existing: Json, incoming: Json, sub: Sub, query: URLSearchParams): Reply {
    const rv = incoming.metadata?.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== existing.metadata.resourceVersion)
      throw new KubeError(conflict(info, existing.metadata.name));
    let next: Json;
    if (sub === 'status') next = { ...existing, status: incoming.status };
    else {
      next = { ...incoming, kind: info.kind, apiVersion: groupVersion(info) };
      if (info.status) next.status = existing.status;
    }
    const keep = ['name', 'namespace', 'uid', 'creationTimestamp', 'generateName', 'deletionTimestamp', 'deletionGracePeriodSeconds'];
    const meta: Json = { ...(sub === 'status' ? existing.metadata : incoming.metadata) };
    for (const key of keep) {
      if (existing.metadata[key] !== undefined) meta[key] = existing.metadata[key];
      else delete meta[key];
    }
    meta.resourceVersion = existing.metadata.resourceVersion;
    if (info.generation) meta.generation = existing.metadata.generation;
    next.metadata = meta;
    applyDefaults(info, next);
    if (info.generation && specPart(next) !== specPart(existing)) meta.generation = (existing.metadata.generation ?? 1) + 1;
    validateObject(info, next, existing);
    if (sameContent(next, existing) || query.get('dryRun') === 'All') return { code: 200, body: next };
    return { code: 200, body: this.store.write(info, next) };
  }

  replace(info: ResourceInfo, ns: string | undefined, name: string, body: Json, sub: Sub, query: URLSearchParams): Reply {
    const existing = this.#existing(info, ns, name);
    if (sub === 'scale') return this.#writeScale(info, existing, body, query);
    const incoming = this.#decode(info, ns, body);
    if (incoming.metadata.name !== name) {
      throw new KubeError(badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`));
    }
    return this.#update(info, existing, incoming, sub, query);
  }

  patch(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    body: Json,
    contentType: string,
    sub: Sub,
    query: URLSearchParams,
  ): Reply {
    const type = contentType.split(';')[0]!.trim();
    if (type === 'application/apply-patch+yaml') return this.#apply(info, ns, name, body, sub, query);
    const existing = this.#existing(info, ns, name);
    const base = sub === 'scale' ? this.#scaleOf(info, existing) : existing;
    let patched: Json;
    try {
      if (type === 'application/json-patch+json') patched = jsonPatch(base, body);
      else if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json')
        patched = mergePatch(base, body);
      else {
        const accepted = 'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml';
        throw new KubeError(
          statusError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: ${accepted}`,
          ),
        );
      }
    } catch (err) {
      if (err instanceof KubeError) throw err;
      throw new KubeError(statusError(422, 'Invalid', (err as Error).message));
    }
    if (typeof body === 'object' && body !== null && !Array.isArray(body) && body.metadata?.resourceVersion === undefined) {
      patched.metadata.resourceVersion = existing.metadata.resourceVersion;
    }
    if (sub === 'scale') return this.#writeScale(info, existing, patched, query);
    return this.#update(info, existing, patched, sub, query);
  }

  /** Server-side apply: requires a field manager; creates the object when missing, else merges the applied fields. */
  #apply(info: ResourceInfo, ns: string | undefined, name: string, body: Json, sub: Sub, query: URLSearchParams): Reply {
    if (!query.get('fieldManager')) {
      throw new KubeError(badRequest('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'));
    }
    const applied = this.#decode(info, ns, body);
    if (applied.metadata.name !== name) {
      throw new KubeError(badRequest(`the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`));
    }
    const existing = this.store.get(info, ns, name);
    if (existing === undefined) return this.create(info, ns, applied, query);
    return this.#update(info, existing, applyMerge(existing, applied), sub, query);
  }

  delete(info: ResourceInfo, ns: string | undefined, name: string, body: Json, query: URLSearchParams): Reply {
    const existing = this.#existing(info, ns, name);
    const pre = body?.preconditions;
    if (pre?.uid !== undefined && pre.uid !== existing.metadata.uid) {
      throw new KubeError(
        conflict(info, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${existing.metadata.uid}`),
      );
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== existing.metadata.resourceVersion) {
      throw new KubeError(
        conflict(
          info,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion}`,
        ),
      );
    }
    const graceText = query.get('gracePeriodSeconds') ?? body?.gracePeriodSeconds;
    const policy: string = query.get('propagationPolicy') ?? body?.propagationPolicy ?? 'Background';
    if (query.get('dryRun') === 'All')
      return { code: 200, body: info.resource === 'pods' ? existing : successStatus(info, name, existing.metadata.uid) };
    const last = this.deleteObject(info, existing, graceText === undefined || graceText === null ? undefined : Number(graceText), policy);
    return { code: 200, body: info.resource === 'pods' ? last : successStatus(info, name, existing.metadata.uid) };
  }

  deleteCollection(info: ResourceInfo, ns: string | undefined, query: URLSearchParams): Reply {
    const items = this.select(info, ns, query);
    for (const item of items) this.deleteObject(info, item, undefined, query.get('propagationPolicy') ?? 'Background');
    return { code: 200, body: listBody(info, items, this.store.rv) };
  }

  /**
   * Deletes one object. A pod bound to a node (spec.nodeName) is deleted gracefully: it gets a
   * deletionTimestamp and the kubelet removes it once its containers stopped (grace 0 removes at once).
   * Dependents (ownerReferences to the object's uid) are deleted too unless the policy is Orphan.
   */
  deleteObject(info: ResourceInfo, existing: Json, graceSeconds: number | undefined, policy: string): Json {
    const meta = existing.metadata;
    if (info.resource === 'pods' && existing.spec?.nodeName && graceSeconds !== 0) {
      if (meta.deletionTimestamp !== undefined) return existing;
      const grace = graceSeconds ?? existing.spec.terminationGracePeriodSeconds ?? 30;
      meta.deletionTimestamp = timestamp(Date.now() + grace * 1000);
      meta.deletionGracePeriodSeconds = grace;
      return this.store.write(info, existing);
    }
    const last = this.store.delete(info, meta.namespace, meta.name)!;
    for (const dep of kCascade) {
      const depInfo = resourceInfo(dep);
      for (const child of this.store.list(depInfo, meta.namespace)) {
        if (!(child.metadata.ownerReferences ?? []).some((o: Json) => o.uid === meta.uid)) continue;
        if (policy === 'Orphan') {
          child.metadata.ownerReferences = child.metadata.ownerReferences.filter((o: Json) => o.uid !== meta.uid);
          this.store.write(depInfo, child);
        } else {
          this.deleteObject(depInfo, child, undefined, policy);
        }
      }
    }
    return last;
  }

  // ---- scale subresource ----

  #scaleOf(info: ResourceInfo, obj: Json): Json {
    const scale = fixture('scale');
    const m = obj.metadata;
    scale.metadata = {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    };
    scale.spec = { replicas: obj.spec?.replicas ?? 0 };
    scale.status = { replicas: obj.status?.replicas ?? 0, selector: selectorString(obj.spec?.selector?.matchLabels) };
    if (info.resource !== 'deployments' && info.resource !== 'replicasets') throw new KubeError(notFound(info, `${m.name}/scale`));
    return scale;
  }

  getScale(info: ResourceInfo, ns: string | undefined, name: string): Reply {
    return { code: 200, body: this.#scaleOf(info, this.#existing(info, ns, name)) };
  }

  #writeScale(info: ResourceInfo, existing: Json, scale: Json, query: URLSearchParams): Reply {
    const replicas = scale?.spec?.replicas;
    if (typeof replicas !== 'number') throw new KubeError(badRequest('Scale.spec.replicas must be a number'));
    const next = clone(existing);
    next.spec.replicas = replicas;
    next.metadata.resourceVersion = scale.metadata?.resourceVersion ?? existing.metadata.resourceVersion;
    const reply = this.#update(info, existing, next, undefined, query);
    return { code: 200, body: this.#scaleOf(info, reply.body) };
  }
}

/** Resources whose objects name an owner (garbage collected with it). */
const kCascade = ['replicasets', 'pods', 'endpointslices', 'events'];
