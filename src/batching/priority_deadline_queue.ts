// The scheduler's queue: one earliest-deadline-first queue (lib/deadline_queue.ts) per priority level
// (protocol.ts: 0 normal .. kPriorityMax, larger = more urgent), read in priority order: the most
// urgent non-empty level by deadline, then the next level's, and so on. With every query at one
// priority it is exactly that level's EDF queue (same order, same ties), so a model whose queries
// all come at the default priority is scheduled as before priorities existed.
//
// Why levels rather than one heap keyed (priority, deadline): the scheduler also needs the earliest
// deadline over everything queued (to expire queries on time and to arm its wake timer), and a
// batch's tightest deadline per level (each level's head); with few levels both are a short scan.
// A bit mask of the non-empty levels finds the most urgent one without scanning; levels are
// created on first use.
//
//   push, pop, remove   O(log n) (+ a scan of the non-empty levels for remove, and for push when
//                       several levels are in use: a token is queued at most once)
//   peek, levelHead     O(1)
//   earliestDeadlineMs  O(levels in use)
//   peekAt              O(levels + k log k)

import assert from 'node:assert/strict';
import { DeadlineQueue, type DeadlineItem } from '../lib/deadline_queue.js';
import { kPriorityMax } from './protocol.js';

export interface PrioritizedItem extends DeadlineItem {
  /** 0 (normal) .. kPriorityMax, larger = more urgent. */
  readonly priority: number;
}

/** The highest set bit of a non-zero mask. */
function topBit(mask: number): number {
  return 31 - Math.clz32(mask);
}

export class PriorityDeadlineQueue<T extends PrioritizedItem> {
  readonly #levels: (DeadlineQueue<T> | undefined)[] = new Array<DeadlineQueue<T> | undefined>(kPriorityMax + 1).fill(undefined);
  /** Bit p set: level p holds items. */
  #nonEmpty = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(token: number): boolean {
    for (let m = this.#nonEmpty; m !== 0; m &= ~(1 << topBit(m))) if (this.#levels[topBit(m)]!.has(token)) return true;
    return false;
  }

  push(item: T): void {
    const p = item.priority;
    if (!(p >= 0 && p <= kPriorityMax && (p | 0) === p)) assert.fail(`priority ${p} is not a level from 0 to ${kPriorityMax}`);
    // A token is queued once: the level's own queue checks its level, this the others (when there are any).
    if ((this.#nonEmpty & ~(1 << p)) !== 0 && this.has(item.token)) throw new Error(`token ${item.token} is already queued`);
    let level = this.#levels[p];
    if (level === undefined) {
      level = new DeadlineQueue<T>();
      this.#levels[p] = level;
    }
    level.push(item);
    this.#nonEmpty |= 1 << p;
    this.#size++;
  }

  /** The next item in priority-then-deadline order. */
  peek(): T | undefined {
    return this.#nonEmpty === 0 ? undefined : this.#levels[topBit(this.#nonEmpty)]!.peek();
  }

  pop(): T | undefined {
    return this.#nonEmpty === 0 ? undefined : this.#popLevel(topBit(this.#nonEmpty));
  }

  remove(token: number): T | undefined {
    for (let m = this.#nonEmpty; m !== 0; m &= ~(1 << topBit(m))) {
      const p = topBit(m);
      const level = this.#levels[p]!;
      const item = level.remove(token);
      if (item === undefined) continue;
      this.#size--;
      if (level.size === 0) this.#nonEmpty &= ~(1 << p);
      return item;
    }
    return undefined;
  }

  /** The item that the (index+1)-th pop would return, without changing the queue. */
  peekAt(index: number): T | undefined {
    if (index < 0) return undefined;
    let rest = index;
    for (let m = this.#nonEmpty; m !== 0; m &= ~(1 << topBit(m))) {
      const level = this.#levels[topBit(m)]!;
      if (rest < level.size) return level.peekAt(rest);
      rest -= level.size;
    }
    return undefined;
  }

  /** Removes the earliest-deadline item of one level. */
  popLevel(priority: number): T | undefined {
    return this.levelSize(priority) === 0 ? undefined : this.#popLevel(priority);
  }

  /** The most urgent level below `priority` that holds items, or -1 (pass kPriorityMax + 1 for the most urgent of all). */
  levelBelow(priority: number): number {
    const m = this.#nonEmpty & ((1 << priority) - 1);
    return m === 0 ? -1 : topBit(m);
  }

  levelSize(priority: number): number {
    return this.#levels[priority]?.size ?? 0;
  }

  /** The earliest-deadline item of one level. */
  levelHead(priority: number): T | undefined {
    return this.#levels[priority]?.peek();
  }

  /** Items queued at `priority` or more urgent. */
  countAtOrAbove(priority: number): number {
    if (priority === 0) return this.#size;
    let count = 0;
    for (let m = this.#nonEmpty >>> priority; m !== 0; m &= ~(1 << topBit(m))) count += this.#levels[topBit(m) + priority]!.size;
    return count;
  }

  /** The earliest deadline of any queued item (Infinity when empty). */
  earliestDeadlineMs(): number {
    const p = this.#earliestLevel();
    return p < 0 ? Infinity : this.#levels[p]!.peek()!.deadlineMs;
  }

  /** Removes the item with the earliest deadline of all (a tie goes to the more urgent level). */
  popEarliest(): T | undefined {
    const p = this.#earliestLevel();
    return p < 0 ? undefined : this.#popLevel(p);
  }

  /** The level whose head has the earliest deadline (ties: the more urgent), or -1. */
  #earliestLevel(): number {
    let best = -1;
    let bestMs = Infinity;
    for (let m = this.#nonEmpty; m !== 0; m &= ~(1 << topBit(m))) {
      const p = topBit(m);
      const deadlineMs = this.#levels[p]!.peek()!.deadlineMs;
      if (best < 0 || deadlineMs < bestMs) {
        best = p;
        bestMs = deadlineMs;
      }
    }
    return best;
  }

  #popLevel(p: number): T | undefined {
    const level = this.#levels[p]!;
    const item = level.pop();
    if (item === undefined) assert.fail('a level marked non-empty is empty');
    this.#size--;
    if (level.size === 0) this.#nonEmpty &= ~(1 << p);
    return item;
  }
}
