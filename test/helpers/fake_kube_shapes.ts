// The fake Kubernetes API's knowledge of shapes: which resources it serves (group, version, kind,
// scope), the objects it answers with (cloned from the recorded ones in test/fixtures/kubernetes/),
// Status errors worded as a real API server words them, and the defaults a real API server fills in
// on create (so a test sees the same defaulted spec a cluster would hand back).

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { kRepoRoot } from '../../src/paths.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form JSON, indexed freely by the fake and tests
export type Json = any;

export const kFixturesDir = path.join(kRepoRoot, 'test', 'fixtures', 'kubernetes');

/** A fresh copy of a recorded object (`name` without `.json`). */
export function fixture(name: string): Json {
  return JSON.parse(readFileSync(path.join(kFixturesDir, `${name}.json`), 'utf8'));
}

export interface ResourceInfo {
  /** The plural name in URLs, e.g. 'deployments'. */
  resource: string;
  singular: string;
  group: string;
  version: string;
  kind: string;
  namespaced: boolean;
  /** Has a /status subresource: writes to the main resource keep the stored status. */
  status: boolean;
  /** Tracks metadata.generation (bumped when anything but metadata and status changes). */
  generation: boolean;
  shortNames?: string[];
}

function res(resource: string, kind: string, group: string, version: string, more: Partial<ResourceInfo> = {}): ResourceInfo {
  const singular = kind.toLowerCase();
  return { resource, singular, group, version, kind, namespaced: true, status: false, generation: false, ...more };
}

export const kResources: ResourceInfo[] = [
  res('deployments', 'Deployment', 'apps', 'v1', { status: true, generation: true, shortNames: ['deploy'] }),
  res('replicasets', 'ReplicaSet', 'apps', 'v1', { status: true, generation: true, shortNames: ['rs'] }),
  res('pods', 'Pod', '', 'v1', { status: true, shortNames: ['po'] }),
  res('events', 'Event', '', 'v1', { shortNames: ['ev'] }),
  res('services', 'Service', '', 'v1', { status: true, shortNames: ['svc'] }),
  res('configmaps', 'ConfigMap', '', 'v1', { shortNames: ['cm'] }),
  res('secrets', 'Secret', '', 'v1'),
  res('serviceaccounts', 'ServiceAccount', '', 'v1', { shortNames: ['sa'] }),
  res('namespaces', 'Namespace', '', 'v1', { namespaced: false, status: true, shortNames: ['ns'] }),
  res('roles', 'Role', 'rbac.authorization.k8s.io', 'v1'),
  res('rolebindings', 'RoleBinding', 'rbac.authorization.k8s.io', 'v1'),
  res('clusterroles', 'ClusterRole', 'rbac.authorization.k8s.io', 'v1', { namespaced: false }),
  res('clusterrolebindings', 'ClusterRoleBinding', 'rbac.authorization.k8s.io', 'v1', { namespaced: false }),
  res('leases', 'Lease', 'coordination.k8s.io', 'v1'),
  res('endpointslices', 'EndpointSlice', 'discovery.k8s.io', 'v1', { generation: true }),
];

export function resourceInfo(resource: string): ResourceInfo {
  const info = kResources.find((r) => r.resource === resource);
  if (info === undefined)
    throw new Error(`the fake Kubernetes API serves no resource '${resource}' (see kResources in fake_kube_shapes.ts)`);
  return info;
}

export function groupVersion(info: ResourceInfo): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** 'deployments.apps', or 'pods' for the core group: how API errors name a resource. */
export function qualified(info: ResourceInfo): string {
  return info.group === '' ? info.resource : `${info.resource}.${info.group}`;
}

/** RFC 3339 with seconds, as metadata timestamps are written. */
export function timestamp(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const kNameChars = 'bcdfghjklmnpqrstvwxz2456789';
/** The random suffix of generateName and pod names (the alphabet the API server uses). */
export function randomSuffix(length = 5): string {
  let out = '';
  for (let i = 0; i < length; i++) out += kNameChars[Math.floor(Math.random() * kNameChars.length)];
  return out;
}

// ---- Status objects ----

export interface StatusError {
  code: number;
  body: Json;
}

/** A Status object in the recorded shape (kind, apiVersion, metadata, status, message, reason, details, code). */
export function statusBody(code: number, reason: string, message: string, details?: Json): Json {
  const status = fixture('status_404_not_found');
  status.message = message;
  status.reason = reason;
  if (details === undefined) delete status.details;
  else status.details = details;
  status.code = code;
  // Keep the recorded key order: code comes last.
  const { code: c, ...rest } = status;
  return { ...rest, code: c };
}

function details(info: ResourceInfo, name?: string): Json {
  const d: Json = {};
  if (name !== undefined) d.name = name;
  if (info.group !== '') d.group = info.group;
  d.kind = info.resource;
  return d;
}

export function notFound(info: ResourceInfo, name: string): StatusError {
  return { code: 404, body: statusBody(404, 'NotFound', `${qualified(info)} "${name}" not found`, details(info, name)) };
}

export function alreadyExists(info: ResourceInfo, name: string): StatusError {
  return { code: 409, body: statusBody(409, 'AlreadyExists', `${qualified(info)} "${name}" already exists`, details(info, name)) };
}

export function conflict(
  info: ResourceInfo,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
): StatusError {
  const message = `Operation cannot be fulfilled on ${qualified(info)} "${name}": ${why}`;
  return { code: 409, body: statusBody(409, 'Conflict', message, details(info, name)) };
}

export function forbidden(info: ResourceInfo, verb: string, namespace: string | undefined, name?: string): StatusError {
  const who = `User "system:serviceaccount:${namespace ?? 'default'}:default"`;
  const where = info.namespaced && namespace !== undefined ? `in the namespace "${namespace}"` : 'at the cluster scope';
  const subject = name === undefined ? qualified(info) : `${qualified(info)} "${name}"`;
  const message = `${subject} is forbidden: ${who} cannot ${verb} resource "${info.resource}" in API group "${info.group}" ${where}`;
  return { code: 403, body: statusBody(403, 'Forbidden', message, details(info, name)) };
}

export function expired(rv: string, currentRv: number): StatusError {
  return { code: 410, body: statusBody(410, 'Expired', `too old resource version: ${rv} (${currentRv})`) };
}

export function statusError(code: number, reason: string, message: string, details?: Json): StatusError {
  return { code, body: statusBody(code, reason, message, details) };
}

export function badRequest(message: string): StatusError {
  return statusError(400, 'BadRequest', message);
}

/** 422 Invalid, with causes, as validation failures are reported. */
export function invalid(info: ResourceInfo, name: string, causes: Array<{ field: string; message: string }>): StatusError {
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  const d = { ...details(info, name), kind: info.kind, causes: causes.map((c) => ({ reason: 'FieldValueInvalid', ...c })) };
  return { code: 422, body: statusBody(422, 'Invalid', `${info.kind} "${name}" is invalid: ${text}`, d) };
}

export function pathNotFound(): StatusError {
  return { code: 404, body: statusBody(404, 'NotFound', 'the server could not find the requested resource', {}) };
}

export function successStatus(info: ResourceInfo, name: string, uid: string): Json {
  const status = fixture('status_success_delete');
  status.details = { ...details(info, name), uid };
  return status;
}

/** A List in the recorded shape: items carry no kind/apiVersion, the list's metadata has the resourceVersion. */
export function listBody(info: ResourceInfo, items: Json[], resourceVersion: number, continueToken?: string): Json {
  const list = fixture('list');
  list.kind = `${info.kind}List`;
  list.apiVersion = groupVersion(info);
  list.metadata = { resourceVersion: String(resourceVersion) };
  if (continueToken !== undefined) list.metadata.continue = continueToken;
  list.items = items.map((item) => {
    const { kind: _k, apiVersion: _a, ...rest } = item;
    return rest;
  });
  return list;
}

/** The discovery document of one group version (what KubernetesObjectApi reads to map kinds to URLs). */
export function apiResourceList(gv: string): Json | undefined {
  const infos = kResources.filter((r) => groupVersion(r) === gv);
  if (infos.length === 0) return undefined;
  const doc = fixture('api_resource_list');
  const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
  doc.groupVersion = gv;
  doc.resources = [];
  for (const r of infos) {
    doc.resources.push({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs,
      shortNames: r.shortNames,
    });
    if (r.resource === 'deployments' || r.resource === 'replicasets') {
      doc.resources.push({
        name: `${r.resource}/scale`,
        singularName: '',
        namespaced: true,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      });
    }
    if (r.status)
      doc.resources.push({
        name: `${r.resource}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      });
    if (r.resource === 'pods') doc.resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
  }
  return doc;
}

// ---- metadata and defaults ----

/** The metadata of a newly created object, in the order a real API server writes it. */
export function createdMetadata(meta: Json, namespace: string | undefined, info: ResourceInfo, rv: number): Json {
  const out: Json = { name: meta.name ?? `${meta.generateName}${randomSuffix()}` };
  if (meta.generateName !== undefined) out.generateName = meta.generateName;
  if (info.namespaced) out.namespace = namespace;
  out.uid = randomUUID();
  out.resourceVersion = String(rv);
  if (info.generation) out.generation = 1;
  out.creationTimestamp = timestamp();
  for (const key of ['labels', 'annotations', 'ownerReferences', 'finalizers']) if (meta[key] !== undefined) out[key] = meta[key];
  return out;
}

function imagePullPolicy(image: string): string {
  const lastPart = image.split('/').pop() ?? image;
  if (lastPart.includes('@')) return 'IfNotPresent';
  return !lastPart.includes(':') || lastPart.endsWith(':latest') ? 'Always' : 'IfNotPresent';
}

function defaultProbe(probe: Json): void {
  if (probe === undefined || probe === null) return;
  probe.timeoutSeconds ??= 1;
  probe.periodSeconds ??= 10;
  probe.successThreshold ??= 1;
  probe.failureThreshold ??= 3;
}

/** The pod spec defaults (the same for a Pod and a Deployment's template). */
export function defaultPodSpec(spec: Json): void {
  if (spec === undefined || spec === null) return;
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    c.resources ??= {};
    for (const port of c.ports ?? []) port.protocol ??= 'TCP';
    for (const env of c.env ?? []) if (env.valueFrom?.fieldRef !== undefined) env.valueFrom.fieldRef.apiVersion ??= 'v1';
    defaultProbe(c.readinessProbe);
    defaultProbe(c.livenessProbe);
    defaultProbe(c.startupProbe);
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    if (typeof c.image === 'string') c.imagePullPolicy ??= imagePullPolicy(c.image);
  }
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
}

let serviceIpCounter = 10;

/** MicroTime as the API server stores it: UTC with exactly six fraction digits (clients may send milliseconds). */
export function microTime(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(value);
  if (m === null) {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? value : `${new Date(ms).toISOString().slice(0, 23)}000Z`;
  }
  return `${m[1]}.${`${m[2] ?? ''}000000`.slice(0, 6)}Z`;
}

/** Fills in what a real API server defaults on create (and on update for the fields it always sets). */
export function applyDefaults(info: ResourceInfo, obj: Json): void {
  const spec = obj.spec;
  switch (info.resource) {
    case 'deployments':
    case 'replicasets':
      if (spec === undefined) return;
      spec.replicas ??= 1;
      if (info.resource === 'deployments') {
        spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
        spec.revisionHistoryLimit ??= 10;
        spec.progressDeadlineSeconds ??= 600;
      }
      if (spec.template !== undefined) {
        spec.template.metadata ??= {};
        spec.template.metadata.creationTimestamp ??= null;
        defaultPodSpec(spec.template.spec);
      }
      // A ReplicaSet's status.replicas is required (0 until its controller counted pods).
      obj.status ??= info.resource === 'replicasets' ? { replicas: 0 } : {};
      return;
    case 'pods':
      defaultPodSpec(spec);
      if (spec !== undefined) {
        spec.serviceAccountName ??= 'default';
        spec.serviceAccount ??= spec.serviceAccountName;
        spec.enableServiceLinks ??= true;
        spec.priority ??= 0;
        spec.preemptionPolicy ??= 'PreemptLowerPriority';
      }
      obj.status ??= { phase: 'Pending', qosClass: 'BestEffort' };
      return;
    case 'services':
      if (spec === undefined) return;
      spec.type ??= 'ClusterIP';
      for (const port of spec.ports ?? []) {
        port.protocol ??= 'TCP';
        port.targetPort ??= port.port;
      }
      if (spec.clusterIP === undefined) {
        serviceIpCounter += 1;
        spec.clusterIP = `10.96.${(serviceIpCounter >> 8) & 255}.${serviceIpCounter & 255}`;
      }
      spec.clusterIPs ??= spec.clusterIP === 'None' ? ['None'] : [spec.clusterIP];
      spec.sessionAffinity ??= 'None';
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
      spec.internalTrafficPolicy ??= 'Cluster';
      obj.status ??= { loadBalancer: {} };
      return;
    case 'secrets':
      obj.type ??= 'Opaque';
      if (obj.stringData !== undefined) {
        obj.data ??= {};
        for (const [k, v] of Object.entries(obj.stringData)) obj.data[k] = Buffer.from(String(v)).toString('base64');
        delete obj.stringData;
      }
      return;
    case 'leases':
      if (spec === undefined) return;
      for (const key of ['acquireTime', 'renewTime']) if (spec[key] !== undefined && spec[key] !== null) spec[key] = microTime(spec[key]);
      return;
    case 'namespaces':
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name };
      obj.spec ??= { finalizers: ['kubernetes'] };
      obj.status ??= { phase: 'Active' };
      return;
  }
}
