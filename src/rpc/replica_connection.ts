// One batching worker's connection to one replica: dial, handshake, heartbeats, liveness,
// reconnect with backoff, and batches in flight correlated by id. Lives in the worker thread that
// owns the model (a socket cannot move between threads). Time and timers come from the injected
// Clock, so tests drive handshake and liveness timeouts and reconnect delays without waiting.

import assert from 'node:assert/strict';
import net from 'node:net';
import { backoffDelayMs } from '../lib/backoff.js';
import { systemClock, type Clock } from '../lib/clock.js';
import {
  encodeFrame,
  fieldText,
  FrameDecoder,
  kProtocolVersion,
  ProtocolError,
  type ContainerMessage,
  type PredictMessage,
  type ReadyMessage,
} from './protocol.js';
import { checkReplicaAuth, newNonce } from './replica_auth.js';

export interface ReplicaAddress {
  model: string;
  version: string;
  inputType: string;
  replicaId: number;
  host: string;
  port: number;
  /**
   * The cluster's replica secret: the replica's `ready` must carry auth = HMAC(secret, hello's
   * nonce, ...) (replica_auth.ts), else the connection is refused. Null or absent: replicaAuth off.
   */
  secret?: Uint8Array | null;
}

export interface ReplicaConnectionOptions {
  heartbeatMs: number;
  /** Nothing received for this long → the connection is dropped and dialled again. */
  livenessTimeoutMs: number;
  handshakeTimeoutMs: number;
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
}

export interface ReplicaConnectionEvents {
  onReady(conn: ReplicaConnection): void;
  /** The connection closed; every batch id in `lostBatchIds` got no answer. */
  onDown(conn: ReplicaConnection, reason: string, lostBatchIds: number[]): void;
  onResult(conn: ReplicaConnection, batchId: number, outputs: unknown[]): void;
  onBatchError(conn: ReplicaConnection, batchId: number, message: string): void;
}

export class ReplicaConnection {
  readonly address: ReplicaAddress;
  readonly #options: ReplicaConnectionOptions;
  readonly #events: ReplicaConnectionEvents;
  readonly #clock: Clock;
  #socket: net.Socket | null = null;
  #ready = false;
  #closed = false;
  /** Reconnects since the last successful handshake (the backoff exponent). */
  #attempt = 0;
  #dialedMs = 0;
  #lastSeenMs = 0;
  /** The one timer of a connection: handshake timeout, heartbeats and liveness. */
  #tickTimer: unknown = null;
  #reconnectTimer: unknown = null;
  /** This connection's hello nonce (a new one per dial). */
  #nonce: Buffer = Buffer.alloc(0);
  /** Set when the replica failed authentication: the teardown reports it although never ready. */
  #refused = false;
  readonly #inFlight = new Set<number>();
  lastError = '';

  constructor(address: ReplicaAddress, options: ReplicaConnectionOptions, events: ReplicaConnectionEvents, clock: Clock = systemClock) {
    this.address = address;
    this.#options = options;
    this.#events = events;
    this.#clock = clock;
    this.#dial();
  }

  get ready(): boolean {
    return this.#ready;
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /** Send one batch; the caller checked `ready`. Returns false if the socket is gone. */
  send(message: PredictMessage): boolean {
    const socket = this.#socket;
    if (!this.#ready || socket === null || socket.destroyed) return false;
    if (this.#inFlight.has(message.id)) assert.fail('a batch id is in flight on a replica at most once');
    this.#inFlight.add(message.id);
    socket.write(encodeFrame(message));
    return true;
  }

  /** Drop the current connection (its batches are reported lost) and dial again with backoff. */
  reset(reason: string): void {
    if (this.#closed || this.#socket === null) return;
    this.lastError = reason;
    this.#socket.destroy();
  }

  /** Close for good (replica removed or worker stopping). Lost batches are reported via onDown. */
  close(reason = 'closed by frontend'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimer(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const socket = this.#socket;
    if (socket !== null && !socket.destroyed) {
      if (this.#ready) socket.end(encodeFrame({ t: 'bye', reason }));
      else socket.destroy();
    }
    this.#teardown(reason);
  }

  #dial(): void {
    const { host, port } = this.address;
    const socket = net.connect({ host, port, noDelay: true });
    this.#socket = socket;
    this.#dialedMs = this.#clock.nowMs();
    this.#nonce = newNonce();
    this.#refused = false;
    const decoder = new FrameDecoder();
    socket.on('connect', () => {
      this.#lastSeenMs = this.#clock.nowMs();
      socket.write(
        encodeFrame({
          t: 'hello',
          protocol: kProtocolVersion,
          model: this.address.model,
          version: this.address.version,
          input_type: this.address.inputType,
          replica: this.address.replicaId,
          heartbeat_ms: this.#options.heartbeatMs,
          nonce: this.#nonce,
        }),
      );
    });
    socket.on('data', (chunk: Buffer) => {
      this.#lastSeenMs = this.#clock.nowMs();
      try {
        decoder.push(chunk, this.#onMessage);
      } catch (err) {
        const reason = err instanceof ProtocolError ? `protocol error: ${err.message}` : String(err);
        this.lastError = reason;
        socket.destroy();
      }
    });
    socket.on('error', (err) => {
      this.lastError = err.message;
    });
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#teardown(this.lastError || 'connection closed');
      if (!this.#closed) this.#scheduleReconnect();
    });
    this.#armTick(socket);
  }

  #armTick(socket: net.Socket): void {
    this.#tickTimer = this.#clock.setTimer(this.#options.heartbeatMs, () => {
      this.#tickTimer = null;
      if (this.#socket === socket && !socket.destroyed) this.#tick(socket);
    });
  }

  /** Every heartbeatMs: give up on a handshake or a silent replica, else send a heartbeat. */
  #tick(socket: net.Socket): void {
    const nowMs = this.#clock.nowMs();
    const { handshakeTimeoutMs, livenessTimeoutMs } = this.#options;
    if (!this.#ready) {
      if (nowMs - this.#dialedMs > handshakeTimeoutMs) {
        this.lastError = `no ready within ${handshakeTimeoutMs} ms`;
        socket.destroy();
        return;
      }
    } else if (nowMs - this.#lastSeenMs > livenessTimeoutMs) {
      this.lastError = `no frame for ${nowMs - this.#lastSeenMs} ms (liveness timeout ${livenessTimeoutMs} ms)`;
      socket.destroy();
      return;
    } else {
      socket.write(encodeFrame({ t: 'hb' }));
    }
    this.#armTick(socket);
  }

  #onMessage = (msg: ContainerMessage): void => {
    if (this.#refused) return; // a refused replica is heard no more
    switch (msg.t) {
      case 'result':
        if (!this.#inFlight.delete(msg.id)) return;
        if (!Array.isArray(msg.outputs)) {
          this.#events.onBatchError(this, msg.id, 'container sent a result without an outputs array');
          return;
        }
        this.#events.onResult(this, msg.id, msg.outputs);
        return;
      case 'error':
        if (typeof msg.id === 'number') {
          if (this.#inFlight.delete(msg.id)) this.#events.onBatchError(this, msg.id, fieldText(msg.message));
          return;
        }
        this.lastError = `container error: ${fieldText(msg.message)}`;
        this.#socket?.destroy();
        return;
      case 'ready':
        if (this.#ready || this.#refused) return;
        if (msg.protocol !== kProtocolVersion) {
          this.lastError = `container speaks protocol ${fieldText(msg.protocol)}, we speak ${kProtocolVersion}`;
          this.#socket?.destroy();
          return;
        }
        if (!this.#authenticated(msg)) return;
        this.#ready = true;
        this.#attempt = 0;
        this.lastError = '';
        this.#events.onReady(this);
        return;
      case 'hb':
        return;
      case 'bye':
        this.lastError = `container said bye${msg.reason ? `: ${fieldText(msg.reason)}` : ''}`;
        this.#socket?.end();
        return;
      default:
        this.lastError = `unexpected message '${msg.t}' from container`;
        this.#socket?.destroy();
    }
  };

  /** Checks a ready's auth; a replica that fails is told, closed, reported down, and dialled again later. */
  #authenticated(msg: ReadyMessage): boolean {
    const secret = this.address.secret;
    if (secret === undefined || secret === null) return true;
    const { model, version, replicaId } = this.address;
    const why = checkReplicaAuth(secret, this.#nonce, model, version, replicaId, msg.auth);
    if (why === null) return true;
    const socket = this.#socket;
    this.#refused = true;
    this.lastError = `authentication failed: ${why}`;
    if (socket !== null && !socket.destroyed) {
      socket.once('finish', () => socket.destroy());
      socket.end(encodeFrame({ t: 'error', message: this.lastError }));
    }
    return false;
  }

  #teardown(reason: string): void {
    this.#clock.clearTimer(this.#tickTimer);
    this.#tickTimer = null;
    const wasReady = this.#ready;
    this.#ready = false;
    const lost = [...this.#inFlight];
    this.#inFlight.clear();
    this.#socket = null;
    if (wasReady || lost.length > 0 || this.#refused) this.#events.onDown(this, reason, lost);
  }

  #scheduleReconnect(): void {
    const delayMs = backoffDelayMs(this.#attempt, this.#options.reconnectDelayMsMin, this.#options.reconnectDelayMsMax);
    this.#attempt++;
    this.#reconnectTimer = this.#clock.setTimer(delayMs, () => {
      this.#reconnectTimer = null;
      if (!this.#closed) this.#dial();
    });
  }
}
