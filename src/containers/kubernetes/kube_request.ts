// Requests to the Kubernetes API by path, with a KubeConfig's credentials, TLS settings and proxy
// agent (KubeConfig.applyToHTTPSOptions does all of that), on node:http/https. The watch cache and
// the leader lease use this rather than client-node's `Watch` and generated clients because they
// need what those do not give: a request that can be aborted at any moment (even before the server
// answered, so close() leaves no socket and a silent server cannot hang a loop), a timeout on every
// request, and the Status body of a failed watch (a 410 Gone must be told from other failures).
// Failures are thrown as client-node's `ApiException` (code + Status body), exactly like the
// generated clients', so kube_errors.ts turns both into the same messages.

import http from 'node:http';
import https from 'node:https';
import { ApiException, type KubeConfig } from '@kubernetes/client-node';
import { ClipperError } from '../../errors.js';

export interface KubeRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** e.g. '/api/v1/namespaces/default/pods' */
  path: string;
  query?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  contentType?: string;
  /** Aborts the request (an AbortError is thrown). */
  signal?: AbortSignal;
  /** Aborts the request when it has not completed (JSON) or not been answered (stream) within this long. */
  timeoutMs?: number;
}

/** Where a request path points, in RBAC's words (for the error messages). */
export interface KubePathInfo {
  resource: string;
  namespace: string;
  name: string;
}

/** The API server's address from the current cluster of a KubeConfig, for messages. */
export function kubeServer(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? '(no current cluster in the kubeconfig)';
}

/** '/apis/apps/v1/namespaces/ns/deployments/x' → { resource: 'deployments', namespace: 'ns', name: 'x' }. */
export function describeKubePath(path: string): KubePathInfo {
  const parts = path
    .split('?')[0]!
    .split('/')
    .filter((p) => p !== '');
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const resource = rest[4] === undefined ? rest[2]! : `${rest[2]}/${rest[4]}`;
    return { resource, namespace: rest[1]!, name: rest[3] ?? '' };
  }
  return { resource: rest[0] ?? path, namespace: '', name: rest[1] ?? '' };
}

class RequestTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(timeoutMs: number, path: string) {
    super(`no answer within ${timeoutMs} ms to a request for ${path}`);
    this.name = 'RequestTimeoutError';
  }
}

/** True for the error a request throws when its `signal` aborted it. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}

// One signal for the caller's abort and the timeout. `clearTimer` ends the timeout (a stream that
// was answered lives on); `detach` also stops following the caller's signal.
interface RequestSignal {
  signal: AbortSignal;
  timedOut(): boolean;
  clearTimer(): void;
  detach(): void;
}

function requestSignal(r: KubeRequest): RequestSignal {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort();
  if (r.signal?.aborted) controller.abort();
  else r.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (r.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, r.timeoutMs);
  }
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    clearTimer: () => clearTimeout(timer),
    detach: () => {
      clearTimeout(timer);
      r.signal?.removeEventListener('abort', onAbort);
    },
  };
}

async function send(kc: KubeConfig, r: KubeRequest, signal: AbortSignal): Promise<http.IncomingMessage> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', 'the kubeconfig has no current cluster: set current-context or give --kubeconfig');
  }
  const url = new URL(cluster.server.replace(/\/+$/, '') + r.path);
  for (const [key, value] of Object.entries(r.query ?? {})) url.searchParams.set(key, value);
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const body = r.body === undefined ? undefined : JSON.stringify(r.body);
  // applyToHTTPSOptions writes a plain object of headers (Authorization, Impersonate-User).
  const headers: http.OutgoingHttpHeaders = { ...(options.headers as http.OutgoingHttpHeaders), accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = r.contentType ?? 'application/json';
  const transport = url.protocol === 'https:' ? https : http;
  return await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = transport.request(url, { ...options, method: r.method ?? 'GET', headers, signal });
    req.once('response', resolve);
    // `on`, not `once`: an abort after the answer came also emits 'error', and must not go unheard.
    req.on('error', reject);
    req.end(body);
  });
}

async function readText(res: http.IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res) text += chunk as string;
  return text;
}

async function failureOf(res: http.IncomingMessage): Promise<ApiException<string>> {
  const text = await readText(res).catch(() => '');
  return new ApiException(res.statusCode ?? 0, res.statusMessage ?? 'error', text, res.headers as Record<string, string>);
}

/** One request answered with JSON; a non-2xx answer throws ApiException with the server's Status. */
export async function kubeRequestJson<T>(kc: KubeConfig, r: KubeRequest): Promise<T> {
  const s = requestSignal(r);
  try {
    const res = await send(kc, r, s.signal);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw await failureOf(res);
    const text = await readText(res);
    return (text === '' ? {} : JSON.parse(text)) as T;
  } catch (err) {
    if (s.timedOut()) throw new RequestTimeoutError(r.timeoutMs!, r.path);
    throw err;
  } finally {
    s.detach();
  }
}

/**
 * Opens a streaming GET (a watch) and resolves with the 200 response once the server answered; a
 * non-200 answer throws ApiException. `timeoutMs` bounds only the wait for the answer; afterwards
 * the stream lives until it ends or `signal` aborts it (which destroys the socket).
 */
export async function kubeOpenStream(kc: KubeConfig, r: KubeRequest): Promise<http.IncomingMessage> {
  const s = requestSignal(r);
  try {
    const res = await send(kc, r, s.signal);
    if (res.statusCode !== 200) throw await failureOf(res);
    s.clearTimer();
    return res;
  } catch (err) {
    s.detach();
    if (s.timedOut()) throw new RequestTimeoutError(r.timeoutMs!, r.path);
    throw err;
  }
}
