// Open-loop (Poisson) queries over the WebSocket stream (docs/streaming.md) for the soak test: a
// few connections, one JSON frame {"id","input"} per query, round robin; each answer {"id",...}
// settles its query. Records have the harness's shape (bench/reliability/harness_load.ts): a query
// with no answer `timeoutMs` after its intended time, or whose connection closed first, is
// unanswered. The harness has no WebSocket driver, so this one lives beside the soak.

import { WebSocket } from 'undici';
import type { QueryRecord } from './harness.js';
import { drivePoisson } from './harness_load.js';

export interface WsLoadOptions {
  /** ws://host:port/<app>/stream */
  url: string;
  rateRps: number;
  durationS: number;
  seed: number;
  /** The input of the i-th query (a JSON value). */
  input: (i: number) => unknown;
  connections?: number;
  timeoutMs?: number;
}

interface Pending {
  intendedMs: number;
  socket: number;
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.addEventListener('open', () => resolve(ws), { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot open ${url}`)), { once: true });
  });
}

/** The fields of an answer frame the soak needs: a prediction, a default with its reason, or an error. */
function describe(frame: Record<string, unknown>): { status: number; isDefault: boolean; reason: string } {
  if (frame.error !== undefined)
    return { status: 400, isDefault: false, reason: `${String(frame.code ?? frame.error)}: ${String(frame.cause ?? '')}` };
  const isDefault = frame.default === true;
  return { status: 200, isDefault, reason: isDefault ? String(frame.default_explanation ?? '') : '' };
}

/** Drive Poisson queries over the stream; resolves once every query is answered or given up. */
export async function wsOpenLoop(o: WsLoadOptions): Promise<QueryRecord[]> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const sockets = await Promise.all(Array.from({ length: o.connections ?? 4 }, () => open(o.url)));
  const pending = new Map<number, Pending>();
  const records: QueryRecord[] = [];
  const settle = (id: number, status: number, isDefault: boolean, reason: string, answered: boolean): void => {
    const p = pending.get(id);
    if (p === undefined) return;
    pending.delete(id);
    const doneMs = performance.now();
    records.push({ intendedMs: p.intendedMs, doneMs, latencyMs: doneMs - p.intendedMs, status, isDefault, reason, answered });
  };
  sockets.forEach((ws, index) => {
    ws.addEventListener('message', (ev) => {
      const frame = JSON.parse(String(ev.data)) as Record<string, unknown>;
      const d = describe(frame);
      settle(Number(frame.id), d.status, d.isDefault, d.reason, true);
    });
    ws.addEventListener('close', () => {
      for (const [id, p] of pending) if (p.socket === index) settle(id, 0, false, 'connection closed', false);
    });
  });
  let next = 0;
  const dispatch = (intendedMs: number): void => {
    const id = next++;
    const socket = id % sockets.length;
    pending.set(id, { intendedMs, socket });
    sockets[socket]!.send(JSON.stringify({ id, input: o.input(id) }));
  };
  await drivePoisson({
    ...o,
    timeoutMs,
    dispatch,
    pendingCount: () => pending.size,
    expire: (limitMs) => {
      for (const [id, p] of pending) if (p.intendedMs < limitMs) settle(id, 0, false, 'unanswered', false);
    },
  });
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.addEventListener('close', () => resolve(), { once: true });
          ws.close();
        }),
    ),
  );
  return records.sort((a, b) => a.intendedMs - b.intendedMs);
}
