// What counts as a failure in every summary, and the message of a run that got no successful answer.
// A request succeeds only with a 2xx answer that is not a default output; a non-2xx answer ("HTTP
// 404"), a default output and a request that got no answer at all (refused, reset, timed out) are
// all errors. A sweep of 404s is a misconfigured run, not a fast server.

/** Counts of one level's window, as the recorder keeps them. */
export interface AnswerCounts {
  /** Answers of any HTTP status. */
  responses: number;
  /** 2xx answers that were default outputs. */
  defaults: number;
  /** Answers by HTTP status. */
  statusCounts: ReadonlyMap<number, number>;
  /** Requests without an answer, by kind (ECONNREFUSED, timeout, ...). */
  transportErrors: ReadonlyMap<string, number>;
}

export interface FailureSummary {
  /** Requests that were answered or failed. */
  requestCount: number;
  /** 2xx answers that were not default outputs. */
  okCount: number;
  /** Everything else: non-2xx answers, default outputs, transport errors. */
  errorCount: number;
  /** errorCount / requestCount (0 when there were no requests). */
  errorShare: number;
  /** Failures by kind: "HTTP 404", "default output", "ECONNREFUSED", "timeout", ... */
  errors: Record<string, number>;
}

export const kDefaultOutputKind = 'default output';

const isOk = (status: number): boolean => status >= 200 && status < 300;

export function summarizeFailures(c: AnswerCounts): FailureSummary {
  const errors: Record<string, number> = {};
  let answeredOk = 0;
  for (const [status, n] of c.statusCounts) {
    if (isOk(status)) answeredOk += n;
    else errors[`HTTP ${status}`] = n;
  }
  if (c.defaults > 0) errors[kDefaultOutputKind] = c.defaults;
  let transport = 0;
  for (const [kind, n] of c.transportErrors) {
    errors[kind] = (errors[kind] ?? 0) + n;
    transport += n;
  }
  const requestCount = c.responses + transport;
  const okCount = answeredOk - c.defaults;
  const errorCount = requestCount - okCount;
  return { requestCount, okCount, errorCount, errorShare: requestCount === 0 ? 0 : errorCount / requestCount, errors };
}

/** "5231 HTTP 404, 12 default output": the kinds, most frequent first. */
export function describeErrors(errors: Record<string, number>): string {
  return Object.entries(errors)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ');
}

/** The failures of several levels (a target's sweep) added up. */
export function totalFailures(levels: readonly Pick<FailureSummary, 'okCount' | 'errorCount' | 'errors'>[]): FailureSummary {
  const errors: Record<string, number> = {};
  let okCount = 0;
  let errorCount = 0;
  for (const l of levels) {
    okCount += l.okCount;
    errorCount += l.errorCount;
    for (const [kind, n] of Object.entries(l.errors)) errors[kind] = (errors[kind] ?? 0) + n;
  }
  const requestCount = okCount + errorCount;
  return { requestCount, okCount, errorCount, errorShare: requestCount === 0 ? 0 : errorCount / requestCount, errors };
}

export interface TargetDescription {
  label: string;
  /** The app (clipper shape) or model (v2 shape) name, or null when --url gave the path. */
  app: string | null;
  shape: 'clipper' | 'v2';
  url: string;
}

function hintFor(kind: string, t: TargetDescription): string {
  if (kind === 'HTTP 404') {
    if (t.app === null) return `is ${t.url} the right URL?`;
    return t.shape === 'v2' ? `is model '${t.app}' loaded?` : `is app '${t.app}' registered?`;
  }
  if (kind === kDefaultOutputKind)
    return `does ${t.app === null ? 'the app' : `app '${t.app}'`} have a linked model with a connected replica, and is the SLO long enough?`;
  if (kind === 'ECONNREFUSED') return `is a server listening at ${t.url}?`;
  if (kind === 'timeout') return 'the server answered nothing before the drain ended';
  return 'see results.json for the status codes';
}

/** The message for a target with no successful answer in the whole sweep, or null when it had one. */
export function noSuccessMessage(total: FailureSummary, t: TargetDescription): string | null {
  if (total.okCount > 0) return null;
  if (total.requestCount === 0)
    return `[${t.label}] no request was answered or failed in the measured window: is --duration-s long enough?`;
  const kinds = Object.entries(total.errors).sort((a, b) => b[1] - a[1]);
  const [topKind] = kinds[0]!;
  const hint = hintFor(topKind, t);
  if (kinds.length === 1) {
    const what = topKind.startsWith('HTTP ')
      ? `answers were ${topKind}`
      : topKind === kDefaultOutputKind
        ? 'answers were default outputs'
        : `requests failed with ${topKind}`;
    return `[${t.label}] all ${total.requestCount} ${what}: ${hint}`;
  }
  return `[${t.label}] no successful answer in ${total.requestCount} requests (${describeErrors(total.errors)}): ${hint}`;
}
