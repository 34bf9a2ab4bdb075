// A fake Kubernetes API server for tests without a cluster: a plain node:http server on 127.0.0.1
// that serves the resources the Kubernetes container manager and `clipper k8s apply` use (apps/v1
// deployments and replicasets; v1 pods (+ log), events, services, configmaps, secrets,
// serviceaccounts, namespaces; RBAC roles and bindings; coordination leases; discovery endpointslices)
// with the verbs, selectors, resourceVersion and generation rules, watch streams and Status errors of a
// real one, in the recorded shapes of test/fixtures/kubernetes/. Tests inject faults (a Status for the
// next matching requests, delays (fake_kube_faults.ts), dropped watches, compaction), read the log of every request, and play
// controllers through upsert/remove/onChange (test/helpers/fake_kubelet.ts plays the Deployment
// controller and the kubelet on top of it).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { type DelayedRequests, type DelayOptions, type FailMatch, FaultPlan, sleepMs } from './fake_kube_faults.js';
import { clone } from './fake_kube_patch.js';
import {
  applyDefaults,
  createdMetadata,
  forbidden,
  groupVersion,
  pathNotFound,
  resourceInfo,
  statusError,
  type Json,
  type StatusError,
} from './fake_kube_shapes.js';
import { KubeStore, type ChangeType } from './fake_kube_store.js';
import { KubeError, validateObject } from './fake_kube_validate.js';
import { KubeVerbs, type Reply, type Sub } from './fake_kube_verbs.js';
import { route, verbOf, type Route } from './fake_kube_routes.js';
import { WatchHub } from './fake_kube_watch.js';

export type { Json } from './fake_kube_shapes.js';
export type { DelayedRequests, DelayOptions, DelayOutcome, FailMatch } from './fake_kube_faults.js';

export const kFakeToken = 'fake-token';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string;
  body: unknown;
  headers: IncomingHttpHeaders;
}

/** Supplies a pod's log text (the fake kubelet registers one); undefined when the container has none yet. */
export type LogSource = (namespace: string, pod: string, container: string | null) => string | undefined;

export interface FakeKubeApi {
  readonly url: string;
  /**
   * A KubeConfig pointing at it (token auth 'fake-token', or 'fake-token-<user>' so that a test can tell
   * clients apart by the Authorization header of their requests; plain HTTP, so insecure-skip-tls-verify is set).
   */
  kubeConfig(options?: KubeconfigOptions): KubeConfig;
  /** Writes a kubeconfig file for it (for CLI / child-process tests); returns the path (in a temp dir removed on close). */
  writeKubeconfig(options?: KubeconfigOptions): string;
  /** Every request, in order (watch requests included). */
  readonly requests: RecordedRequest[];
  /** Copies of the stored objects of a resource, e.g. objects('deployments', 'default'); all namespaces when omitted. */
  objects<T = Json>(resource: string, namespace?: string): T[];
  /** A copy of one stored object, or undefined. */
  get<T = Json>(resource: string, namespace: string | undefined, name: string): T | undefined;
  /** Creates or replaces an object as a controller would (status included; bumps resourceVersion) and feeds the watch. */
  upsert(resource: string, obj: object): Json;
  /** Deletes an object at once (no grace period) and feeds the watch (DELETED); dependents are garbage collected. */
  remove(resource: string, namespace: string, name: string): void;
  /**
   * The next matching requests answer with this Status (e.g. 403 Forbidden, 500); `times` default 1,
   * Infinity for always. Status 0 resets the connection without an answer (an unreachable server).
   */
  failRequests(match: FailMatch, status: number, reason: string, message?: string, times?: number): void;
  /** Holds the next matching requests before or after handling them (fake_kube_faults.ts); the outcomes say what became of them. */
  delayRequests(match: FailMatch, o: DelayOptions): DelayedRequests;
  /** Forgets every planned failure and delay. */
  clearFaults(): void;
  /** Ends every open watch stream (a lost watch); `abrupt` destroys the sockets instead of ending the responses. */
  dropWatches(abrupt?: boolean): void;
  /** The number of watch streams open now (to wait until a client is watching). */
  openWatches(): number;
  /** Watches from an older resourceVersion than now get 410 Gone (as after etcd compaction). */
  compact(): void;
  /** Subscribe to object changes (the fake kubelet uses it to act on Deployments); returns the unsubscribe function. */
  onChange(fn: (type: ChangeType, resource: string, obj: Json) => void): () => void;
  setLogSource(fn: LogSource): void;
  close(): Promise<void>;
}

export interface KubeconfigOptions {
  /** The context's namespace (default 'default'). */
  namespace?: string;
  /** The user's token is then 'fake-token-<user>'. */
  user?: string;
}

/** The bearer token of a kubeconfig for `user`. */
export function fakeToken(user?: string): string {
  return user === undefined ? kFakeToken : `${kFakeToken}-${user}`;
}

export interface FakeKubeApiOptions {
  /** Namespaces that exist from the start besides default, kube-system, kube-public and kube-node-lease. */
  namespaces?: string[];
  /** How often an idle watch that asked for bookmarks gets one; default 5000. */
  bookmarkMs?: number;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: Reply): void {
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  res.writeHead(reply.code, { 'Content-Type': reply.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, status: StatusError): void {
  send(res, { code: status.code, body: status.body });
}

class FakeKubeApiServer implements FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  readonly #store = new KubeStore();
  readonly #verbs = new KubeVerbs(this.#store);
  readonly #hub: WatchHub;
  readonly #server: Server;
  readonly #plan = new FaultPlan();
  #logSource: LogSource = () => undefined;
  #tempDir: string | null = null;
  url = '';

  constructor(options: FakeKubeApiOptions) {
    this.#hub = new WatchHub(this.#store, options.bookmarkMs ?? 5000);
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease', ...(options.namespaces ?? [])]) {
      this.upsert('namespaces', { metadata: { name } });
    }
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendStatus(res, statusError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`));
        else res.destroy();
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = await readBody(req);
    const contentType = req.headers['content-type'] ?? '';
    let body: unknown = text === '' ? undefined : text;
    try {
      if (text !== '') body = JSON.parse(text);
    } catch {
      /* kept as text (YAML, or a malformed body the verb refuses) */
    }
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: url.searchParams, contentType, body, headers: req.headers });
    const auth = req.headers.authorization;
    if (auth !== undefined && auth !== `Bearer ${kFakeToken}` && !auth.startsWith(`Bearer ${kFakeToken}-`)) {
      return sendStatus(res, statusError(401, 'Unauthorized', 'Unauthorized'));
    }
    const r = route(url.pathname);
    const watch = ['true', '1'].includes(url.searchParams.get('watch') ?? '');
    if (this.#injectFault(req, res, method, r, watch)) return;
    const delay = this.#plan.takeDelay(method, r, watch);
    if (delay?.when === 'before') {
      await sleepMs(delay.delayMs);
      // The client gave up while the request waited: it is never handled (a real server's queue drops it too).
      const gone = req.socket.destroyed;
      delay.outcomes.push(gone ? 'dropped' : 'handled');
      if (gone) return;
    }
    if (r === undefined) return sendStatus(res, pathNotFound());
    if ('discovery' in r) return r.discovery === undefined ? sendStatus(res, pathNotFound()) : send(res, { code: 200, body: r.discovery });
    try {
      if (method === 'GET' && watch && r.name === undefined) {
        this.#hub.serve({ info: r.info, namespace: r.namespace, query: url.searchParams }, req, res);
        return;
      }
      const reply = this.#dispatch(method, r, body, contentType, url.searchParams);
      if (delay?.when === 'after') {
        // Handled: the change is made; the answer goes out late, if the client still listens.
        delay.outcomes.push('handled');
        await sleepMs(delay.delayMs);
      }
      if (!res.destroyed) send(res, reply);
    } catch (err) {
      if (err instanceof KubeError) return sendStatus(res, err.status);
      if (err instanceof Error && /unable to parse requirement/.test(err.message)) {
        return sendStatus(res, statusError(400, 'BadRequest', err.message));
      }
      throw err;
    }
  }

  #dispatch(method: string, r: Route, body: unknown, contentType: string, query: URLSearchParams): Reply {
    const { info, namespace: ns, name, sub } = r;
    if (name === undefined) {
      if (method === 'GET') return this.#verbs.list(info, ns, query);
      if (method === 'POST') return this.#verbs.create(info, ns, body, query);
      if (method === 'DELETE') return this.#verbs.deleteCollection(info, ns, query);
    } else if (sub === 'log' && info.resource === 'pods' && method === 'GET') {
      return this.#podLog(ns!, name, query);
    } else if (sub === undefined || sub === 'status' || sub === 'scale') {
      const s = sub as Sub;
      if (method === 'GET') return s === 'scale' ? this.#verbs.getScale(info, ns, name) : this.#verbs.get(info, ns, name);
      if (method === 'PUT') return this.#verbs.replace(info, ns, name, body, s, query);
      if (method === 'PATCH') return this.#verbs.patch(info, ns, name, body, contentType, s, query);
      if (method === 'DELETE' && s === undefined) return this.#verbs.delete(info, ns, name, body, query);
    } else {
      return { code: 404, body: pathNotFound().body };
    }
    return {
      code: 405,
      body: statusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`).body,
    };
  }

  #podLog(ns: string, name: string, query: URLSearchParams): Reply {
    const pod = this.#verbs.get(resourceInfo('pods'), ns, name).body;
    const container = query.get('container');
    const text = this.#logSource(ns, name, container);
    if (text === undefined) {
      const status = pod.status?.containerStatuses?.[0];
      const waiting = status?.state?.waiting?.reason ?? 'ContainerCreating';
      const cname = container ?? pod.spec?.containers?.[0]?.name;
      return {
        code: 400,
        body: statusError(400, 'BadRequest', `container "${cname}" in pod "${name}" is waiting to start: ${waiting}`).body,
      };
    }
    const tail = Number(query.get('tailLines') ?? -1);
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const kept = tail >= 0 ? lines.slice(Math.max(0, lines.length - tail)) : lines;
    return { code: 200, body: kept.map((l) => `${l}\n`).join(''), contentType: 'text/plain' };
  }

  #injectFault(req: IncomingMessage, res: ServerResponse, method: string, r: ReturnType<typeof route>, watch: boolean): boolean {
    const fault = this.#plan.takeFailure(method, r, watch);
    if (fault === undefined) return false;
    if (fault.status === 0) {
      req.socket.destroy();
      return true;
    }
    const generic = `the fake API server was told to fail this request (${fault.status} ${fault.reason})`;
    const status = statusError(fault.status, fault.reason, fault.message ?? generic);
    if (fault.status === 403 && r !== undefined && 'info' in r) {
      // Worded and detailed as RBAC words a refusal: the verb, the resource, its group and namespace.
      status.body = forbidden(r.info, verbOf(method, r, watch), r.namespace, r.name).body;
      if (fault.message !== undefined) status.body.message = fault.message;
    }
    sendStatus(res, status);
    return true;
  }

  kubeConfig(options: KubeconfigOptions = {}): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: fakeToken(options.user) }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake', namespace: options.namespace ?? 'default' }],
      currentContext: 'fake',
    });
    return kc;
  }

  writeKubeconfig(options: KubeconfigOptions = {}): string {
    this.#tempDir ??= mkdtempSync(path.join(os.tmpdir(), 'fake-kube-'));
    const file = path.join(this.#tempDir, `kubeconfig-${options.namespace ?? 'default'}-${options.user ?? ''}.yaml`);
    const lines = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: fake',
      '  user:',
      `    token: ${fakeToken(options.user)}`,
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: fake',
      `    namespace: ${options.namespace ?? 'default'}`,
      'current-context: fake',
      '',
    ];
    writeFileSync(file, lines.join('\n'), { mode: 0o600 });
    return file;
  }

  objects<T = Json>(resource: string, namespace?: string): T[] {
    return this.#store.list(resourceInfo(resource), namespace) as T[];
  }

  get<T = Json>(resource: string, namespace: string | undefined, name: string): T | undefined {
    return this.#store.get(resourceInfo(resource), namespace, name) as T | undefined;
  }

  upsert(resource: string, input: object): Json {
    const info = resourceInfo(resource);
    const obj: Json = clone(input);
    obj.kind = info.kind;
    obj.apiVersion = groupVersion(info);
    obj.metadata ??= {};
    if (info.namespaced) obj.metadata.namespace ??= 'default';
    const existing = this.#store.get(info, obj.metadata.namespace, obj.metadata.name);
    if (existing === undefined) {
      obj.metadata = createdMetadata(obj.metadata, obj.metadata.namespace, info, this.#store.rv + 1);
    } else {
      for (const key of ['uid', 'creationTimestamp', 'generateName']) obj.metadata[key] ??= existing.metadata[key];
      if (info.generation) {
        const specOf = (o: Json): string => JSON.stringify({ ...o, metadata: undefined, status: undefined });
        const bump = specOf(obj) !== specOf(existing) ? 1 : 0;
        obj.metadata.generation = (existing.metadata.generation ?? 1) + bump;
      }
    }
    applyDefaults(info, obj);
    validateObject(info, obj, undefined);
    return this.#store.write(info, obj);
  }

  remove(resource: string, namespace: string, name: string): void {
    const info = resourceInfo(resource);
    const existing = this.#store.get(info, namespace, name);
    if (existing !== undefined) this.#verbs.deleteObject(info, existing, 0, 'Background');
  }

  failRequests(match: FailMatch, status: number, reason: string, message?: string, times = 1): void {
    this.#plan.fail({ ...match, status, reason, message, times });
  }

  delayRequests(match: FailMatch, o: DelayOptions): DelayedRequests {
    return this.#plan.delay(match, o);
  }

  clearFaults(): void {
    this.#plan.clear();
  }

  dropWatches(abrupt = false): void {
    this.#hub.dropAll(abrupt);
  }

  openWatches(): number {
    return this.#hub.openCount;
  }

  compact(): void {
    this.#store.compact();
  }

  onChange(fn: (type: ChangeType, resource: string, obj: Json) => void): () => void {
    return this.#store.subscribe((e) => fn(e.type, e.info.resource, clone(e.obj)));
  }

  setLogSource(fn: LogSource): void {
    this.#logSource = fn;
  }

  async close(): Promise<void> {
    this.#hub.dropAll(true);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
    if (this.#tempDir !== null) rmSync(this.#tempDir, { recursive: true, force: true });
  }
}

export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const api = new FakeKubeApiServer(options);
  await api.listen();
  return api;
}
