// One frontend thread as the main thread's group (frontend_group.ts) sees it: its port, its task,
// and where it is in its life: started, listening, failed, and ended (it closed its uWS app: only
// then may its thread be ended, since ending a thread whose app still has sockets aborts the whole
// process). Also what main does with the rings of a thread that failed: drain them.

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { RingPort, type FrontendRings } from '../batching/ring_port.js';
import type { ThreadTask } from '../batching/threads.js';
import { ClipperError } from '../errors.js';

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a start that failed is reported by start(), not as unhandled
  return { promise, resolve, reject };
}

export interface Member {
  readonly index: number;
  /** The main thread's end of the thread's port. */
  readonly port: MessagePort;
  /** The thread's end, until it is transferred at start. */
  readonly threadPort: MessagePort;
  task: ThreadTask | null;
  /** Started, not failed and not ended (a thread that failed is not asked for stats again). */
  alive: boolean;
  /** It reported 'failing', or its task failed while the group was not closing. */
  failed: boolean;
  /** Its rings to every batching worker (set when it starts). */
  rings: FrontendRings | null;
  /** It reported 'listening' (a failure before that is start()'s error, not logged). */
  listened: boolean;
  /** Its app's descriptor, with accept 'acceptor' (null before it listens, or with 'reuseport'). */
  descriptor: unknown;
  /** It posted 'closed' or its task ended: its uWS app is closed, so ending its thread is safe. */
  ended: boolean;
  readonly listening: Deferred<{ port: number; descriptor: unknown }>;
  /** Resolves when `ended` becomes true. */
  readonly closed: Deferred<void>;
}

/** A member not started yet: its port exists, so what is posted before it starts waits there. */
export function newMember(index: number): Member {
  const channel = new MessageChannel();
  return {
    index,
    port: channel.port1,
    threadPort: channel.port2,
    task: null,
    alive: false,
    failed: false,
    rings: null,
    listened: false,
    descriptor: null,
    ended: false,
    listening: deferred(),
    closed: deferred(),
  };
}

/**
 * The thread closed its app (its 'closed' came, or its task ended): ending its thread is safe from
 * now on. One that had not listened never will (a start waiting for it fails now, not at its timeout).
 */
export function markEnded(member: Member): void {
  member.alive = false;
  member.ended = true;
  member.closed.resolve();
  member.listening.reject(new ClipperError('CLP_ERR_INTERNAL', `frontend thread ${member.index} ended before it listened`));
}

/** What drains a failed thread's reply rings until the group closes. */
export interface RingDrain {
  close(): void;
}

/**
 * The batching workers go on answering a failed thread's queries that were in flight, on its reply
 * rings; with no one reading them a ring fills and its worker's writer retries every millisecond for
 * ever. Main reads them, dropping every reply (the thread answered its queries when it failed), from
 * the moment the thread has ended, so that the rings have one reader at a time.
 */
export function drainRings(rings: FrontendRings): RingDrain {
  const ringBytes = rings.replyRings[0]?.capacityBytes ?? 0;
  const port = new RingPort(rings, { ringBytes, spinCount: 0, pollUs: 0, shouldPoll: () => false }, () => undefined);
  port.start();
  return port;
}
