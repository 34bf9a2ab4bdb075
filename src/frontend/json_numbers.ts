// A fast path for big numeric predict bodies: `{"input": [n, …]}` or `{"input_batch": [[n, …], …]}`
// read straight from the body's bytes into PackedNumbers of the app's element type, in one scan,
// without JSON.parse and without a JS array per input (a 150 KB body of doubles made ~12k heap
// numbers and a 12k-slot array before the ring copied them again). The optional scalar keys
// (`version`, `slo_micros`, `uid`) may come in any order; each value's few bytes go through
// JSON.parse and then through the ordinary path's validation (predict_request.ts), so a body with
// `slo_micros` after its input is still scanned once. Anything else (another key, a key twice, a
// nested or non-numeric element, a value the rule refuses (numeric_rule.ts), malformed JSON) returns
// null and the caller parses the body the ordinary way, so every error stays exactly that path's error.
//
// Numbers: a JSON number's significand w (up to 2^53) and decimal exponent e in [-22, 22] give the
// correctly rounded double as one IEEE multiply or divide by an exact power of ten (Clinger's fast
// path), which is the double JSON.parse gives; any other number is converted by Number(its text),
// which rounds the same way JSON.parse does.

import type { InputType, PackedNumbers } from '../input_types.js';
import { firstRefused, isNumericType, type NumericType } from './numeric_rule.js';

/** Bodies up to this size take the ordinary path: JSON.parse is as fast there, and errors are its own. */
export const kPackedBodyBytesMin = 4096;

/** Below this a significand can take one more digit and stay an exact integer (< 2^53). */
const kSignificandGrowMax = (2 ** 53 - 9) / 10;
const kPow10: readonly number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);

const enum Ch {
  Tab = 0x09,
  Lf = 0x0a,
  Cr = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Plus = 0x2b,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Zero = 0x30,
  Nine = 0x39,
  Colon = 0x3a,
  E = 0x45,
  LBracket = 0x5b,
  Backslash = 0x5c,
  RBracket = 0x5d,
  LowerA = 0x61,
  LowerE = 0x65,
  LowerZ = 0x7a,
  LBrace = 0x7b,
  RBrace = 0x7d,
}

// The scan's position (module state: no object per number), and a scratch the elements of one
// input land in before their one copy into an array of the app's type (grown, never shrunk).
let pos = 0;
let scratch = new Float64Array(4096);

/** The optional scalar keys of a predict body as JSON.parse gives their values (predict_request.ts validates them). */
export interface PredictFields {
  version?: unknown;
  slo_micros?: unknown;
  uid?: unknown;
}

/** What the fast path parsed: the inputs, whether the body was a batch, its scalar keys (null when none). */
export interface PackedPredict {
  readonly inputs: PackedNumbers[];
  readonly batch: boolean;
  readonly fields: PredictFields | null;
}

const enum Key {
  None = 0,
  Input = 1,
  InputBatch = 2,
  Version = 3,
  SloMicros = 4,
  Uid = 5,
}

/** The keys the fast path reads, as their quoted bytes (closing quote included) and their field names. */
const kKeys: ReadonlyArray<readonly [Key, string, keyof PredictFields | null]> = [
  [Key.Input, 'input"', null],
  [Key.InputBatch, 'input_batch"', null],
  [Key.Version, 'version"', 'version'],
  [Key.SloMicros, 'slo_micros"', 'slo_micros'],
  [Key.Uid, 'uid"', 'uid'],
];

/**
 * A numeric app's predict body: one `input` or `input_batch` holding arrays of numbers the type
 * admits, as PackedNumbers of `type` (doubles Float64Array, floats Float32Array, integers
 * Int32Array), and any of the scalar keys; null for anything else (the caller falls back to
 * predict_request.ts).
 */
export function parsePackedPredict(body: Buffer, type: InputType): PackedPredict | null {
  if (!isNumericType(type)) return null;
  const end = body.length;
  pos = skipSpace(body, 0, end);
  if (body[pos] !== Ch.LBrace) return null;
  let inputs: PackedNumbers[] | null = null;
  let batch = false;
  let fields: PredictFields | null = null;
  for (;;) {
    pos = skipSpace(body, pos + 1, end);
    const key = readKey(body, end);
    if (key === Key.None) return null;
    pos = skipSpace(body, pos, end);
    if (body[pos] !== Ch.Colon) return null;
    pos = skipSpace(body, pos + 1, end);
    if (key === Key.Input || key === Key.InputBatch) {
      if (inputs !== null) return null; // a second input: JSON.parse's last-one-wins is the ordinary path's
      batch = key === Key.InputBatch;
      inputs = batch ? readBatch(body, end, type) : readInput(body, end, type);
      if (inputs === null) return null;
    } else {
      const name = kKeys[key - 1]![2]!;
      fields ??= {};
      if (name in fields) return null;
      const value = readScalar(body, end);
      if (value === undefined) return null;
      fields[name] = value;
    }
    pos = skipSpace(body, pos, end);
    if (body[pos] === Ch.RBrace) break;
    if (body[pos] !== Ch.Comma) return null;
  }
  if (inputs === null || skipSpace(body, pos + 1, end) !== end) return null;
  return { inputs, batch, fields };
}

/** The key at pos (the position after its closing quote); Key.None when it is not one the fast path reads. */
function readKey(b: Buffer, end: number): Key {
  const start = pos;
  if (b[start] !== Ch.Quote) return Key.None;
  for (let k = 0; k < kKeys.length; k++) {
    const text = kKeys[k]![1];
    if (matches(b, start + 1, end, text)) {
      pos = start + 1 + text.length;
      return kKeys[k]![0];
    }
  }
  return Key.None;
}

function matches(b: Buffer, at: number, end: number, text: string): boolean {
  if (at + text.length > end) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * A scalar value at pos (a string, number, true, false or null) as JSON.parse reads it, pos after it;
 * undefined for anything else (an object or array, malformed JSON), which the ordinary path answers.
 */
function readScalar(b: Buffer, end: number): unknown {
  const start = pos;
  let i = start;
  if (b[i] === Ch.Quote) {
    for (i++; i < end && b[i] !== Ch.Quote; i++) if (b[i] === Ch.Backslash) i++;
    if (i >= end) return undefined;
    i++;
  } else {
    while (i < end && isScalarByte(b[i]!)) i++;
    if (i === start) return undefined;
  }
  pos = i;
  try {
    // utf8, as the ordinary path decodes the whole body: the same string for any bytes.
    return JSON.parse(b.toString('utf8', start, i)) as unknown;
  } catch {
    return undefined;
  }
}

/** The bytes of a JSON number, true, false or null (JSON.parse then decides whether they are one). */
function isScalarByte(c: number): boolean {
  return isDigit(c) || c === Ch.Minus || c === Ch.Plus || c === Ch.Dot || (c >= Ch.LowerA && c <= Ch.LowerZ) || c === Ch.E;
}

function readInput(b: Buffer, end: number, type: NumericType): PackedNumbers[] | null {
  const input = readNumberArray(b, end, type);
  return input === null ? null : [input];
}

function readBatch(b: Buffer, end: number, type: NumericType): PackedNumbers[] | null {
  if (b[pos] !== Ch.LBracket) return null;
  pos = skipSpace(b, pos + 1, end);
  const inputs: PackedNumbers[] = [];
  if (b[pos] === Ch.RBracket) {
    pos++;
    return inputs;
  }
  for (;;) {
    const input = readNumberArray(b, end, type);
    if (input === null) return null;
    inputs.push(input);
    pos = skipSpace(b, pos, end);
    const c = b[pos];
    pos = skipSpace(b, pos + 1, end);
    if (c === Ch.RBracket) return inputs;
    if (c !== Ch.Comma) return null;
  }
}

/** `[n, …]` at pos as PackedNumbers of `type`; null when it is not one the type admits. */
function readNumberArray(b: Buffer, end: number, type: NumericType): PackedNumbers | null {
  if (b[pos] !== Ch.LBracket) return null;
  const n = readNumbers(b, pos + 1, end);
  // A value the rule refuses: the ordinary path names it, after the whole body proved to be JSON.
  if (n < 0 || firstRefused(scratch, n, type) < n) return null;
  const elements = scratch.subarray(0, n);
  return type === 'doubles' ? elements.slice() : type === 'floats' ? new Float32Array(elements) : new Int32Array(elements);
}

/**
 * The numbers of an array from `i` (after its `[`) to its `]` into scratch; their count (pos is
 * after the `]`), or -1 when the bytes are not an array of JSON numbers. One loop, its state in
 * locals: it runs once per element of a 100 KB body.
 */
function readNumbers(b: Buffer, i: number, end: number): number {
  let n = 0;
  let c = i < end ? b[i]! : 0;
  while (isSpace(c) && i < end) c = ++i < end ? b[i]! : 0;
  if (c === Ch.RBracket) {
    pos = i + 1;
    return 0;
  }
  for (;;) {
    const start = i;
    const negative = c === Ch.Minus;
    if (negative) c = ++i < end ? b[i]! : 0;
    let w = 0;
    let e = 0;
    let exact = true;
    if (c === Ch.Zero) {
      c = ++i < end ? b[i]! : 0; // a leading zero stands alone: "01" is not JSON
      if (isDigit(c)) return -1;
    } else if (isDigit(c)) {
      do {
        if (w <= kSignificandGrowMax) w = w * 10 + (c - Ch.Zero);
        else exact = false;
        c = ++i < end ? b[i]! : 0;
      } while (isDigit(c));
    } else return -1;
    if (c === Ch.Dot) {
      c = ++i < end ? b[i]! : 0;
      if (!isDigit(c)) return -1;
      do {
        if (w > kSignificandGrowMax) exact = false;
        else if (exact) {
          w = w * 10 + (c - Ch.Zero);
          e--;
        }
        c = ++i < end ? b[i]! : 0;
      } while (isDigit(c));
    }
    if (c === Ch.LowerE || c === Ch.E) {
      c = ++i < end ? b[i]! : 0;
      const down = c === Ch.Minus;
      if (down || c === Ch.Plus) c = ++i < end ? b[i]! : 0;
      if (!isDigit(c)) return -1;
      let v = 0;
      do {
        if (v < 1e6) v = v * 10 + (c - Ch.Zero); // past 1e6 any exponent goes through Number()
        c = ++i < end ? b[i]! : 0;
      } while (isDigit(c));
      e += down ? -v : v;
    }
    let x: number;
    if (exact && w === 0) x = 0;
    else if (exact && e >= 0 && e <= 22) x = w * kPow10[e]!;
    else if (exact && e < 0 && e >= -22) x = w / kPow10[-e]!;
    else x = Number(b.toString('latin1', negative ? start + 1 : start, i));
    if (n === scratch.length) grow();
    scratch[n++] = negative ? -x : x;
    while (isSpace(c) && i < end) c = ++i < end ? b[i]! : 0;
    if (c === Ch.RBracket) {
      pos = i + 1;
      return n;
    }
    if (c !== Ch.Comma) return -1;
    c = ++i < end ? b[i]! : 0;
    while (isSpace(c) && i < end) c = ++i < end ? b[i]! : 0;
  }
}

function isDigit(c: number): boolean {
  return c >= Ch.Zero && c <= Ch.Nine;
}

function isSpace(c: number): boolean {
  return c === Ch.Space || c === Ch.Lf || c === Ch.Cr || c === Ch.Tab;
}

function grow(): void {
  const bigger = new Float64Array(scratch.length * 2);
  bigger.set(scratch);
  scratch = bigger;
}

function skipSpace(b: Buffer, at: number, end: number): number {
  while (at < end && isSpace(b[at]!)) at++;
  return at;
}
