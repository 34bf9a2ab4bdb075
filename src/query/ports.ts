// What the query core needs from the layers below it, as interfaces: a frontend's end of the batching
// workers' rings (batching/ring_port.ts's RingPort implements it; tests and the simulator pass fakes).

import type { Placement } from '../batching/protocol.js';
import type { InputTypeCode, NumericInput } from '../input_types.js';

export interface BatchingPort {
  /** The largest input (encoded bytes) one query record can carry. */
  readonly inputBytesMax: number;
  /**
   * Write one numeric query; false when the ring is full (the caller sheds it). `priority`: 0 (normal)
   * .. kPriorityMax, larger = more urgent (batching/protocol.ts).
   */
  submitNumeric(
    placement: Placement,
    token: number,
    deadlineMs: number,
    priority: number,
    type: InputTypeCode,
    values: NumericInput,
  ): boolean;
  /** Write one string (utf8) or bytes query; false when the ring is full. */
  submitBytes(
    placement: Placement,
    token: number,
    deadlineMs: number,
    priority: number,
    type: InputTypeCode,
    value: string | Buffer,
  ): boolean;
  /** The client went away: drop the query if it is still queued (best effort). */
  cancel(placement: Placement, token: number): void;
}
