// The Open Inference Protocol's tensor datatypes as values: which JSON values each admits, how many
// bytes an element takes in the binary tensor extension (little-endian; BOOL one byte; BYTES a
// 4-byte little-endian length then the bytes), and reading and writing numeric elements. Every
// numeric datatype is carried as a JS number: INT64/UINT64 beyond 2^53 lose precision, as they do
// in JSON.

import type { OipDatatype } from '../../tensor_spec.js';
import { oipInvalid } from './oip_errors.js';

/** The datatypes whose elements are numbers (BOOL: 0 or 1). */
export type NumericDatatype = Exclude<OipDatatype, 'BYTES'>;

interface NumericSpec {
  readonly bytes: number;
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
}

const kFp32Max = 3.4028234663852886e38;
const kFp16Max = 65504;

const kNumeric: Readonly<Record<NumericDatatype, NumericSpec>> = {
  BOOL: { bytes: 1, min: 0, max: 1, integer: true },
  UINT8: { bytes: 1, min: 0, max: 255, integer: true },
  UINT16: { bytes: 2, min: 0, max: 65535, integer: true },
  UINT32: { bytes: 4, min: 0, max: 4294967295, integer: true },
  UINT64: { bytes: 8, min: 0, max: 2 ** 64 - 2048, integer: true }, // the largest double below 2^64
  INT8: { bytes: 1, min: -128, max: 127, integer: true },
  INT16: { bytes: 2, min: -32768, max: 32767, integer: true },
  INT32: { bytes: 4, min: -2147483648, max: 2147483647, integer: true },
  INT64: { bytes: 8, min: -(2 ** 63), max: 2 ** 63 - 1024, integer: true },
  FP16: { bytes: 2, min: -kFp16Max, max: kFp16Max, integer: false },
  FP32: { bytes: 4, min: -kFp32Max, max: kFp32Max, integer: false },
  FP64: { bytes: 8, min: -Number.MAX_VALUE, max: Number.MAX_VALUE, integer: false },
};

/** Bytes per element in the binary extension; 0 for BYTES (each element carries its length). */
export function elementBytes(datatype: OipDatatype): number {
  return datatype === 'BYTES' ? 0 : kNumeric[datatype].bytes;
}

/** Whether `x` is a value of the numeric datatype (in range; an integer for integer types). */
export function fitsDatatype(datatype: NumericDatatype, x: number): boolean {
  const spec = kNumeric[datatype];
  // FP16/FP32: a finite double out of range would become infinite; FP64: finite (JSON has no NaN).
  return x >= spec.min && x <= spec.max && (!spec.integer || Number.isInteger(x));
}

/**
 * The JSON elements of a numeric tensor as numbers (BOOL: true/false → 1/0), each checked against
 * the datatype; a 400 naming `where[i]` otherwise. Returns `flat` itself when it needs no change.
 */
export function jsonNumbers(datatype: NumericDatatype, flat: readonly unknown[], where: string): number[] {
  if (datatype === 'BOOL') {
    const out = new Array<number>(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const x = flat[i];
      if (typeof x !== 'boolean') throw oipInvalid(`${where}[${i}] must be true or false (datatype BOOL), got ${describe(x)}`);
      out[i] = x ? 1 : 0;
    }
    return out;
  }
  for (let i = 0; i < flat.length; i++) {
    const x = flat[i];
    if (typeof x !== 'number' || !fitsDatatype(datatype, x)) {
      throw oipInvalid(`${where}[${i}] must be ${ruleOf(datatype)}, got ${describe(x)}`);
    }
  }
  return flat as number[];
}

/** The JSON elements of a BYTES tensor: strings (utf-8). */
export function jsonStrings(flat: readonly unknown[], where: string): string[] {
  for (let i = 0; i < flat.length; i++) {
    const x = flat[i];
    if (typeof x !== 'string') throw oipInvalid(`${where}[${i}] must be a string (datatype BYTES), got ${describe(x)}`);
  }
  return flat as string[];
}

/** Reads one little-endian element at byte `offset` of `buf`. */
export type ElementReader = (buf: Buffer, offset: number) => number;

const kReaders: Readonly<Record<NumericDatatype, ElementReader>> = {
  BOOL: (b, o) => b[o]!,
  UINT8: (b, o) => b[o]!,
  UINT16: (b, o) => b.readUInt16LE(o),
  UINT32: (b, o) => b.readUInt32LE(o),
  UINT64: (b, o) => Number(b.readBigUInt64LE(o)),
  INT8: (b, o) => b.readInt8(o),
  INT16: (b, o) => b.readInt16LE(o),
  INT32: (b, o) => b.readInt32LE(o),
  INT64: (b, o) => Number(b.readBigInt64LE(o)),
  FP16: (b, o) => halfToNumber(b.readUInt16LE(o)),
  FP32: (b, o) => b.readFloatLE(o),
  FP64: (b, o) => b.readDoubleLE(o),
};

export function elementReader(datatype: NumericDatatype): ElementReader {
  return kReaders[datatype];
}

/** Whether a number read from the binary extension is an admissible element (BOOL 0/1, no NaN/±Inf). */
export function validBinaryElement(datatype: NumericDatatype, x: number): boolean {
  return datatype === 'BOOL' ? x <= 1 : Number.isFinite(x);
}

/** Writes one element (already checked with fitsDatatype) little-endian at `offset`. */
export function writeElement(datatype: NumericDatatype, buf: Buffer, offset: number, x: number): void {
  switch (datatype) {
    case 'BOOL':
    case 'UINT8':
      buf[offset] = x;
      return;
    case 'INT8':
      buf.writeInt8(x, offset);
      return;
    case 'UINT16':
      buf.writeUInt16LE(x, offset);
      return;
    case 'INT16':
      buf.writeInt16LE(x, offset);
      return;
    case 'UINT32':
      buf.writeUInt32LE(x, offset);
      return;
    case 'INT32':
      buf.writeInt32LE(x, offset);
      return;
    case 'UINT64':
      buf.writeBigUInt64LE(BigInt(x), offset);
      return;
    case 'INT64':
      buf.writeBigInt64LE(BigInt(x), offset);
      return;
    case 'FP16':
      buf.writeUInt16LE(numberToHalf(x), offset);
      return;
    case 'FP32':
      buf.writeFloatLE(x, offset);
      return;
    case 'FP64':
      buf.writeDoubleLE(x, offset);
      return;
  }
}

/** An IEEE 754 half-precision value as a number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const kF32 = new Float32Array(1);
const kU32 = new Uint32Array(kF32.buffer);

/** A number as IEEE 754 half precision, rounded to nearest even (through float32). */
export function numberToHalf(x: number): number {
  kF32[0] = x;
  const bits = kU32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below the smallest subnormal: ±0
    mantissa |= 0x800000; // the implicit 1, then shift into a subnormal
    const shift = 14 - e;
    return sign | roundShift(mantissa, shift);
  }
  // roundShift's carry may bump the exponent, and the sum stays a valid half (up to infinity).
  return sign | ((e << 10) + roundShift(mantissa, 13));
}

/** `value >> shift`, rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const truncated = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (truncated & 1) === 1)) return truncated + 1;
  return truncated;
}

function ruleOf(datatype: NumericDatatype): string {
  const spec = kNumeric[datatype];
  if (datatype === 'FP64') return 'a finite number (datatype FP64)';
  if (!spec.integer) return `a number within ${datatype} range (±${spec.max})`;
  return `an integer from ${spec.min} to ${spec.max} (datatype ${datatype})`;
}

/** A value as an error message shows it. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a value of type ${typeof value}`;
}
