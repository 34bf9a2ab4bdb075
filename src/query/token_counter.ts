// A frontend's ring tokens (ipc/records.ts): its index in the top bits, a counter in the low 27. The
// counter wraps every 2^27 queries: about an hour at 37k queries/s, and an app's SLO may be an hour,
// so a query can still be open when its counter value comes round again. Such a query keeps its
// token and the new one skips it. Only queries given their token before the last wrap can collide,
// so the counter counts how many of those are still open: while none is (the common case), a token
// costs no lookup; while some are, each new token is checked against the open set.

import assert from 'node:assert/strict';
import { frontendTokenBase, kTokenCounterMask } from '../ipc/records.js';

export class TokenCounter {
  readonly #base: number;
  readonly #mask: number;
  #next = 0;
  /** Open queries whose token was given before the last wrap: the only ones a new token can meet. */
  #openEarlierLaps = 0;
  /**
   * The last query id given a token before the last wrap. Query ids grow with every token taken (the
   * processor's query ids), so a query is of an earlier lap when its id is at most this: no lap needs
   * keeping per query.
   */
  #lastIdBeforeWrap = -1;

  /** `counterMask`: kTokenCounterMask; a test passes a smaller one (2^k − 1) to wrap sooner. */
  constructor(frontendIndex: number, counterMask = kTokenCounterMask) {
    assert(counterMask >= 1 && counterMask <= kTokenCounterMask && (counterMask & (counterMask + 1)) === 0, 'bad token counter mask');
    this.#base = frontendTokenBase(frontendIndex);
    this.#mask = counterMask;
  }

  /**
   * The token for query `queryId`: the counter's, or, while queries of an earlier lap are open, the
   * first one from there that `open` (every open query by token) does not hold. Add the query to
   * `open`, then call taken().
   */
  free(open: ReadonlyMap<number, unknown>, queryId: number): number {
    if (this.#openEarlierLaps > 0) {
      // Bounded: fewer open queries than counter values, so a free one is at most open.size away.
      if (open.size > this.#mask) assert.fail(`${open.size} open queries: more than there are tokens`);
      // A wrap here leaves this query in the new lap: every open one (all older) in earlier laps.
      while (open.has(this.#token())) this.#advance(open.size, queryId - 1);
    }
    return this.#token();
  }

  /** Query `queryId` now holds the token free() returned; `openCount` counts it. */
  taken(openCount: number, queryId: number): void {
    this.#advance(openCount, queryId);
  }

  /** Query `queryId` (which held a token) left the open set. */
  left(queryId: number): void {
    if (queryId <= this.#lastIdBeforeWrap && --this.#openEarlierLaps < 0) assert.fail('more earlier-lap queries left than were open');
  }

  #token(): number {
    return (this.#base | this.#next) >>> 0;
  }

  #advance(openCount: number, lastIdOfLap: number): void {
    this.#next = (this.#next + 1) & this.#mask;
    if (this.#next !== 0) return;
    // Wrapped: every query open now got its token in an earlier lap.
    this.#openEarlierLaps = openCount;
    this.#lastIdBeforeWrap = lastIdOfLap;
  }
}
