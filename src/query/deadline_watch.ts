// The deadline watch of the open queries: O(1) per query on the common path.
//
// Queries with the same SLO mostly arrive in deadline order, so each distinct SLO keeps a FIFO (an
// intrusive list: an answered query unlinks itself at once, so it dies young instead of being
// promoted by the garbage collector). Deadlines that are not their app's SLO (a request's
// slo_micros, Exp4 sub-queries) share one EDF heap (O(log n)): a client choosing many SLOs must not
// multiply FIFOs. Deadlines count from a request's arrival, and requests are submitted in arrival
// order only per connection (a request whose body took longer is submitted after one that arrived
// later): an item due before its FIFO's tail goes to the heap instead, so every FIFO stays sorted by
// construction and no expiry waits behind a later one. One timer is armed for the earliest head;
// when it fires every item past its deadline is handed to `onExpired`, which must unwatch it.

import assert from 'node:assert/strict';
import type { Clock } from '../lib/clock.js';
import { DeadlineQueue } from '../lib/deadline_queue.js';

/** Open items of one SLO, in deadline order (watch() puts an item due before the tail in the heap). */
export interface DeadlineFifo<T extends Watched<T>> {
  head: T | null;
  tail: T | null;
}

/** The fields the watch keeps in each item (intrusive: no allocation per item). */
export interface Watched<T extends Watched<T>> {
  readonly token: number;
  readonly deadlineMs: number;
  /** Watched in the heap of off-SLO deadlines (not a FIFO). */
  inHeap: boolean;
  /** Its SLO's FIFO while watched there, with its neighbours. */
  fifo: DeadlineFifo<T> | null;
  prev: T | null;
  next: T | null;
}

export class DeadlineWatch<T extends Watched<T>> {
  readonly #clock: Clock;
  readonly #onExpired: (item: T, nowMs: number) => void;
  readonly #fifos = new Map<number, DeadlineFifo<T>>();
  readonly #heap = new DeadlineQueue<T>();
  #timer: unknown = null;
  #timerAtMs = Infinity;

  /** `onExpired` answers an item whose deadline passed; it must call unwatch(item). */
  constructor(clock: Clock, onExpired: (item: T, nowMs: number) => void) {
    this.#clock = clock;
    this.#onExpired = onExpired;
  }

  /** Watch `item`: in the FIFO of `fifoKey` (its app's SLO), or in the heap when fifoKey is null or it is due before the FIFO's tail. */
  watch(item: T, fifoKey: number | null): void {
    if (item.fifo !== null || item.inHeap) assert.fail('an item is watched once');
    let fifo: DeadlineFifo<T> | null = null;
    if (fifoKey !== null) {
      fifo = this.#fifos.get(fifoKey) ?? null;
      if (fifo === null) {
        fifo = { head: null, tail: null };
        this.#fifos.set(fifoKey, fifo);
      }
    }
    // Due before the FIFO's tail (it arrived earlier but was submitted later): the heap keeps order.
    if (fifo === null || (fifo.tail !== null && fifo.tail.deadlineMs > item.deadlineMs)) {
      item.inHeap = true;
      this.#heap.push(item);
    } else {
      item.fifo = fifo;
      item.prev = fifo.tail;
      if (fifo.tail === null) fifo.head = item;
      else fifo.tail.next = item;
      fifo.tail = item;
    }
    if (item.deadlineMs < this.#timerAtMs) this.#arm(item.deadlineMs);
  }

  /** Stop watching `item` (answered or cancelled); a no-op for an item not watched. */
  unwatch(item: T): void {
    if (item.inHeap) {
      item.inHeap = false;
      this.#heap.remove(item.token);
    }
    const fifo = item.fifo;
    if (fifo !== null) {
      if (item.prev === null) fifo.head = item.next;
      else item.prev.next = item.next;
      if (item.next === null) fifo.tail = item.prev;
      else item.next.prev = item.prev;
      item.fifo = item.prev = item.next = null;
    }
  }

  /** Stop the timer and hand back every watched item (the watch is empty afterwards). */
  drain(): T[] {
    this.#disarm();
    const items: T[] = [];
    for (const fifo of this.#fifos.values()) {
      for (let p = fifo.head; p !== null; p = p.next) items.push(p);
    }
    for (const p of this.#heap.drain()) items.push(p);
    for (const p of items) {
      p.inHeap = false;
      p.fifo = p.prev = p.next = null;
    }
    this.#fifos.clear();
    return items;
  }

  #disarm(): void {
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#timerAtMs = Infinity;
  }

  #arm(atMs: number): void {
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timerAtMs = atMs;
    this.#timer = this.#clock.setTimer(atMs - this.#clock.nowMs(), this.#onTimer);
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#timerAtMs = Infinity;
    const nowMs = this.#clock.nowMs();
    let nextMs = Infinity;
    for (const [slo, fifo] of this.#fifos) {
      for (let p = fifo.head; p !== null && p.deadlineMs <= nowMs; p = fifo.head) {
        this.#onExpired(p, nowMs);
        if (fifo.head === p) assert.fail('an expired item leaves its FIFO');
      }
      if (fifo.head === null) this.#fifos.delete(slo);
      else nextMs = Math.min(nextMs, fifo.head.deadlineMs);
    }
    for (let p = this.#heap.peek(); p !== undefined && p.deadlineMs <= nowMs; p = this.#heap.peek()) {
      this.#onExpired(p, nowMs);
      if (p.inHeap) assert.fail('an expired item leaves the heap');
    }
    nextMs = Math.min(nextMs, this.#heap.peek()?.deadlineMs ?? Infinity);
    if (nextMs !== Infinity) this.#arm(nextMs);
  };
}
