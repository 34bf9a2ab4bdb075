// Mixed priorities in the batching simulator: each arriving query draws its priority from a seeded mix (a
// PRNG of its own, so the arrivals and latencies of a run do not change with the mix), the result tallies
// goodput per priority, and every batch is checked against the queries still waiting: a batch is a prefix
// of the scheduler's order (more urgent first, then earliest deadline), so no query that waits is more
// urgent than the least urgent one sent, nor due earlier at that same priority.

import { createPrng, type Prng } from '../src/lib/prng.js';

export interface PriorityShare {
  priority: number;
  share: number;
}

/** Per priority of a mix: offered queries and those answered within the SLO (after warmup). */
export interface SimPriorityTally {
  offeredCount: number;
  completedInSloCount: number;
}

/** What the check reads of a query the simulator tracks. */
export interface PrioritizedQuery {
  token: number;
  deadlineMs: number;
  priority: number;
  /** -1 while it was never sent (then it waits in the scheduler's queue, or has left). */
  batchId: number;
}

export class PriorityMix {
  readonly #shares: readonly PriorityShare[];
  readonly #prng: Prng;
  readonly tallies: Record<number, SimPriorityTally> = {};

  constructor(shares: readonly PriorityShare[], seed: number) {
    this.#shares = shares;
    this.#prng = createPrng(seed ^ 0x2545f491);
    for (const { priority } of shares) this.tallies[priority] = { offeredCount: 0, completedInSloCount: 0 };
  }

  /** The next arriving query's priority. */
  draw(): number {
    let u = this.#prng.next() * this.#shares.reduce((sum, s) => sum + s.share, 0);
    for (const s of this.#shares) {
      u -= s.share;
      if (u < 0) return s.priority;
    }
    return this.#shares.at(-1)!.priority;
  }
}

/**
 * Why the batch of `sent` (just marked with `batchId`) breaks the scheduler's order, given every query
 * that has not left; null when it does not. Queries re-queued after a failed batch keep their old batch
 * id and are not checked (the simulator cannot see a re-queue): the check can miss, never misfire.
 */
export function batchOrderViolation(batchId: number, sent: readonly PrioritizedQuery[], open: Iterable<PrioritizedQuery>): string | null {
  let leastUrgent = Infinity;
  for (const q of sent) leastUrgent = Math.min(leastUrgent, q.priority);
  let lastDueMs = -Infinity;
  for (const q of sent) if (q.priority === leastUrgent) lastDueMs = Math.max(lastDueMs, q.deadlineMs);
  for (const q of open) {
    if (q.batchId !== -1) continue;
    if (q.priority > leastUrgent) {
      return `batch ${batchId}: sent priority ${leastUrgent} while token ${q.token} of priority ${q.priority} waits`;
    }
    if (q.priority === leastUrgent && q.deadlineMs < lastDueMs) {
      return `batch ${batchId}: token ${q.token} (priority ${q.priority}, due ${q.deadlineMs}) waits behind one due ${lastDueMs}`;
    }
  }
  return null;
}
