// Sampling one model from selection probabilities: shared by the policies (select) and the query
// path, which samples from the snapshot the selection worker publishes (weights_snapshot.ts).

/**
 * Picks an index with probability proportional to `probs[i]` (need not sum to 1; non-positive and
 * NaN entries are never picked) for a uniform `u` in [0, 1). Returns -1 when no entry is positive
 * (the caller answers with the default output).
 */
export function sampleIndex(probs: Float64Array, u: number, count: number = probs.length): number {
  let total = 0;
  for (let i = 0; i < count; i++) {
    const p = probs[i]!;
    if (p > 0) total += p;
  }
  let target = u * total;
  let last = -1;
  for (let i = 0; i < count; i++) {
    const p = probs[i]!;
    if (!(p > 0)) continue;
    last = i;
    target -= p;
    if (target < 0) return i;
  }
  return last; // u·total rounding up to total lands on the last positive entry
}
