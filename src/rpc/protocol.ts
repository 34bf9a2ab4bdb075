// The container wire protocol (containers/PROTOCOL.md is the prose spec; this file is the
// executable one). A frame is a big-endian u32 body length followed by one msgpack map.

import { Packr, Unpackr } from 'msgpackr';

export const kProtocolVersion = 1;
/** A frame larger than this is a protocol error (the connection is closed). */
export const kFrameBytesMax = 64 * 1024 * 1024;

/** Frontend → container, first frame on a connection. */
export interface HelloMessage {
  t: 'hello';
  protocol: number;
  model: string;
  version: string;
  input_type: string;
  replica: number;
  heartbeat_ms: number;
  /** Fresh random bytes (>= 16, we send 32) the container's `auth` must cover (rpc/replica_auth.ts). */
  nonce?: Uint8Array;
}

/** Container → frontend, the answer to hello. */
export interface ReadyMessage {
  t: 'ready';
  protocol: number;
  model: string;
  version: string;
  input_type: string;
  pid: number;
  runtime: string;
  /** HMAC-SHA256(secret, nonce ‖ model ‖ version ‖ replica), length-prefixed fields (rpc/replica_auth.ts); absent without a secret. */
  auth?: Uint8Array;
}

/** Frontend → container. Numeric types: `data` holds all inputs back to back (little-endian),
 * `lens` the element count of each. Strings: `items` of str. Bytes: `items` of bin. */
export interface PredictMessage {
  t: 'predict';
  id: number;
  type: string;
  n: number;
  lens?: number[];
  data?: Uint8Array;
  items?: Array<string | Uint8Array>;
}

/** Container → frontend: one output per input, in order. */
export interface ResultMessage {
  t: 'result';
  id: number;
  outputs: unknown[];
}

/** Either side. With `id`: that batch failed and the connection lives on. Without: fatal. */
export interface ErrorMessage {
  t: 'error';
  id?: number;
  message: string;
}

export interface HeartbeatMessage {
  t: 'hb';
}

export interface ByeMessage {
  t: 'bye';
  reason?: string;
}

export type ContainerMessage = HelloMessage | ReadyMessage | PredictMessage | ResultMessage | ErrorMessage | HeartbeatMessage | ByeMessage;

// Plain maps, no records/structures extension: every peer (Python's msgpack too) reads them.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Encode one message as a complete frame (length prefix included). */
export function encodeFrame(message: ContainerMessage): Buffer {
  const body = packr.pack(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/**
 * Incremental frame decoder: feed it socket chunks in any split, get whole messages out.
 * Throws ProtocolError on an oversized frame or a body that is not a msgpack map with a `t` field.
 */
export class FrameDecoder {
  /** Bytes of an incomplete frame, as received (joined once the whole frame is here). */
  #chunks: Buffer[] = [];
  #pendingBytes = 0;
  /** Body length of the incomplete frame once its header has arrived, else -1. */
  #neededBytes = -1;

  push(chunk: Buffer, onMessage: (message: ContainerMessage) => void): void {
    if (this.#pendingBytes > 0) {
      this.#chunks.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#neededBytes < 0 && this.#pendingBytes >= 4) {
        this.#neededBytes = readLength(Buffer.concat(this.#chunks, this.#pendingBytes));
      }
      // A large frame arrives in many chunks: join them once, when it is complete (not per chunk).
      if (this.#neededBytes < 0 || this.#pendingBytes < 4 + this.#neededBytes) return;
      chunk = Buffer.concat(this.#chunks, this.#pendingBytes);
      this.#chunks = [];
      this.#pendingBytes = 0;
      this.#neededBytes = -1;
    }
    let offset = 0;
    while (chunk.length - offset >= 4) {
      const bodyBytes = readLength(chunk, offset);
      if (chunk.length - offset - 4 < bodyBytes) break;
      let message: unknown;
      try {
        message = unpackr.unpack(chunk.subarray(offset + 4, offset + 4 + bodyBytes));
      } catch (err) {
        throw new ProtocolError(`undecodable frame: ${(err as Error).message}`);
      }
      offset += 4 + bodyBytes;
      if (message === null || typeof message !== 'object' || typeof (message as { t?: unknown }).t !== 'string') {
        throw new ProtocolError('frame body is not a message map with a string field t');
      }
      onMessage(message as ContainerMessage);
    }
    if (offset < chunk.length) {
      const rest = Buffer.from(chunk.subarray(offset));
      this.#chunks = [rest];
      this.#pendingBytes = rest.length;
      this.#neededBytes = rest.length >= 4 ? readLength(rest) : -1;
    }
  }
}

/** The body length in a frame header; a length over the limit is a protocol error. */
function readLength(buf: Buffer, offset = 0): number {
  const bodyBytes = buf.readUInt32BE(offset);
  if (bodyBytes > kFrameBytesMax) throw new ProtocolError(`frame of ${bodyBytes} bytes exceeds ${kFrameBytesMax}`);
  return bodyBytes;
}

/**
 * A field of a peer's message as text for an error message: a string as it is, any other value
 * named by its type. Never `${value}` or String(value): a msgpack map whose `toString` is not a
 * function makes those throw.
 */
export function fieldText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null || value === undefined) {
    return String(value);
  }
  return `a value of type ${value instanceof Uint8Array ? 'bin' : typeof value}`;
}
