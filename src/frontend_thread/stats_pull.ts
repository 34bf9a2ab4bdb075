// The group's rounds of asking every frontend thread for its counters (frontend_group.ts refresh, the
// QueryStatsSource of the main thread): one 'stats' per thread, settled when each answered or after
// a timeout (a late thread counts with its last answer), then added up (stats_merge.ts).

import type { FrontendControl, FrontendStats } from './messages.js';
import type { Member } from './group_member.js';
import { MergedStats } from './stats_merge.js';

interface Round {
  remaining: Set<number>;
  timer: NodeJS.Timeout;
  settle(): void;
}

export class StatsPull {
  /** Every thread's counters added up, as of the last settled round. */
  readonly merged: MergedStats;
  readonly #timeoutMs: number;
  readonly #rounds = new Map<number, Round>();
  #nextRequestId = 1;

  constructor(threadCount: number, timeoutMs: number) {
    this.merged = new MergedStats(threadCount);
    this.#timeoutMs = timeoutMs;
  }

  /** Asks `live` for their counters; settles when all answered or after the timeout, then adds them up. */
  refresh(live: readonly Member[]): Promise<void> {
    if (live.length === 0) return Promise.resolve();
    const requestId = this.#nextRequestId++;
    return new Promise<void>((resolve) => {
      const settle = (): void => {
        clearTimeout(round.timer);
        this.#rounds.delete(requestId);
        this.merged.merge();
        resolve();
      };
      const round: Round = { remaining: new Set(live.map((m) => m.index)), timer: setTimeout(settle, this.#timeoutMs), settle };
      this.#rounds.set(requestId, round);
      for (const m of live) m.port.postMessage({ kind: 'stats', requestId } satisfies FrontendControl);
    });
  }

  /** Thread `index` answered round `requestId` (a late answer counts from the next round). */
  onStats(index: number, requestId: number, stats: FrontendStats): void {
    this.merged.set(index, stats, requestId);
    this.#answered(this.#rounds.get(requestId), index);
  }

  /** Thread `index` will not answer (it failed): no round waits for it. */
  skip(index: number): void {
    for (const round of [...this.#rounds.values()]) this.#answered(round, index);
  }

  /** An app was deleted: its counters go, also from answers to rounds asked before. */
  forgetApp(app: string): void {
    this.merged.forgetApp(app, this.#nextRequestId);
  }

  /** Every round still open settles now, with what it has (close). */
  settleAll(): void {
    for (const round of [...this.#rounds.values()]) round.settle();
  }

  #answered(round: Round | undefined, index: number): void {
    if (round === undefined) return;
    round.remaining.delete(index);
    if (round.remaining.size === 0) round.settle();
  }
}
