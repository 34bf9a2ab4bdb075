// Watch streams of the fake Kubernetes API: newline-delimited JSON events (ADDED, MODIFIED, DELETED,
// BOOKMARK, ERROR) on a chunked 200 response, as a real API server streams them. A watch without a
// resourceVersion (or "0") starts with ADDED for every matching object; one from a resourceVersion
// replays the changes after it, or gets an ERROR event with a 410 Expired Status when that version was
// compacted away. An object that stops (starts) matching the selector is sent as DELETED (ADDED).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { matchesFields, matchesLabels, parseSelector } from './fake_kube_select.js';
import { expired, fixture, groupVersion, type Json, type ResourceInfo } from './fake_kube_shapes.js';
import type { ChangeType, KubeStore, StoreEvent } from './fake_kube_store.js';

interface OpenWatch {
  res: ServerResponse;
  stop(): void;
}

export interface WatchSpec {
  info: ResourceInfo;
  namespace: string | undefined;
  query: URLSearchParams;
}

export class WatchHub {
  readonly #store: KubeStore;
  readonly #bookmarkMs: number;
  readonly #open = new Set<OpenWatch>();

  constructor(store: KubeStore, bookmarkMs: number) {
    this.#store = store;
    this.#bookmarkMs = bookmarkMs;
  }

  get openCount(): number {
    return this.#open.size;
  }

  serve(spec: WatchSpec, req: IncomingMessage, res: ServerResponse): void {
    const labels = parseSelector(spec.query.get('labelSelector'));
    const fields = parseSelector(spec.query.get('fieldSelector'));
    const matches = (obj: Json | undefined): boolean =>
      obj !== undefined &&
      (spec.namespace === undefined || !spec.info.namespaced || obj.metadata.namespace === spec.namespace) &&
      matchesLabels(labels, obj) &&
      matchesFields(fields, obj);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const send = (type: string, object: Json): void => {
      if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const rvText = spec.query.get('resourceVersion');
    const fromRv = rvText === null || rvText === '' || rvText === '0' ? null : Number(rvText);
    if (fromRv !== null && (Number.isNaN(fromRv) || fromRv < this.#store.compactedRv)) {
      send('ERROR', expired(rvText!, this.#store.rv).body);
      res.end();
      return;
    }
    if (fromRv === null) {
      for (const obj of this.#store.list(spec.info, spec.namespace)) if (matches(obj)) send('ADDED', obj);
    } else {
      for (const e of this.#store.since(fromRv)) this.#forward(e, spec.info, matches, send);
    }
    const bookmarks = spec.query.get('allowWatchBookmarks') === 'true';
    const bookmark = (): void => send('BOOKMARK', bookmarkObject(spec.info, this.#store.rv));
    if (bookmarks) bookmark();
    const unsubscribe = this.#store.subscribe((e) => this.#forward(e, spec.info, matches, send));
    const timers: NodeJS.Timeout[] = [];
    if (bookmarks) timers.push(setInterval(bookmark, this.#bookmarkMs));
    const timeoutS = Number(spec.query.get('timeoutSeconds') ?? 0);
    if (timeoutS > 0) timers.push(setTimeout(() => res.end(), timeoutS * 1000));
    const open: OpenWatch = {
      res,
      stop: () => {
        unsubscribe();
        for (const t of timers) clearTimeout(t);
        this.#open.delete(open);
      },
    };
    this.#open.add(open);
    req.on('close', open.stop);
    res.on('close', open.stop);
  }

  #forward(e: StoreEvent, info: ResourceInfo, matches: (o: Json | undefined) => boolean, send: (t: ChangeType, o: Json) => void): void {
    if (e.info.resource !== info.resource) return;
    const now = matches(e.obj);
    if (e.type === 'DELETED') {
      if (now) send('DELETED', e.obj);
      return;
    }
    const before = matches(e.prev);
    if (now && before) send('MODIFIED', e.obj);
    else if (now) send('ADDED', e.obj);
    else if (before) send('DELETED', e.obj);
  }

  /** Ends every open stream: cleanly (the client sees the response end), or `abrupt` by destroying the socket. */
  dropAll(abrupt = false): void {
    for (const open of [...this.#open]) {
      open.stop();
      if (abrupt) open.res.destroy();
      else open.res.end();
    }
  }
}

/** A BOOKMARK carries only the kind and the resourceVersion (a Pod's has the empty spec and status a real one has). */
function bookmarkObject(info: ResourceInfo, rv: number): Json {
  if (info.resource === 'pods') {
    const object = fixture('watch_event_bookmark').object;
    object.metadata.resourceVersion = String(rv);
    return object;
  }
  return { kind: info.kind, apiVersion: groupVersion(info), metadata: { resourceVersion: String(rv), creationTimestamp: null } };
}
