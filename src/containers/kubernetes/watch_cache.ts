// A local copy of one kind of Kubernetes object (e.g. the pods of one Clipper cluster), kept
// current by list + watch, telling a listener about every change. The Kubernetes manager runs one
// per frontend so that every frontend follows every replica pod.
//
// Why not client-node's ListWatch / makeInformer: on any watch error other than 410 it calls its
// error callbacks and stops for good (no backoff, no retry), it has no idle timeout (a silent,
// half-open watch hangs forever), its Watch can only be aborted after the server answered, and it
// drops the Status of a failed watch. So the loop is written here, on kube_request.ts:
//
//   list (resourceVersion RV) → watch from RV (allowWatchBookmarks) → events update the cache and
//   RV → the watch ends or fails → wait (capped exponential backoff, lib/backoff.ts; reset once a
//   watch delivered events) → watch again from RV. A 410 Gone (answer or ERROR event: RV too old)
//   → list again and emit exactly the differences from the cache, then watch from the new RV.
//
// The first list decides `ready`: it rejects with a clear ClipperError (unreachable, forbidden, not
// found) and the cache stops. Every later failure is retried forever and reported to onWatchError.

import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { ClipperError } from '../../errors.js';
import { backoffDelayMs } from '../../lib/backoff.js';
import { type Clock, systemClock } from '../../lib/clock.js';
import { kubeError, kubeStatusCode, kubeStatusOf } from './kube_errors.js';
import { describeKubePath, isAbortError, kubeOpenStream, kubeRequestJson, kubeServer } from './kube_request.js';
import { readWatchStream, type WatchEvent } from './watch_stream.js';

export interface WatchCacheListener<T> {
  /** An object appeared or changed (also for each object found by a (re)list that differs from what was known). */
  onUpsert(obj: T, previous: T | undefined): void;
  /** An object went away (a DELETED event, or missing from a relist). */
  onDelete(obj: T): void;
  /** The watch broke (reason text) and will be retried after `retryMs`; optional. */
  onWatchError?(reason: string, retryMs: number): void;
}

export interface WatchCacheOptions {
  kubeConfig: KubeConfig;
  /** e.g. '/api/v1/namespaces/NS/pods' */
  path: string;
  labelSelector: string;
  backoffMsMin?: number; // default 250
  backoffMsMax?: number; // default 30_000
  /** A watch that stays silent longer than this is restarted (servers send BOOKMARKs); default 5 min. */
  idleTimeoutMs?: number;
  /** A list (or a watch not yet answered) that takes longer than this fails; default 60 s. */
  requestTimeoutMs?: number;
  /** Timers of the backoff and the idle timeout; default the system clock. */
  clock?: Clock;
  /** Where a listener's exception is reported (the cache carries on); default stderr. */
  log?(line: string): void;
}

export interface WatchCache<T> {
  /** Resolves after the first list (rejects with a clear ClipperError when the first list fails: unreachable / 403 / 404). */
  readonly ready: Promise<void>;
  list(): T[];
  /** The object of this name (in the path's namespace, or in `namespace` for a watch across namespaces). */
  get(name: string, namespace?: string): T | undefined;
  close(): void;
}

interface ListAnswer<T> {
  metadata?: { resourceVersion?: string };
  items?: T[];
}

function keyOf(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

function versionOf(obj: KubernetesObject): string | undefined {
  return obj.metadata?.resourceVersion;
}

function checkOptions(o: WatchCacheOptions): void {
  const bad = (what: string) => new ClipperError('CLP_ERR_INVALID_ARG', `watch cache: ${what}`);
  if (!o.path.startsWith('/')) throw bad(`path must be an API path such as /api/v1/namespaces/NS/pods (got ${JSON.stringify(o.path)})`);
  const min = o.backoffMsMin ?? 250;
  const max = o.backoffMsMax ?? 30_000;
  if (!(min >= 0 && max >= min)) throw bad(`backoffMsMin must be >= 0 and <= backoffMsMax (got ${min}, ${max})`);
  for (const [name, value] of [
    ['idleTimeoutMs', o.idleTimeoutMs],
    ['requestTimeoutMs', o.requestTimeoutMs],
  ] as const) {
    if (value !== undefined && !(value > 0)) throw bad(`${name} must be > 0 (got ${value})`);
  }
}

/** Lists, then watches, the objects at `o.path` matching `o.labelSelector`; see the file's header. */
export function startWatchCache<T extends KubernetesObject>(o: WatchCacheOptions, listener: WatchCacheListener<T>): WatchCache<T> {
  checkOptions(o);
  const cache = new ListWatchLoop<T>(o, listener);
  cache.start();
  return cache;
}

type WatchEnd = 'ended' | 'gone';

class ListWatchLoop<T extends KubernetesObject> implements WatchCache<T> {
  readonly ready: Promise<void>;
  #resolveReady!: () => void;
  #rejectReady!: (err: Error) => void;
  readonly #objects = new Map<string, T>();
  readonly #clock: Clock;
  readonly #namespace: string;
  #resourceVersion = '';
  #attempt = 0;
  #closed = false;
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  #sleepTimer: unknown;

  constructor(
    private readonly o: WatchCacheOptions,
    private readonly listener: WatchCacheListener<T>,
  ) {
    this.#clock = o.clock ?? systemClock;
    this.#namespace = describeKubePath(o.path).namespace;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
  }

  start(): void {
    void this.#run();
  }

  list(): T[] {
    return [...this.#objects.values()];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#objects.get(`${namespace ?? this.#namespace}/${name}`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort?.abort();
    this.#clock.clearTimer(this.#sleepTimer);
    this.#wake?.();
    // Closed before the first list ended: nothing to wait for.
    this.#resolveReady();
  }

  async #run(): Promise<void> {
    try {
      await this.#relist();
    } catch (err) {
      if (this.#closed) return;
      this.#closed = true;
      this.#rejectReady(this.#describe(err, 'list'));
      return;
    }
    this.#resolveReady();
    let needList = false;
    while (!this.#closed) {
      let failure: string | undefined;
      try {
        if (needList) await this.#relist();
        needList = false;
        if ((await this.#watchOnce()) === 'gone') needList = true;
      } catch (err) {
        if (this.#closed) break;
        if (kubeStatusCode(err) === 410) needList = true;
        else failure = this.#describe(err, needList ? 'list' : 'watch').message;
      }
      if (this.#closed) break;
      const delayMs = backoffDelayMs(this.#attempt++, this.o.backoffMsMin ?? 250, this.o.backoffMsMax ?? 30_000);
      if (failure !== undefined) this.#notify(() => this.listener.onWatchError?.(failure, delayMs));
      await this.#sleep(delayMs);
    }
  }

  #describe(err: unknown, verb: string): ClipperError {
    const { resource, namespace } = describeKubePath(this.o.path);
    return kubeError(err, { verb, resource, namespace, server: kubeServer(this.o.kubeConfig) });
  }

  #sleep(delayMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#sleepTimer = this.#clock.setTimer(delayMs, resolve);
    });
  }

  /** Lists every object and emits the differences from the cache (deletions first). */
  async #relist(): Promise<void> {
    this.#abort = new AbortController();
    const answer = await kubeRequestJson<ListAnswer<T>>(this.o.kubeConfig, {
      path: this.o.path,
      query: { labelSelector: this.o.labelSelector },
      signal: this.#abort.signal,
      timeoutMs: this.o.requestTimeoutMs ?? 60_000,
    });
    if (this.#closed) return;
    const items = answer.items ?? [];
    const seen = new Set(items.map(keyOf));
    for (const [key, old] of [...this.#objects]) {
      if (seen.has(key)) continue;
      this.#objects.delete(key);
      this.#notify(() => this.listener.onDelete(old));
    }
    for (const item of items) this.#upsert(item);
    this.#resourceVersion = answer.metadata?.resourceVersion ?? '';
  }

  #upsert(obj: T): void {
    const key = keyOf(obj);
    const previous = this.#objects.get(key);
    if (previous !== undefined && versionOf(previous) !== undefined && versionOf(previous) === versionOf(obj)) return;
    this.#objects.set(key, obj);
    this.#notify(() => this.listener.onUpsert(obj, previous));
  }

  #notify(call: () => void): void {
    try {
      call();
    } catch (err) {
      const line = `watch of ${this.o.path}: a listener threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      (this.o.log ?? ((l: string) => process.stderr.write(`clipper: ${l}\n`)))(line);
    }
  }

  /** One watch from the current resourceVersion, until it ends ('ended'), asks for a relist ('gone') or fails (throws). */
  async #watchOnce(): Promise<WatchEnd> {
    const abort = new AbortController();
    this.#abort = abort;
    const query: Record<string, string> = { labelSelector: this.o.labelSelector, allowWatchBookmarks: 'true' };
    if (this.#resourceVersion !== '') query['resourceVersion'] = this.#resourceVersion;
    const res = await kubeOpenStream(this.o.kubeConfig, {
      path: this.o.path,
      query: { watch: 'true', ...query },
      signal: abort.signal,
      timeoutMs: this.o.requestTimeoutMs ?? 60_000,
    });
    let delivered = false;
    try {
      return await readWatchStream(res, {
        idleTimeoutMs: this.o.idleTimeoutMs ?? 300_000,
        clock: this.#clock,
        abort,
        onEvent: (event) => {
          const end = this.#apply(event);
          // Bookmarks count: in a quiet namespace they are all a healthy watch ever sends.
          if (end === undefined) delivered = true;
          return end;
        },
      });
    } catch (err) {
      if (isAbortError(err) && this.#closed) return 'ended';
      throw err;
    } finally {
      // A watch that delivered events proves the connection good: the next failure starts the backoff over.
      if (delivered) this.#attempt = 0;
    }
  }

  /** Applies one watch event; 'gone' ends the watch for a relist, an Error ends it as a failure. */
  #apply(event: WatchEvent): WatchEnd | undefined {
    if (this.#closed) return 'ended';
    if (event.type === 'ERROR') {
      const status = kubeStatusOf({ body: event.object });
      if (status?.code === 410) return 'gone';
      throw new Error(`the watch sent an error: ${status?.code ?? ''} ${status?.reason ?? ''} ${status?.message ?? ''}`.trim());
    }
    const obj = event.object as T;
    const rv = versionOf(obj);
    if (event.type === 'ADDED' || event.type === 'MODIFIED') this.#upsert(obj);
    else if (event.type === 'DELETED') {
      const key = keyOf(obj);
      if (this.#objects.delete(key)) this.#notify(() => this.listener.onDelete(obj));
    }
    if (rv !== undefined && rv !== '') this.#resourceVersion = rv;
    return undefined;
  }
}
