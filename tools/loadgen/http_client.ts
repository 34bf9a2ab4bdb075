// HTTP/1.1 keep-alive load client on raw `net` sockets: hand-built request bytes and a minimal
// response parser (status line + Content-Length). Chunked responses are reported as an error.
// Responses on a connection come back in order, so in-flight intended times are a FIFO; the open
// loop may pipeline several requests on one connection, the closed loop keeps one in flight.
// (Measured faster than an undici Pool on this machine; see tools/loadgen/README.md.)

import net from 'node:net';
import type { InputItem } from './inputs.js';
import { bodyIsDefault, requestBody, type LoadConnection, type RequestShape, type ResultSink, type Transport } from './transport.js';

export interface HttpTransportOptions {
  host: string;
  port: number;
  path: string;
  shape: RequestShape;
}

const kCrlfCrlf = Buffer.from('\r\n\r\n');
const kContentLength = Buffer.from('\r\nContent-Length:');

/**
 * Content-Length of the response head in buf[start, headerEnd), or -1 if absent/invalid. Tries the
 * usual capitalisation as bytes first (no string allocation), then a case-insensitive scan.
 */
export function readContentLength(buf: Buffer, start: number, headerEnd: number): number {
  let at = buf.indexOf(kContentLength, start);
  if (at === -1 || at >= headerEnd) {
    const m = /\r\ncontent-length:/i.exec(buf.toString('latin1', start, headerEnd));
    if (m === null) return -1;
    at = start + m.index;
  }
  let i = at + kContentLength.length;
  while (buf[i] === 0x20 || buf[i] === 0x09) i++;
  let n = 0;
  let digits = 0;
  for (let c = buf[i]!; c >= 48 && c <= 57 && i < headerEnd; c = buf[++i]!) {
    n = n * 10 + (c - 48);
    digits++;
  }
  return digits === 0 ? -1 : n;
}

/** FIFO of numbers that grows by doubling; no per-push allocation. */
class NumberQueue {
  #buf = new Float64Array(16);
  #head = 0;
  #size = 0;
  get size(): number {
    return this.#size;
  }
  push(v: number): void {
    if (this.#size === this.#buf.length) {
      const next = new Float64Array(this.#buf.length * 2);
      for (let i = 0; i < this.#size; i++) next[i] = this.#buf[(this.#head + i) % this.#buf.length]!;
      this.#buf = next;
      this.#head = 0;
    }
    this.#buf[(this.#head + this.#size) % this.#buf.length] = v;
    this.#size++;
  }
  shift(): number {
    const v = this.#buf[this.#head]!;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#size--;
    return v;
  }
}

export interface ParsedResponse {
  status: number;
  isDefault: boolean;
}

/**
 * Incremental HTTP/1.1 response parser. `feed` returns the responses completed by this chunk;
 * throws on a chunked or unparseable response (the caller fails the connection).
 */
export class ResponseParser {
  #pending: Buffer | null = null;

  feed(chunk: Buffer, onResponse: (status: number, isDefault: boolean) => void): void {
    const buf = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    let off = 0;
    for (;;) {
      const headerEnd = buf.indexOf(kCrlfCrlf, off);
      if (headerEnd === -1) break;
      // "HTTP/1.1 200 OK": status digits at offset 9..11
      if (buf[off] !== 0x48 || buf[off + 4] !== 0x2f) throw new Error('parse_error: not an HTTP/1.x status line');
      const status = (buf[off + 9]! - 48) * 100 + (buf[off + 10]! - 48) * 10 + (buf[off + 11]! - 48);
      const contentLength = readContentLength(buf, off, headerEnd);
      if (contentLength < 0) {
        const head = buf.toString('latin1', off, headerEnd).toLowerCase();
        if (head.includes('\ntransfer-encoding:') && head.includes('chunked')) {
          throw new Error('chunked_unsupported: the server sent a chunked response; this client needs Content-Length');
        }
        if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
          onResponse(status, false);
          off = headerEnd + 4;
          continue;
        }
        throw new Error('parse_error: response without a valid Content-Length');
      }
      const bodyStart = headerEnd + 4;
      const bodyEnd = bodyStart + contentLength;
      if (bodyEnd > buf.length) break;
      onResponse(status, bodyIsDefault(buf, bodyStart, bodyEnd));
      off = bodyEnd;
    }
    this.#pending = off >= buf.length ? null : buf.subarray(off);
  }
}

class HttpConnection implements LoadConnection {
  readonly #owner: HttpTransport;
  readonly #sink: ResultSink;
  readonly #intended = new NumberQueue();
  #parser = new ResponseParser();
  #socket: net.Socket | null = null;
  #closed = false;
  readonly #onResponse = (status: number, isDefault: boolean): void => {
    const intendedMs = this.#intended.shift();
    this.#sink.onResponse(this, intendedMs, status, isDefault);
  };

  constructor(owner: HttpTransport, sink: ResultSink) {
    this.#owner = owner;
    this.#sink = sink;
  }

  get inflight(): number {
    return this.#intended.size;
  }

  /** Resolves when connected, or after a failure (requests then fail and reconnect lazily). */
  open(): Promise<void> {
    return new Promise((resolve) => {
      const socket = this.#dial();
      socket.once('connect', () => resolve());
      socket.once('close', () => resolve());
    });
  }

  #dial(): net.Socket {
    const socket = net.connect({ host: this.#owner.options.host, port: this.#owner.options.port, noDelay: true });
    this.#socket = socket;
    this.#parser = new ResponseParser();
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.#socket) return;
      try {
        this.#parser.feed(chunk, this.#onResponse);
      } catch (err) {
        this.#fail(socket, (err as Error).message.split(':')[0]!);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.#fail(socket, err.code ?? 'socket_error'));
    socket.on('close', () => this.#fail(socket, 'conn_closed'));
    return socket;
  }

  /** Fail every in-flight request on `socket` and drop it; the next send redials. */
  #fail(socket: net.Socket, kind: string): void {
    if (socket !== this.#socket) return;
    this.#socket = null;
    socket.destroy();
    const failed: number[] = [];
    while (this.#intended.size > 0) failed.push(this.#intended.shift());
    for (const intendedMs of failed) this.#sink.onError(this, intendedMs, kind);
  }

  send(item: InputItem, intendedMs: number): void {
    if (this.#closed) {
      this.#sink.onError(this, intendedMs, 'conn_closed');
      return;
    }
    if (item.wireKey !== this.#owner) {
      item.wire = this.#owner.encode(item);
      item.wireKey = this.#owner;
    }
    const socket = this.#socket ?? this.#dial();
    this.#intended.push(intendedMs);
    socket.write(item.wire!);
  }

  close(): void {
    this.#closed = true;
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
  }
}

export class HttpTransport implements Transport {
  readonly options: HttpTransportOptions;
  readonly #head: string;

  constructor(options: HttpTransportOptions) {
    this.options = options;
    this.#head =
      `POST ${options.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\n` +
      'Content-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: ';
  }

  get description(): string {
    return `http://${this.options.host}:${this.options.port}${this.options.path} (${this.options.shape})`;
  }

  /** The full request bytes for one input. */
  encode(item: InputItem): Buffer {
    const body = requestBody(this.options.shape, item);
    return Buffer.from(`${this.#head}${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  async connect(count: number, sink: ResultSink): Promise<LoadConnection[]> {
    const conns = Array.from({ length: count }, () => new HttpConnection(this, sink));
    await Promise.all(conns.map((c) => c.open()));
    return conns;
  }
}
