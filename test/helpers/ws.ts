// WebSocket helpers for stream tests: a queue-backed undici client, and a raw TCP client that does
// the handshake by hand (so a test can stop reading and see the server's backpressure policy).
import net from 'node:net';
import { pack, unpack } from 'msgpackr';
import { WebSocket } from 'undici';

export interface StreamClient {
  ws: WebSocket;
  /** The next message (parsed JSON or unpacked msgpack), waiting at most `timeoutMs`. */
  // biome-ignore lint/suspicious/noExplicitAny: parsed frames, which the tests index freely
  next(timeoutMs?: number): Promise<any>;
  sendJson(value: unknown): void;
  sendPack(value: unknown): void;
  /** Resolves with the close code once the connection is closed. */
  closed: Promise<number>;
}

export async function openStream(port: number, app: string): Promise<StreamClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${encodeURIComponent(app)}/stream`);
  ws.binaryType = 'arraybuffer';
  const queue: unknown[] = [];
  const waiters: Array<(v: unknown) => void> = [];
  ws.addEventListener('message', (ev) => {
    const value = typeof ev.data === 'string' ? JSON.parse(ev.data) : unpack(new Uint8Array(ev.data as ArrayBuffer));
    const w = waiters.shift();
    if (w !== undefined) w(value);
    else queue.push(value);
  });
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', (ev) => resolve(ev.code)));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new Error('WebSocket failed to open')));
  });
  return {
    ws,
    closed,
    next(timeoutMs = 10_000) {
      if (queue.length > 0) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((v) => {
          clearTimeout(timer);
          resolve(v);
        });
      });
    },
    sendJson(value) {
      ws.send(JSON.stringify(value));
    },
    sendPack(value) {
      ws.send(pack(value));
    },
  };
}

/** Connect and upgrade by hand; resolves with the socket (handshake consumed) or the HTTP status line. */
export function rawUpgrade(port: number, urlPath: string): Promise<{ socket: net.Socket; status: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.pause();
      resolve({ socket, status: head.subarray(0, head.indexOf('\r\n')).toString(), rest: head.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(
      `GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

/** A masked client frame (FIN set). */
export function clientFrame(payload: Buffer, opcode = 1): Buffer {
  const len = payload.length;
  const header =
    len < 126
      ? Buffer.from([0x80 | opcode, 0x80 | len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255])
        : Buffer.concat([
            Buffer.from([0x80 | opcode, 0x80 | 127]),
            (() => {
              const b = Buffer.alloc(8);
              b.writeBigUInt64BE(BigInt(len));
              return b;
            })(),
          ]);
  const mask = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, mask, body]);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** Split unmasked server frames off the front of `buf`; returns the frames and the unparsed rest. */
export function parseServerFrames(buf: Buffer): { frames: ServerFrame[]; rest: Buffer } {
  const frames: ServerFrame[] = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const opcode = buf[at]! & 0x0f;
    let len = buf[at + 1]! & 0x7f;
    let headerBytes = 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = buf.readUInt16BE(at + 2);
      headerBytes = 4;
    } else if (len === 127) {
      if (buf.length - at < 10) break;
      len = Number(buf.readBigUInt64BE(at + 2));
      headerBytes = 10;
    }
    if (buf.length - at < headerBytes + len) break;
    frames.push({ opcode, payload: buf.subarray(at + headerBytes, at + headerBytes + len) });
    at += headerBytes + len;
  }
  return { frames, rest: buf.subarray(at) };
}
