// WebSocket load client (undici's WebSocket). Each request is a text frame
// `{"id":N,"input":[...]}`; the reply `{"id":N,"output":...,"default":bool}` is matched by id
// (read by a scan for `"id":`, no JSON parse), so replies may come back in any order.

import { WebSocket } from 'undici';
import type { InputItem } from './inputs.js';
import { textIsDefault, type LoadConnection, type ResultSink, type Transport } from './transport.js';

/** The integer after the first `"id":` in `text`, or -1. */
export function readMessageId(text: string): number {
  const at = text.indexOf('"id":');
  if (at === -1) return -1;
  let i = at + 5;
  while (text.charCodeAt(i) === 0x20) i++;
  let id = 0;
  let digits = 0;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
    id = id * 10 + (c - 48);
    digits++;
  }
  return digits === 0 ? -1 : id;
}

class WsConnection implements LoadConnection {
  readonly #sink: ResultSink;
  readonly #url: string;
  readonly #pending = new Map<number, number>(); // id -> intendedMs
  #ws: WebSocket | null = null;
  #nextId = 1;
  #closed = false;

  constructor(url: string, sink: ResultSink) {
    this.#url = url;
    this.#sink = sink;
  }

  get inflight(): number {
    return this.#pending.size;
  }

  open(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.#url);
      this.#ws = ws;
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('message', (ev) => {
        const text = typeof ev.data === 'string' ? ev.data : Buffer.from(ev.data as ArrayBuffer).toString('utf8');
        const id = readMessageId(text);
        const intendedMs = this.#pending.get(id);
        if (intendedMs === undefined) return; // unknown id: ignore (not ours)
        this.#pending.delete(id);
        this.#sink.onResponse(this, intendedMs, 200, textIsDefault(text));
      });
      ws.addEventListener('close', () => {
        resolve();
        if (this.#ws === ws) this.#ws = null;
        this.#failAll('conn_closed');
      });
      ws.addEventListener('error', () => {
        resolve();
      });
    });
  }

  #failAll(kind: string): void {
    const failed = [...this.#pending.values()];
    this.#pending.clear();
    for (const intendedMs of failed) this.#sink.onError(this, intendedMs, kind);
  }

  send(item: InputItem, intendedMs: number): void {
    const ws = this.#ws;
    if (this.#closed || ws === null || ws.readyState !== WebSocket.OPEN) {
      this.#sink.onError(this, intendedMs, 'ws_not_open');
      return;
    }
    const id = this.#nextId++;
    this.#pending.set(id, intendedMs);
    ws.send(`{"id":${id},"input":${item.json}}`);
  }

  close(): void {
    this.#closed = true;
    const ws = this.#ws;
    this.#ws = null;
    this.#pending.clear();
    ws?.close();
  }
}

export class WsTransport implements Transport {
  readonly url: string;
  constructor(url: string) {
    this.url = url;
  }
  get description(): string {
    return `${this.url} (websocket)`;
  }

  async connect(count: number, sink: ResultSink): Promise<LoadConnection[]> {
    const conns = Array.from({ length: count }, () => new WsConnection(this.url, sink));
    await Promise.all(conns.map((c) => c.open()));
    return conns;
  }
}
