// How one pipeline stage's output (its JSON text, parsed) becomes the next model's input, the field a
// stage combines, and a combined output's form: one rule for the executor (src/query/stage_run.ts, stage_step.ts) and the
// profiler (src/planner/sample_flow.ts), so a plan is profiled on the inputs the server would send.
// (docs/pipelines.md, "Execution, budgets and fallbacks"; an output's confidence: pipeline_spec.ts)
//
//   numeric input types (integers, floats, doubles): a JSON array of numbers, or {"output": [...]},
//                       each element valid for the type (a 32-bit integer, within float32 range, finite)
//   strings:            a JSON string as is; any other output as its JSON text
//   bytes:              a JSON string holding base64; any other output as its JSON text's UTF-8 bytes
// Anything else throws a StageFeedError saying what was wrong.

import type { InputType } from './input_types.js';
import { roundConfidence } from './selection/policies/combine.js';

const kInt32Min = -(2 ** 31);
const kInt32Max = 2 ** 31 - 1;
const kFloat32Max = 3.4028234663852886e38;
const kBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** An output that does not fit the next model's input type; the message says why. */
export class StageFeedError extends Error {
  override name = 'StageFeedError';
}

/** Parse a model's output text (JSON text; a text that is not stays a string). */
export function parseOutput(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return json;
  }
}

/** A model input: numbers, a string, or bytes. */
export type FedInput = number[] | string | Buffer;

/** An output (`value`, parsed from its JSON text `json`) as the input of a model of `type`. */
export function feedInput(value: unknown, json: string, type: InputType): FedInput {
  switch (type) {
    case 'strings':
      return typeof value === 'string' ? value : json;
    case 'bytes':
      if (typeof value !== 'string') return Buffer.from(json, 'utf8');
      if (!kBase64.test(value)) throw new StageFeedError('it is a string that is not base64 (the model takes bytes)');
      return Buffer.from(value, 'base64');
    default:
      return numbersOf(value, type);
  }
}

function numbersOf(value: unknown, type: InputType): number[] {
  const array = Array.isArray(value)
    ? value
    : value !== null && typeof value === 'object' && Array.isArray((value as { output?: unknown }).output)
      ? (value as { output: unknown[] }).output
      : null;
  if (array === null) throw new StageFeedError(`it is not an array of numbers (the model takes ${type})`);
  for (let i = 0; i < array.length; i++) {
    const x: unknown = array[i];
    const ok =
      typeof x === 'number' &&
      (type === 'doubles'
        ? Number.isFinite(x)
        : type === 'floats'
          ? Math.abs(x) <= kFloat32Max
          : Number.isInteger(x) && x >= kInt32Min && x <= kInt32Max);
    if (!ok) {
      const rule = type === 'integers' ? 'a 32-bit integer' : type === 'floats' ? 'a number within float32 range' : 'a finite number';
      throw new StageFeedError(`element ${i} is not ${rule} (the model takes ${type})`);
    }
  }
  return array as number[];
}

/** output[field] of an object output (undefined when absent), or the whole output without a field. */
export function fieldOf(value: unknown, field: string | null): unknown {
  if (field === null) return value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return (value as Record<string, unknown>)[field];
}

/** A combined output: the output itself, or {field: output, confidence} (rounded to 1e-6) when the stage names a field. */
export function combinedOutput(output: unknown, confidence: number, field: string | null): unknown {
  if (field === null) return output;
  return { [field]: output, confidence: roundConfidence(confidence) };
}
