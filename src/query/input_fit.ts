// Whether a query's inputs fit one ring record (QueryProcessor.assertInputsFit): the 413 a client
// gets for an input no batching worker could ever receive. Kept apart from the processor's
// bookkeeping: it is a pure check of sizes, run once per request before any query is submitted.

import { ClipperError } from '../errors.js';
import { numericElementBytes, type InputTypeCode } from '../input_types.js';
import type { QueryInput } from './query_processor.js';

/**
 * Throws CLP_ERR_BODY_TOO_LARGE (413) for the first input whose encoded bytes exceed `inputBytesMax`
 * (the pool's BatchingPort.inputBytesMax): it could never reach a worker, so answering it as shed
 * (retry later) would mislead.
 */
export function assertInputBytesFit(inputs: readonly QueryInput[], type: InputTypeCode, inputBytesMax: number): void {
  const max = inputBytesMax;
  const elementBytes = numericElementBytes(type);
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    const bytes =
      typeof input === 'string'
        ? input.length <= max / 3
          ? 0
          : Buffer.byteLength(input, 'utf8')
        : Buffer.isBuffer(input)
          ? input.length
          : input.length * elementBytes;
    if (bytes > max) {
      throw new ClipperError(
        'CLP_ERR_BODY_TOO_LARGE',
        `input ${inputs.length > 1 ? `[${i}] ` : ''}of ${bytes} bytes exceeds the largest query the batching ring carries (${max} bytes; config ringBytes)`,
      );
    }
  }
}
