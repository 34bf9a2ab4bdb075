// Sample inputs as the container protocol carries them (src/rpc/protocol.ts): the profiler sends its
// batches straight to a replica, without the server's rings, so it writes the predict frame itself.
// Inputs are JSON values as a query's `input` is: numeric types an array of numbers, strings a
// string, bytes a base64 string.

import { ClipperError } from '../errors.js';
import type { InputType } from '../input_types.js';
import type { PredictMessage } from '../rpc/protocol.js';

function badInput(index: number, inputType: InputType, model: string, what: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', `sample input ${index} for model '${model}' (${inputType}) ${what}`);
}

/** One predict frame for `inputs`; an input that does not fit the type is a 400 naming it and the model. */
export function encodeBatch(id: number, inputType: InputType, inputs: readonly unknown[], model: string): PredictMessage {
  const n = inputs.length;
  if (inputType === 'strings') {
    const items = inputs.map((x, i) => {
      if (typeof x !== 'string') throw badInput(i, inputType, model, 'must be a string');
      return x;
    });
    return { t: 'predict', id, type: inputType, n, items };
  }
  if (inputType === 'bytes') {
    const items = inputs.map((x, i) => {
      if (typeof x !== 'string') throw badInput(i, inputType, model, 'must be a base64 string');
      return Buffer.from(x, 'base64');
    });
    return { t: 'predict', id, type: inputType, n, items };
  }
  const lens = inputs.map((x, i) => {
    if (!Array.isArray(x) || !x.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw badInput(i, inputType, model, 'must be an array of finite numbers');
    }
    return x.length;
  });
  const size = inputType === 'doubles' ? 8 : 4;
  const data = Buffer.alloc(lens.reduce((a, b) => a + b, 0) * size);
  let offset = 0;
  for (const x of inputs as number[][]) {
    for (const v of x) {
      if (inputType === 'doubles') data.writeDoubleLE(v, offset);
      else if (inputType === 'floats') data.writeFloatLE(v, offset);
      else data.writeInt32LE(Math.trunc(v) | 0, offset);
      offset += size;
    }
  }
  return { t: 'predict', id, type: inputType, n, lens, data };
}
