// Durable, shared state in Redis (layout: redis_keys.ts). Several frontends on one Redis and
// cluster name see one configuration, and a restarted frontend reloads it.
//
// Delivery: every write runs one Lua script that applies the change, INCRs the cluster's `seq`
// and PUBLISHes `{seq, writer, change}` atomically. Every store, the writer included, delivers
// changes to its listeners only from the channel, in `seq` order, and a write's promise resolves
// once its own change has been delivered (as MemoryStateStore delivers before resolving). So each
// listener sees each change exactly once, and all frontends see concurrent writes in the one order
// Redis applied them. (Delivering the writer's change locally and dropping its echo would let two
// frontends end in different states when they write the same key at once.)
//
// A gap in `seq`, a lost connection (either one) or a reconnect makes the store unsynced: writes
// reject with CLP_ERR_STATE_UNAVAILABLE at once (no offline queue), ioredis reconnects with capped
// exponential backoff, and once both connections are back the store reloads the whole snapshot in
// one MULTI, emits `{kind:'resync'}` and replays the changes that arrived after it. A Redis that
// holds no state at all for the cluster (restarted without its data) first gets this frontend's copy
// written back (state_mirror.ts), so a Redis restart never tears the cluster's apps and models down;
// the write-back publishes a reseed message that makes every store loaded before it resync. A Redis
// that holds anything is followed, whatever its seq (seqs of two Redis histories do not compare).

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ClipperError } from '../errors.js';
import { modelKey, type AppRecord, type ModelRecord, type StateSnapshot } from './records.js';
import { connectionOptions, loadSnapshot, readMessage, reseed, runWriteScript, shutdown, type WriteCommand } from './redis_commands.js';
import { StateMirror } from './state_mirror.js';
import { redactRedisUrl, redisKeys, type RedisKeys } from './redis_keys.js';
import { DeliveryWaiters } from './delivery_waiters.js';
import type { StateChange, StateListener, StateStore } from './state_store.js';

export interface RedisStateStoreOptions {
  clusterName: string;
  /** How long open() may take to reach Redis before it fails. Default 2000. */
  connectTimeoutMs?: number;
  /** Longest wait between reconnect attempts while serving (so writes resume at most this long after Redis is back). Default 500. */
  reconnectDelayMaxMs?: number;
  /** Limit on one command, and on the wait for a write's own change to come back. Default 5000. */
  commandTimeoutMs?: number;
  /** Called when a listener throws (default: console.error); other listeners still run. */
  onListenerError?: (err: unknown) => void;
}

interface ChangeMessage {
  seq: number;
  writer: string;
  /** null: a frontend wrote its copy back into an empty Redis (resync unless loaded after it). */
  change: StateChange | null;
}

/** Changes held while a snapshot loads; more than this forces another resync. */
const kBufferedChangesMax = 10_000;
const kLostMessage = 'state store unavailable: Redis connection lost; retrying';

export class RedisStateStore implements StateStore {
  readonly #url: string;
  readonly #keys: RedisKeys;
  readonly #connectTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #onListenerError: (err: unknown) => void;
  readonly #writerId = randomUUID();
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #listeners = new Set<StateListener>();
  #phase: 'idle' | 'opening' | 'open' | 'closed' = 'idle';
  #cmdReady = false;
  #subReady = false;
  /** Snapshot loaded and every change since delivered (lastSeq is meaningful). */
  #synced = false;
  /** After open(): hold changes until the caller has had a turn to subscribe. */
  #holding = false;
  #resyncing = false;
  /** Bumped on every connection loss: a snapshot loaded across one is discarded. */
  #epoch = 0;
  #lastSeq = 0;
  #buffer: ChangeMessage[] = [];
  readonly #waiters = new DeliveryWaiters();
  readonly #mirror = new StateMirror();
  #holdTimer: NodeJS.Timeout | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #lastError = '';

  constructor(url: string, options: RedisStateStoreOptions) {
    const reconnectDelayMaxMs = options.reconnectDelayMaxMs ?? 500;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 5000;
    for (const [name, value] of [
      ['connectTimeoutMs', this.#connectTimeoutMs],
      ['reconnectDelayMaxMs', reconnectDelayMaxMs],
      ['commandTimeoutMs', this.#commandTimeoutMs],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new ClipperError('CLP_ERR_INVALID_ARG', `options.${name} must be a positive integer (got ${value})`);
      }
    }
    if (!/^rediss?:\/\//.test(url)) {
      throw new ClipperError(
        'CLP_ERR_INVALID_ARG',
        `state URL must start with redis:// or rediss:// (got ${JSON.stringify(redactRedisUrl(url))})`,
      );
    }
    this.#url = redactRedisUrl(url);
    this.#onListenerError = options.onListenerError ?? ((err) => console.error('[clipper] state listener failed:', err));
    const common = connectionOptions(this.#connectTimeoutMs, this.#commandTimeoutMs, reconnectDelayMaxMs, () => this.#phase === 'open');
    this.#cmd = new Redis(url, { ...common, connectionName: 'clipper-state' });
    this.#keys = redisKeys(options.clusterName, this.#cmd.options.db ?? 0);
    this.#sub = new Redis(url, { ...common, connectionName: 'clipper-state-sub' });
    for (const conn of [this.#cmd, this.#sub]) {
      conn.on('error', (err: Error) => {
        this.#lastError = err.message;
      });
      conn.on('close', () => this.#onClose(conn));
    }
    this.#cmd.on('ready', () => {
      if (this.#phase !== 'open') return;
      this.#cmdReady = true;
      this.#reconcile();
    });
    this.#sub.on('ready', () => {
      if (this.#phase !== 'open') return;
      this.#sub.subscribe(this.#keys.channel).then(
        () => {
          this.#subReady = true;
          this.#reconcile();
        },
        () => {
          /* the close handler covers it */
        },
      );
    });
    this.#sub.on('message', (channel: string, text: string) => {
      if (channel === this.#keys.channel) this.#onMessage(text);
    });
  }

  get writable(): boolean {
    return this.#phase === 'open' && this.#cmdReady && this.#subReady && this.#synced;
  }

  get unavailableReason(): string {
    if (this.writable) return '';
    return this.#phase === 'open' && this.#cmdReady && this.#subReady ? 'resynchronising with Redis' : this.#unavailable().message;
  }

  async open(): Promise<StateSnapshot> {
    if (this.#phase !== 'idle') throw new ClipperError('CLP_ERR_INTERNAL', `state store open() called when ${this.#phase}`);
    this.#phase = 'opening';
    let timer: NodeJS.Timeout | undefined;
    try {
      const connected = Promise.all([this.#cmd.connect(), this.#sub.connect()]);
      connected.catch(() => {});
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.#connectTimeoutMs} ms`)), this.#connectTimeoutMs);
      });
      await Promise.race([connected, late]);
      await this.#sub.subscribe(this.#keys.channel);
      const { snapshot, seq } = await loadSnapshot(this.#cmd, this.#keys);
      // Neither connection retries while opening, so a drop up to here leaves it ended.
      if (this.#cmd.status !== 'ready' || this.#sub.status !== 'ready') throw new Error('connection lost while opening');
      this.#lastSeq = seq;
      this.#mirror.reset(snapshot);
      this.#cmdReady = this.#subReady = this.#synced = true;
      this.#holding = true;
      this.#phase = 'open';
      // Changes published after the snapshot wait one macrotask, so the caller can subscribe first.
      this.#holdTimer = setTimeout(() => {
        this.#holdTimer = null;
        this.#holding = false;
        this.#drain();
      }, 0);
      return snapshot;
    } catch (err) {
      this.#phase = 'closed';
      await Promise.all([shutdown(this.#cmd), shutdown(this.#sub)]);
      if (err instanceof ClipperError) throw err;
      const reason = this.#lastError || (err instanceof Error ? err.message : String(err));
      throw new ClipperError('CLP_ERR_STATE_UNAVAILABLE', `cannot reach Redis at ${this.#url}: ${reason}`, undefined, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  putApp(app: AppRecord): Promise<void> {
    return this.#write(this.#keys.apps, 'set', app.name, JSON.stringify(app), false, { kind: 'app_put', app });
  }

  deleteApp(name: string): Promise<void> {
    return this.#write(this.#keys.apps, 'del', name, '', true, { kind: 'app_deleted', name });
  }

  putModel(model: ModelRecord): Promise<void> {
    const field = modelKey(model.model_name, model.model_version);
    return this.#write(this.#keys.models, 'set', field, JSON.stringify(model), false, { kind: 'model_put', model });
  }

  deleteModel(name: string, version: string): Promise<void> {
    return this.#write(this.#keys.models, 'del', modelKey(name, version), '', true, { kind: 'model_deleted', name, version });
  }

  setCurrentVersion(name: string, version: string | null): Promise<void> {
    const change: StateChange = { kind: 'current_version', name, version };
    return version === null
      ? this.#write(this.#keys.current, 'del', name, '', false, change)
      : this.#write(this.#keys.current, 'set', name, version, false, change);
  }

  async getPolicyState(key: string): Promise<string | null> {
    this.#assertConnected();
    try {
      const value = await this.#cmd.hget(this.#keys.policy, key);
      if (value !== null) this.#mirror.notePolicy(key, value);
      return value;
    } catch (err) {
      throw this.#commandError(err);
    }
  }

  async putPolicyState(key: string, value: string): Promise<void> {
    this.#assertConnected();
    try {
      await this.#cmd.hset(this.#keys.policy, key, value);
      this.#mirror.notePolicy(key, value);
    } catch (err) {
      throw this.#commandError(err);
    }
  }

  subscribe(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    for (const timer of [this.#holdTimer, this.#retryTimer]) if (timer !== null) clearTimeout(timer);
    this.#holdTimer = this.#retryTimer = null;
    this.#listeners.clear();
    this.#buffer = [];
    this.#waiters.rejectAll(new ClipperError('CLP_ERR_STATE_UNAVAILABLE', 'state store closed'));
    await Promise.all([shutdown(this.#cmd), shutdown(this.#sub)]);
  }

  async #write(hash: string, op: 'set' | 'del', field: string, value: string, onlyIfExisted: boolean, change: StateChange): Promise<void> {
    if (!this.writable) throw this.#unavailable();
    let seq: number;
    try {
      const command: WriteCommand = { hash, op, field, value, onlyIfExisted, changeJson: JSON.stringify(change) };
      seq = await runWriteScript(this.#cmd, this.#keys, this.#writerId, command);
    } catch (err) {
      throw this.#commandError(err);
    }
    if (seq === 0 || (this.#synced && this.#lastSeq >= seq)) return;
    if (this.#phase !== 'open' || !this.#cmdReady || !this.#subReady) throw this.#maybeApplied();
    const late = (): Error =>
      new ClipperError(
        'CLP_ERR_STATE_UNAVAILABLE',
        `state store unavailable: change ${seq} was applied but not delivered within ${this.#commandTimeoutMs} ms; resyncing`,
      );
    return this.#waiters.wait(seq, this.#commandTimeoutMs, late, () => this.#sub.disconnect(true)); // reconnect → resync
  }

  #onMessage(text: string): void {
    if (this.#phase === 'closed') return;
    let msg: ChangeMessage;
    try {
      msg = readMessage(text); // a malformed message is treated as a missed one
    } catch {
      this.#needResync();
      return;
    }
    if (!this.#synced || this.#holding) {
      if (this.#buffer.length < kBufferedChangesMax) this.#buffer.push(msg);
      else this.#needResync();
      return;
    }
    this.#apply(msg);
  }

  /** Delivers the next change in seq order; anything else means changes were missed. */
  #apply(msg: ChangeMessage): void {
    if (msg.change === null) {
      if (msg.seq > this.#lastSeq) this.#needResync();
      return;
    }
    if (msg.seq !== this.#lastSeq + 1) {
      this.#buffer.push(msg);
      this.#needResync();
      return;
    }
    this.#lastSeq = msg.seq;
    this.#emit(msg.change);
    this.#settleWaiters();
  }

  #drain(): void {
    const pending = this.#buffer;
    this.#buffer = [];
    for (const msg of pending) {
      if (!this.#synced) this.#buffer.push(msg);
      else if (msg.seq > this.#lastSeq) this.#apply(msg);
    }
  }

  #needResync(): void {
    this.#synced = false;
    this.#reconcile();
  }

  #onClose(conn: Redis): void {
    if (this.#phase !== 'open') return;
    if (conn === this.#cmd) this.#cmdReady = false;
    else this.#subReady = false;
    this.#epoch += 1;
    this.#synced = false;
    this.#buffer = [];
    this.#waiters.rejectAll(this.#maybeApplied());
  }

  /** Starts a snapshot reload when both connections are up and the store is not synced. */
  #reconcile(): void {
    if (this.#phase !== 'open' || !this.#cmdReady || !this.#subReady || this.#synced || this.#resyncing) return;
    this.#resyncing = true;
    const epoch = this.#epoch;
    this.#loadOrReseed().then(
      ({ snapshot, seq }) => {
        this.#resyncing = false;
        if (this.#phase !== 'open' || epoch !== this.#epoch) return this.#reconcile();
        this.#lastSeq = seq;
        this.#synced = true;
        this.#emit({ kind: 'resync', snapshot });
        this.#settleWaiters();
        this.#drain();
      },
      () => {
        this.#resyncing = false;
        // A lost connection calls back through 'ready'; anything else is retried on a timer.
        if (this.#phase === 'open' && this.#retryTimer === null) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = null;
            this.#reconcile();
          }, 500);
        }
      },
    );
  }

  /** The snapshot to resync to; a Redis with no state for the cluster first gets the mirror written back. */
  async #loadOrReseed(): Promise<{ snapshot: StateSnapshot; seq: number }> {
    const loaded = await loadSnapshot(this.#cmd, this.#keys);
    // The script checks again, atomically, that Redis holds nothing (no seq key, no hashes).
    if (loaded.seq !== 0 || this.#mirror.isEmpty) return loaded;
    if (await reseed(this.#cmd, this.#keys, this.#writerId, this.#lastSeq, this.#mirror.payload())) {
      process.stderr.write(`clipper: Redis at ${this.#url} came back without the cluster's state; wrote this frontend's copy back\n`);
    }
    return loadSnapshot(this.#cmd, this.#keys);
  }

  #settleWaiters(): void {
    if (this.#synced) this.#waiters.settle(this.#lastSeq);
  }

  #emit(change: StateChange): void {
    this.#mirror.apply(change);
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#onListenerError(err);
      }
    }
  }

  #assertConnected(): void {
    if (this.#phase !== 'open' || !this.#cmdReady) throw this.#unavailable();
  }

  #unavailable(): ClipperError {
    if (this.#phase === 'closed') return new ClipperError('CLP_ERR_STATE_UNAVAILABLE', 'state store closed');
    if (this.#phase !== 'open') return new ClipperError('CLP_ERR_STATE_UNAVAILABLE', 'state store not open');
    return new ClipperError('CLP_ERR_STATE_UNAVAILABLE', kLostMessage);
  }

  #maybeApplied(): ClipperError {
    return new ClipperError(
      'CLP_ERR_STATE_UNAVAILABLE',
      'state store unavailable: Redis connection lost after the write was sent (it may have been applied); retrying',
    );
  }

  #commandError(err: unknown): ClipperError {
    if (err instanceof ClipperError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof Error && err.name === 'ReplyError') {
      return new ClipperError('CLP_ERR_INTERNAL', `state store: Redis replied ${message}`, undefined, { cause: err });
    }
    return new ClipperError('CLP_ERR_STATE_UNAVAILABLE', `${kLostMessage} (${message})`, undefined, { cause: err });
  }
}
