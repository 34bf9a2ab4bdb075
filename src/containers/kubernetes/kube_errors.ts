// Kubernetes API failures turned into ClipperErrors whose messages say what failed and what to do.
// Two kinds of failure reach us: the API server answered with an error Status (client-node's
// `ApiException`: `code` and the Status as `body`, text or parsed; kube_request.ts throws the same
// class), or the server could not be reached at all (a system error such as ECONNREFUSED, possibly
// wrapped in `cause`s by node-fetch or undici). The manager, the watch cache and the lease share it.

import { ApiException } from '@kubernetes/client-node';
import { ClipperError, type ErrorCode } from '../../errors.js';

/** What a request was trying to do, in RBAC's words, for the messages. */
export interface KubeRequestContext {
  /** get, list, watch, create, update, patch, delete. */
  verb: string;
  /** The resource as a Role names it: pods, deployments, leases, events … */
  resource: string;
  /** Empty or absent for a cluster-scoped request. */
  namespace?: string;
  /** The object's name, when the request is about one object. */
  name?: string;
  /** The API server's address (the kubeconfig's current cluster). */
  server: string;
}

/** The fields of a Kubernetes `Status` object that the messages use. */
export interface KubeStatus {
  code?: number;
  reason?: string;
  message?: string;
}

// System error codes that mean "nothing answered at that address".
const kConnectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** The HTTP status of a failed request, or undefined when no answer came back. */
export function kubeStatusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = record(err);
  const code = e?.['statusCode'] ?? e?.['status'];
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

/** The Status object the server sent with a failure (parsed from text when it came as text). */
export function kubeStatusOf(err: unknown): KubeStatus | undefined {
  let body: unknown = err instanceof ApiException ? err.body : record(err)?.['body'];
  if (typeof body === 'string') {
    const text = body.trim();
    try {
      body = JSON.parse(text);
    } catch {
      return text === '' ? undefined : { message: text.slice(0, 500) };
    }
  }
  const status = record(body);
  if (status === undefined) return undefined;
  const out: KubeStatus = {};
  if (typeof status['code'] === 'number') out.code = status['code'];
  if (typeof status['reason'] === 'string') out.reason = status['reason'];
  if (typeof status['message'] === 'string') out.message = status['message'];
  return out;
}

/** The system error code (ECONNREFUSED, ENOTFOUND …) of a failure to reach the server, following `cause`s. */
export function connectionErrorCode(err: unknown): string | undefined {
  let e = record(err);
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    const code = e['code'];
    if (typeof code === 'string' && kConnectionCodes.has(code)) return code;
    e = record(e['cause']);
  }
  return undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** "pods in namespace "ns"", "leases "x" in namespace "ns"". */
export function describeTarget(ctx: KubeRequestContext): string {
  const name = ctx.name ? ` "${ctx.name}"` : '';
  const ns = ctx.namespace ? ` in namespace "${ctx.namespace}"` : '';
  return `${ctx.resource}${name}${ns}`;
}

/** The message for a failure with an HTTP status (the Status's reason and message quoted). */
function statusMessage(status: number, s: KubeStatus | undefined, ctx: KubeRequestContext): string {
  const target = describeTarget(ctx);
  const said = s?.message ? `: ${s.message}` : '';
  switch (status) {
    case 401:
      return (
        `the Kubernetes API server at ${ctx.server} refused the credentials (401 Unauthorized) to ${ctx.verb} ${target}${said}; ` +
        "check the kubeconfig's user (token, certificate) or the pod's service account token"
      );
    case 403:
      return (
        `forbidden: cannot ${ctx.verb} ${ctx.resource}${ctx.namespace ? ` in namespace "${ctx.namespace}"` : ''}${said}; ` +
        `grant "${ctx.verb}" on "${ctx.resource}" in the manager's Role (clipper k8s manifests prints one)`
      );
    case 404:
      return (
        `not found (404) when trying to ${ctx.verb} ${target} at ${ctx.server}${said}; ` +
        'check the namespace and that the cluster serves this API'
      );
    default:
      return `the Kubernetes API server at ${ctx.server} answered ${status}${s?.reason ? ` ${s.reason}` : ''} to ${ctx.verb} ${target}${said}`;
  }
}

/** A failed Kubernetes API request as a ClipperError naming the server, the verb, the resource and the fix. */
export function kubeError(err: unknown, ctx: KubeRequestContext, code: ErrorCode = 'CLP_ERR_DEPLOY_FAILED'): ClipperError {
  if (err instanceof ClipperError) return err;
  const details: Record<string, unknown> = { verb: ctx.verb, resource: ctx.resource, server: ctx.server };
  if (ctx.namespace) details['namespace'] = ctx.namespace;
  const status = kubeStatusCode(err);
  if (status !== undefined) {
    const s = kubeStatusOf(err);
    details['status'] = status;
    if (s?.reason) details['reason'] = s.reason;
    return new ClipperError(code, statusMessage(status, s, ctx), details, { cause: err });
  }
  const conn = connectionErrorCode(err);
  if (conn !== undefined) {
    details['errno'] = conn;
    return new ClipperError(
      code,
      `cannot reach the Kubernetes API server at ${ctx.server} to ${ctx.verb} ${describeTarget(ctx)} (${conn}: ${messageOf(err)}); ` +
        'check that the cluster is up and that the kubeconfig, --kubeconfig or kubernetes_proxy_addr points at it',
      details,
      { cause: err },
    );
  }
  return new ClipperError(code, `failed to ${ctx.verb} ${describeTarget(ctx)} at ${ctx.server}: ${messageOf(err)}`, details, {
    cause: err,
  });
}
