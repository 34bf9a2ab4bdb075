// A user id (`uid`) as predict and feedback bodies carry it, for personalised selection: a string,
// or an integer read as its decimal text (Clipper's uids were ints), so 7 and "7" are one user.

import { ClipperError } from '../errors.js';

/** The uid of a parsed body field; null when absent or null; a 400 CLP_ERR_JSON_SCHEMA otherwise. */
export function parseUid(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  const got = Array.isArray(value) ? 'an array' : typeof value === 'number' ? `the number ${value}` : `a value of type ${typeof value}`;
  throw new ClipperError('CLP_ERR_JSON_SCHEMA', `Error parsing JSON: uid must be a string or an integer, got ${got}`);
}
