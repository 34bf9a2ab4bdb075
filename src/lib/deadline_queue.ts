// Earliest-deadline-first queue: a binary min-heap keyed by (deadlineMs, insertion sequence), with a
// token -> heap index map so that cancel(token) is O(log n). Ties on deadline pop in insertion order,
// so the order is deterministic (the simulator relies on it).
//
//   push     O(log n)   throws on a duplicate token (a programmer error)
//   peek     O(1)
//   pop      O(log n)
//   remove   O(log n)   by token; returns the item or undefined
//   peekAt   O(k log k) the k-th item in pop order, without popping
//
// The queue itself is unbounded; ModelScheduler enforces the per-model bound before pushing.

import assert from 'node:assert/strict';

export interface DeadlineItem {
  readonly token: number;
  readonly deadlineMs: number;
}

interface Entry<T> {
  item: T;
  seq: number;
}

export class DeadlineQueue<T extends DeadlineItem> {
  #heap: Entry<T>[] = [];
  #indexByToken = new Map<number, number>();
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  has(token: number): boolean {
    return this.#indexByToken.has(token);
  }

  push(item: T): void {
    assert(!Number.isNaN(item.deadlineMs), 'deadlineMs must be a number');
    if (this.#indexByToken.has(item.token)) throw new Error(`token ${item.token} is already queued`);
    const index = this.#heap.length;
    this.#heap.push({ item, seq: this.#seq++ });
    this.#indexByToken.set(item.token, index);
    this.#siftUp(index);
  }

  peek(): T | undefined {
    return this.#heap.length > 0 ? this.#heap[0]!.item : undefined;
  }

  pop(): T | undefined {
    if (this.#heap.length === 0) return undefined;
    return this.#removeAt(0);
  }

  remove(token: number): T | undefined {
    const index = this.#indexByToken.get(token);
    if (index === undefined) return undefined;
    return this.#removeAt(index);
  }

  /**
   * The item that the (index+1)-th pop would return, without changing the queue: O(index log index), by a
   * best-first walk of the heap from the root.
   */
  peekAt(index: number): T | undefined {
    const heap = this.#heap;
    if (index < 0 || index >= heap.length) return undefined;
    const frontier: number[] = [0];
    const lessAt = (a: number, b: number): boolean => this.#less(heap[frontier[a]!]!, heap[frontier[b]!]!);
    const swap = (a: number, b: number): void => {
      const t = frontier[a]!;
      frontier[a] = frontier[b]!;
      frontier[b] = t;
    };
    for (let popped = 0; ; popped++) {
      const top = frontier[0]!;
      if (popped === index) return heap[top]!.item;
      // Replace the frontier's minimum by its heap children (siftDown, then push and siftUp).
      const last = frontier.pop()!;
      if (frontier.length > 0) {
        frontier[0] = last;
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          if (l >= frontier.length) break;
          const c = l + 1 < frontier.length && lessAt(l + 1, l) ? l + 1 : l;
          if (!lessAt(c, i)) break;
          swap(c, i);
          i = c;
        }
      }
      for (const child of [2 * top + 1, 2 * top + 2]) {
        if (child >= heap.length) continue;
        frontier.push(child);
        for (let i = frontier.length - 1; i > 0; ) {
          const parent = (i - 1) >> 1;
          if (!lessAt(i, parent)) break;
          swap(i, parent);
          i = parent;
        }
      }
    }
  }

  /** Removes and returns every item, in no particular order. */
  drain(): T[] {
    const items = this.#heap.map((e) => e.item);
    this.#heap = [];
    this.#indexByToken.clear();
    return items;
  }

  #removeAt(index: number): T {
    const heap = this.#heap;
    const removed = heap[index]!;
    const last = heap.pop()!;
    this.#indexByToken.delete(removed.item.token);
    if (index < heap.length) {
      heap[index] = last;
      this.#indexByToken.set(last.item.token, index);
      if (!this.#siftUp(index)) this.#siftDown(index);
    }
    assert(this.#indexByToken.size === heap.length);
    return removed.item;
  }

  #less(a: Entry<T>, b: Entry<T>): boolean {
    return a.item.deadlineMs < b.item.deadlineMs || (a.item.deadlineMs === b.item.deadlineMs && a.seq < b.seq);
  }

  #place(index: number, entry: Entry<T>): void {
    this.#heap[index] = entry;
    this.#indexByToken.set(entry.item.token, index);
  }

  /** Returns true when the entry moved. */
  #siftUp(start: number): boolean {
    const heap = this.#heap;
    const entry = heap[start]!;
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#less(entry, heap[parent]!)) break;
      this.#place(index, heap[parent]!);
      index = parent;
    }
    if (index !== start) this.#place(index, entry);
    return index !== start;
  }

  #siftDown(start: number): void {
    const heap = this.#heap;
    const entry = heap[start]!;
    const count = heap.length;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= count) break;
      const right = left + 1;
      const child = right < count && this.#less(heap[right]!, heap[left]!) ? right : left;
      if (!this.#less(heap[child]!, entry)) break;
      this.#place(index, heap[child]!);
      index = child;
    }
    if (index !== start) this.#place(index, entry);
  }
}
