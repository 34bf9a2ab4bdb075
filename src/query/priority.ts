// Query priorities: the core's convention (QueryRequest.priority) and the mapping from Triton's.
//
// The core: an integer from 0 to kPriorityMax (15), larger = more urgent; 0 is normal, the default
// and the least urgent level. A worker puts more urgent queued queries into a batch first; within a
// level, earliest deadline first (batching/batch_formation.ts).
//
// Triton's request parameter `priority` (the Open Inference Protocol's schedule-policy extension)
// counts the other way: 1 is the highest level, larger values are less urgent, and 0 (or a value
// beyond the model's levels) means the model's default level. We behave like a Triton model with 16
// levels whose default is the lowest: Triton's 1..16 become 15..0, and 0 or anything above 16 is
// normal (0). So every explicit Triton priority but the lowest is more urgent than a request that
// names none.

import { kPriorityMax, kPriorityNormal } from '../batching/protocol.js';

/** Whether `value` is a core priority: an integer in [0, kPriorityMax]. */
export function isQueryPriority(value: number): boolean {
  return Number.isInteger(value) && value >= kPriorityNormal && value <= kPriorityMax;
}

/**
 * The core priority for Triton's `priority` parameter (a non-negative integer, validated by the
 * codec): 0 → normal, 1 → the most urgent, 16 and above → normal.
 */
export function priorityFromTriton(tritonPriority: number): number {
  const levels = kPriorityMax + 1;
  if (tritonPriority < 1 || tritonPriority > levels) return kPriorityNormal;
  return levels - tritonPriority;
}
