// Fuzz properties through a real server over real sockets: fuzzed HTTP bodies and headers to
// predict, update, the Open Inference Protocol's infer and the management API, and fuzzed frames
// over a WebSocket stream. Every reply is below 500 and every 4xx carries a JSON error; every
// stream message gets one frame back, an error frame naming a 4xx code when refused. After every
// batch of cases a normal query must still be answered correctly (the server stays up).
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { Agent, request } from 'undici';
import { openStream, type StreamClient } from '../helpers/ws.js';
import { jsonBodyBytes, mutateText, nastyString, validFeedbackBody, validPredictBody } from './arbitraries.js';
import { check, expectErrorFrame, expectHttpReply } from './fuzz_checks.js';
import type { FuzzProperty } from './fuzz_property.js';
import { adminCase } from './props_admin.js';
import { inferCaseArb } from './props_oip.js';
import { streamFrame as streamFrameFor } from './props_query.js';

/** A running server with a doubles app `app` over a sum model `model` (the health check: [1,2,3] → 6). */
export interface FuzzTarget {
  readonly queryUrl: string;
  readonly adminUrl: string;
  readonly app: string;
  /** An app whose policy learns from feedback (exp3 over two models): updates reach the selection worker. */
  readonly learnApp: string;
  readonly model: string;
  /** Cases between two health checks. */
  readonly batch: number;
}

/** What the server answered, for the bench's report. */
export interface ServerStats {
  cases: number;
  statuses: Record<string, number>;
  serverErrors: number;
  healthChecks: number;
}

export function newServerStats(): ServerStats {
  return { cases: 0, statuses: {}, serverErrors: 0, healthChecks: 0 };
}

/** CLIPPER_FUZZ_TRACE=1 prints each case before it is sent (to find one that hangs). */
const kTrace = process.env.CLIPPER_FUZZ_TRACE === '1';

const agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 });

interface HttpCase {
  readonly what: string;
  /** POST when absent. */
  readonly method?: string;
  readonly url: string;
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

const contentType = fc.constantFrom('application/json', 'text/plain', 'application/msgpack', 'application/json; charset=latin1', '');

// Management routes that start replicas are fuzzed in-process (props_admin.ts): here they would deploy.
const kAdminSkip = new Set(['add_model', 'set_num_replicas']);

function httpCase(t: FuzzTarget): fc.Arbitrary<HttpCase> {
  const withType = (what: string, url: string, body: fc.Arbitrary<Buffer>): fc.Arbitrary<HttpCase> =>
    fc.tuple(body, contentType).map(([b, ct]): HttpCase => ({ what, url, body: b, headers: ct === '' ? {} : { 'content-type': ct } }));
  const app = fc.constantFrom(t.app, t.learnApp);
  const predict = app.chain((a) => withType('predict', `${t.queryUrl}/${a}/predict`, jsonBodyBytes(validPredictBody('doubles'))));
  const update = app.chain((a) => withType('update', `${t.queryUrl}/${a}/update`, jsonBodyBytes(validFeedbackBody('doubles'))));
  const other = fc
    .tuple(
      fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST'),
      fc.oneof(nastyString, fc.constantFrom(t.app, '%E0%A4%A', '%', '..', '')),
      fc.constantFrom('predict', 'update', 'stream', 'metrics', 'v2/models', ''),
    )
    .map(
      ([method, seg, rest]): HttpCase => ({
        what: `${method} path`,
        method,
        url: `${t.queryUrl}/${encodeSegment(seg)}/${rest}`,
        body: Buffer.alloc(0),
        headers: {},
      }),
    );
  // The Open Inference Protocol's model routes, with odd names and versions.
  const oipPaths = fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'PUT'),
      fc.oneof(fc.constant(t.model), fc.constant(t.app), nastyString),
      fc.option(fc.oneof(fc.constant('1'), nastyString)),
      fc.constantFrom('', '/infer', '/ready', '/stats'),
    )
    .map(([method, name, version, rest]): HttpCase => {
      const v = version === null ? '' : `/versions/${encodeSegment(version)}`;
      return {
        what: `${method} oip path`,
        method,
        url: `${t.queryUrl}/v2/models/${encodeSegment(name)}${v}${rest}`,
        body: Buffer.from('{}'),
        headers: {},
      };
    });
  // The one management route also served on GET, its fields from the query string.
  const logs = fc.tuple(nastyString, fc.oneof(nastyString, fc.constantFrom('5', '-1', '99999999999999999999', '1e3'))).map(
    ([model, tail]): HttpCase => ({
      what: 'GET get_logs',
      method: 'GET',
      url: `${t.adminUrl}/admin/get_logs?model_name=${encodeSegment(model)}&tail_lines=${encodeSegment(tail)}`,
      body: Buffer.alloc(0),
      headers: {},
    }),
  );
  const infer = inferCaseArb.map(
    (c): HttpCase => ({
      what: 'infer',
      url: `${t.queryUrl}/v2/models/${t.model}/infer`,
      body: c.body,
      headers: c.headerLength === '' ? {} : { 'inference-header-content-length': c.headerLength },
    }),
  );
  const admin = adminCase
    .filter((c) => !kAdminSkip.has(c.route))
    .chain((c) => {
      const text = JSON.stringify(c.body) ?? 'null';
      return fc.tuple(fc.constant(c.route), fc.oneof(fc.constant(text), mutateText(fc.constant(text))));
    })
    .map(
      ([route, text]): HttpCase => ({
        what: `admin ${route}`,
        url: `${t.adminUrl}/admin/${route}`,
        body: Buffer.from(text),
        headers: { 'content-type': 'application/json' },
      }),
    );
  return fc.oneof(
    { weight: 4, arbitrary: predict },
    { weight: 3, arbitrary: update },
    { weight: 3, arbitrary: infer },
    { weight: 2, arbitrary: admin },
    { weight: 1, arbitrary: other },
    { weight: 1, arbitrary: logs },
    { weight: 1, arbitrary: oipPaths },
  );
}

/** A path segment as a client would send it: percent-encoded, or raw when it is already a %-sequence. */
function encodeSegment(seg: string): string {
  if (seg.startsWith('%')) return seg;
  try {
    return encodeURIComponent(seg);
  } catch {
    return '%ED%A0%80'; // a lone surrogate: sent as the bytes a careless client would send
  }
}

async function post(
  url: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
  method = 'POST',
): Promise<{ status: number; text: string }> {
  const withBody = method !== 'GET' && method !== 'OPTIONS';
  const res = await request(url, {
    method: method as 'POST',
    body: withBody ? body : null,
    headers,
    dispatcher: agent,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/** A normal predict is answered with the right output. */
export async function healthCheck(t: FuzzTarget, stats: ServerStats): Promise<void> {
  const { status, text } = await post(`${t.queryUrl}/${t.app}/predict`, '{"input":[1,2,3]}', { 'content-type': 'application/json' });
  const answer = JSON.parse(text) as { output?: unknown; default?: boolean };
  check(status === 200 && answer.output === 6 && answer.default === false, `health check after a batch: HTTP ${status} ${text}`);
  stats.healthChecks++;
}

export function httpProperty(t: FuzzTarget, stats: ServerStats): FuzzProperty {
  return {
    name: 'http_bodies',
    parser: 'http_server',
    weight: 1,
    run: async ({ seed, numRuns }) => {
      await fc.assert(
        fc.asyncProperty(httpCase(t), async (c) => {
          if (kTrace) process.stderr.write(`fuzz: ${c.what} ${c.body.subarray(0, 200).toString()}\n`);
          const { status, text } = await post(c.url, c.body, c.headers, c.method);
          stats.cases++;
          stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
          // A 504 is the protocol's answer to a request whose own parameters.timeout passed (the
          // fuzzer sets it as low as 1 µs): a deadline answered, not a failure.
          if (status === 504 && c.what === 'infer' && /deadline/.test(text)) return;
          if (status >= 500) stats.serverErrors++;
          expectHttpReply(status, text, `POST ${c.what}`);
          if (stats.cases % t.batch === 0) await healthCheck(t, stats);
        }),
        { seed, numRuns, endOnFailure: true, includeErrorInReport: true },
      );
      await healthCheck(t, stats);
    },
  };
}

/** A stream frame: JSON text (any UTF-8 a client can send) or msgpack (any value) or raw bytes. */
const streamFrame: fc.Arbitrary<{ binary: boolean; data: string | Uint8Array }> = fc.oneof(
  jsonBodyBytes(validPredictBody('doubles').map((b) => ({ id: 'x', ...b }))).map((b) => ({ binary: false, data: b.toString('utf8') })),
  jsonBodyBytes(validFeedbackBody('doubles').map((b) => ({ id: 'u', type: 'update', ...b }))).map((b) => ({
    binary: false,
    data: b.toString('utf8'),
  })),
  validPredictBody('doubles').map((b) => ({ binary: true, data: pack({ id: 'p', ...b }) })),
  fc.uint8Array({ maxLength: 48 }).map((b) => ({ binary: true, data: b })),
  streamFrameFor('doubles').map((f) => ({ binary: f.binary, data: f.binary ? new Uint8Array(f.bytes) : f.bytes.toString('utf8') })),
);

async function streamHealth(c: StreamClient, stats: ServerStats): Promise<void> {
  c.sendJson({ id: 'health', input: [1, 2, 3] });
  const frame = (await c.next(30_000)) as { id?: unknown; output?: unknown };
  check(frame.id === 'health' && frame.output === 6, `stream health check: ${JSON.stringify(frame)}`);
  stats.healthChecks++;
}

export function wsProperty(t: FuzzTarget, stats: ServerStats): FuzzProperty {
  return {
    name: 'ws_frames',
    parser: 'ws_server',
    weight: 1,
    run: async ({ seed, numRuns }) => {
      const port = Number(new URL(t.queryUrl).port);
      const c = await openStream(port, t.app);
      try {
        await fc.assert(
          fc.asyncProperty(streamFrame, async (f) => {
            c.ws.send(f.data);
            const frame = (await c.next(30_000)) as Record<string, unknown>;
            stats.cases++;
            if ('error' in frame) expectErrorFrame(frame, 'stream frame');
            else
              check(
                'output' in frame || 'batch_predictions' in frame || 'feedback_received' in frame,
                `unexpected frame ${JSON.stringify(frame)}`,
              );
            if (stats.cases % t.batch === 0) await streamHealth(c, stats);
          }),
          { seed, numRuns, endOnFailure: true, includeErrorInReport: true },
        );
        await streamHealth(c, stats);
      } finally {
        c.ws.close();
      }
    },
  };
}
