// Capped exponential backoff: the one rule for every retry loop (replica reconnects, container
// restarts, Redis reconnects). The exponent is capped so that a long outage cannot overflow it.

/** Delay before retry number `attempt` (0-based): minMs doubled per attempt, at most maxMs. */
export function backoffDelayMs(attempt: number, minMs: number, maxMs: number): number {
  if (!(attempt >= 0 && minMs >= 0 && maxMs >= minMs)) {
    throw new RangeError(`backoff needs attempt >= 0 and 0 <= minMs <= maxMs (got ${attempt}, ${minMs}, ${maxMs})`);
  }
  return Math.min(maxMs, minMs * 2 ** Math.min(attempt, 16));
}
