// Where request inputs come from: a seeded random vector per request (unique inputs defeat any
// prediction cache), one fixed input, or a JSON-lines file cycled in order. An input is kept as
// its JSON array text, so each transport can splice it into its own request shape without
// re-serialising; `wire`/`wireKey` let a transport cache the encoded request for reused inputs.

import { readFileSync } from 'node:fs';
import { seededRandom } from '../../src/lib/prng.js';

export { seededRandom };

export interface InputItem {
  /** JSON array text, e.g. "[1.5,2,3]". */
  readonly json: string;
  /** Number of elements (used for the V2 `shape`). */
  readonly length: number;
  /** Transport-owned cache of the encoded request for this input. */
  wire?: Buffer;
  wireKey?: object;
}

export interface InputSource {
  next(): InputItem;
  readonly description: string;
}

function itemFromValue(value: unknown, where: string): InputItem {
  const arr =
    value !== null && typeof value === 'object' && !Array.isArray(value) && 'input' in value ? (value as { input: unknown }).input : value;
  if (!Array.isArray(arr)) throw new TypeError(`${where}: an input must be a JSON array (or {"input":[...]})`);
  return { json: JSON.stringify(arr), length: arr.length };
}

export function randomInputs(k: number, seed: number): InputSource {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`random input length must be a positive integer, got ${k}`);
  const rand = seededRandom(seed);
  return {
    description: `random:${k} (seed ${seed})`,
    next(): InputItem {
      let s = '[';
      for (let i = 0; i < k; i++) s += (i === 0 ? '' : ',') + String(rand() * 2 - 1);
      return { json: `${s}]`, length: k };
    },
  };
}

export function fixedInput(jsonText: string): InputSource {
  let parsed: unknown;
  try {
    parsed = JSON.parse(jsonText);
  } catch (err) {
    throw new TypeError(`fixed input is not valid JSON: ${(err as Error).message}`);
  }
  const item = itemFromValue(parsed, 'fixed input');
  return { description: `fixed:${item.json}`, next: () => item };
}

export function fileInputs(path: string): InputSource {
  const items: InputItem[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new TypeError(`${path}:${i + 1}: not valid JSON: ${(err as Error).message}`);
    }
    items.push(itemFromValue(parsed, `${path}:${i + 1}`));
  });
  if (items.length === 0) throw new RangeError(`${path}: no inputs (expected one JSON array per line)`);
  let at = 0;
  return {
    description: `file:${path} (${items.length} inputs)`,
    next(): InputItem {
      const item = items[at]!;
      at = at + 1 === items.length ? 0 : at + 1;
      return item;
    },
  };
}

/** Parse `random:k`, `fixed:<json>` or `file:<path>`. */
export function parseInputSpec(spec: string, seed: number): InputSource {
  const colon = spec.indexOf(':');
  const kind = colon === -1 ? spec : spec.slice(0, colon);
  const arg = colon === -1 ? '' : spec.slice(colon + 1);
  switch (kind) {
    case 'random':
      return randomInputs(arg === '' ? 8 : Number(arg), seed);
    case 'fixed':
      return fixedInput(arg);
    case 'file':
      return fileInputs(arg);
    default:
      throw new TypeError(`--input must be random:k, fixed:<json> or file:<path>, got "${spec}"`);
  }
}
