// The records the rings carry (the ring itself is ring_buffer.ts), and the only code that knows
// their layout: every query, cancel and reply is written and read through the functions below.
//
// Query ring, main → batching worker. Record tag = QueryTag.
//   Query body (8-aligned):
//     +0  u32 token          frontend's id for this query (reply correlation); its top bits name
//                            the frontend, whose reply ring gets the answer (frontendOfToken)
//     +4  u32 modelIndex     which model-version actor in the worker
//     +8  f64 deadlineMs     absolute (lib/clock.ts monotonicNowMs scale)
//     +16 u32 inputType      InputTypeCode
//     +20 u32 count          element count (numeric) or byte length (strings, bytes)
//     +24 u32 priority       0 (normal) .. kPriorityMax (batching/protocol.ts), larger = more urgent
//     +28 u32 (reserved)     unwritten: keeps the payload 8-aligned for f64 elements
//     +32 payload            f64/f32/i32 little-endian elements, or raw bytes
//   Cancel body: +0 u32 token, +4 u32 modelIndex   (the client went away)
//
// Reply ring, batching worker → main. Record tag = ReplyStatus.
//     +0  u32 token
//     +4  u32 reason         DefaultReason (0 when status is Ok)
//     +8  utf8 text          Ok: the output as JSON text; Default: an optional detail message
//
// Hot path: the functions are small and allocate nothing (but the payload copy a worker keeps), so
// the compiler inlines them into the producer's and consumer's loops. Their invariant checks call
// assert.fail only on failure (assert() costs a few ns per call even when it holds).

import assert from 'node:assert/strict';
import { InputTypeCode, numericElementBytes, writeNumericElements, type NumericInput } from '../input_types.js';
import type { RingProducer } from './ring_buffer.js';

/**
 * Tokens name their frontend (the thread whose query core made them) in their top bits, so a
 * batching worker with several frontends answers each query on its frontend's reply ring.
 * token = frontendIndex << kFrontendTokenShift | counter (counter wraps at kTokenCounterMask).
 */
export const kFrontendTokenShift = 27;
export const kFrontendsMax = 1 << (32 - kFrontendTokenShift);
export const kTokenCounterMask = (1 << kFrontendTokenShift) - 1;

/** The top bits of every token frontend `frontendIndex` hands out. */
export function frontendTokenBase(frontendIndex: number): number {
  if (!(Number.isInteger(frontendIndex) && frontendIndex >= 0 && frontendIndex < kFrontendsMax))
    assert.fail(`frontend index ${frontendIndex} out of range`);
  return (frontendIndex << kFrontendTokenShift) >>> 0;
}

/** Which frontend a token came from (its reply ring). */
export function frontendOfToken(token: number): number {
  return token >>> kFrontendTokenShift;
}

export const enum QueryTag {
  Query = 1,
  Cancel = 2,
}

export const enum ReplyStatus {
  Ok = 0,
  Default = 1,
}

/**
 * Why a query was answered with the app's default output. QueueFull and DeadlineUnreachable are load
 * shedding (a backlog: an app may answer 429, retry later); SloInfeasible is not: the query could not
 * meet its deadline even with an empty queue and a free replica (the latency model's measured estimate
 * for a batch of one exceeds its SLO), so a retry or another replica would not help.
 */
export const enum DefaultReason {
  None = 0,
  NoReplica = 1,
  ModelError = 2,
  /** Shed: the model's queue is at its bound. */
  QueueFull = 3,
  UnknownModel = 4,
  /** Shed: the queries ahead of it (queued or in flight) leave no time for it before its deadline. */
  DeadlineUnreachable = 5,
  ReplicaFailed = 6,
  /** Not shed: its SLO is shorter than the model's measured latency for one query (answered at arrival). */
  SloInfeasible = 7,
}

/** Byte offsets of the fields of a query body. */
const enum QueryField {
  Token = 0,
  ModelIndex = 4,
  DeadlineMs = 8,
  InputType = 16,
  Count = 20,
  Priority = 24,
  Payload = 32,
}

/** Byte offsets of the fields of a cancel body. */
const enum CancelField {
  Token = 0,
  ModelIndex = 4,
  End = 8,
}

/** Byte offsets of the fields of a reply body. */
const enum ReplyField {
  Token = 0,
  Reason = 4,
  Text = 8,
}

const kQueryHeaderBytes = QueryField.Payload;
const kCancelBodyBytes = CancelField.End;
const kReplyHeaderBytes = ReplyField.Text;
/** The ring's own record header (length and tag) and the worst-case padding to 8 bytes. */
const kRingOverheadBytes = 8 + 8;

/** The views of a ring's data area that records are read and written through (both ring ends). */
export interface RecordViews {
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly buffer: Buffer;
}

// ── query ring: main end ──────────────────────────────────────────────────────────────────────

/** The largest input (encoded bytes) one query record can carry in a ring of `ringBytes`. */
export function queryInputBytesMax(ringBytes: number): number {
  return ringBytes / 2 - kRingOverheadBytes - kQueryHeaderBytes;
}

/**
 * Write one numeric query (not yet woken). False when the ring is full. PackedNumbers of the record's
 * element type are copied with one set(); the bytes are the same as for the values as number[].
 */
export function encodeNumericQuery(
  ring: RingProducer,
  token: number,
  modelIndex: number,
  deadlineMs: number,
  priority: number,
  type: InputTypeCode,
  values: NumericInput,
): boolean {
  const count = values.length;
  const body = ring.reserve(kQueryHeaderBytes + count * numericElementBytes(type), QueryTag.Query);
  if (body < 0) return false;
  writeQueryHeader(ring, body, token, modelIndex, deadlineMs, priority, type, count);
  writeNumericElements(ring, body + QueryField.Payload, type, values);
  ring.commit();
  return true;
}

/** Write one string (as UTF-8) or bytes query (not yet woken). False when the ring is full. */
export function encodeBytesQuery(
  ring: RingProducer,
  token: number,
  modelIndex: number,
  deadlineMs: number,
  priority: number,
  type: InputTypeCode,
  value: string | Buffer,
): boolean {
  // UTF-8 takes at most 3 bytes per UTF-16 unit; count exactly only when that bound is too large.
  const reserveBytes =
    typeof value !== 'string'
      ? value.length
      : ring.recordFits(kQueryHeaderBytes + value.length * 3)
        ? value.length * 3
        : Buffer.byteLength(value, 'utf8');
  const body = ring.reserve(kQueryHeaderBytes + reserveBytes, QueryTag.Query);
  if (body < 0) return false;
  const start = body + QueryField.Payload;
  const written = typeof value === 'string' ? ring.buffer.write(value, start, 'utf8') : value.copy(ring.buffer, start);
  writeQueryHeader(ring, body, token, modelIndex, deadlineMs, priority, type, written);
  ring.commit(kQueryHeaderBytes + written);
  return true;
}

/** Write one cancel record (not yet woken). False when the ring is full. */
export function encodeCancel(ring: RingProducer, token: number, modelIndex: number): boolean {
  const body = ring.reserve(kCancelBodyBytes, QueryTag.Cancel);
  if (body < 0) return false;
  ring.u32[(body + CancelField.Token) >>> 2] = token;
  ring.u32[(body + CancelField.ModelIndex) >>> 2] = modelIndex;
  ring.commit();
  return true;
}

function writeQueryHeader(
  ring: RecordViews,
  body: number,
  token: number,
  modelIndex: number,
  deadlineMs: number,
  priority: number,
  type: InputTypeCode,
  count: number,
): void {
  const u32 = ring.u32;
  u32[(body + QueryField.Token) >>> 2] = token;
  u32[(body + QueryField.ModelIndex) >>> 2] = modelIndex;
  ring.f64[(body + QueryField.DeadlineMs) >>> 3] = deadlineMs;
  u32[(body + QueryField.InputType) >>> 2] = type;
  u32[(body + QueryField.Count) >>> 2] = count;
  u32[(body + QueryField.Priority) >>> 2] = priority;
}

// ── query ring: worker end ────────────────────────────────────────────────────────────────────

/** Whether a query-ring record is a cancel (else a query). Asserts a known tag and a sound length. */
export function isCancelRecord(tag: number, bodyBytes: number): boolean {
  if (tag === QueryTag.Cancel) {
    if (bodyBytes !== kCancelBodyBytes) assert.fail('cancel record of the wrong length');
    return true;
  }
  if (tag !== QueryTag.Query) assert.fail('query ring record with an unknown tag');
  if (bodyBytes < kQueryHeaderBytes) assert.fail('query record shorter than its header');
  return false;
}

export function cancelToken(ring: RecordViews, body: number): number {
  return ring.u32[(body + CancelField.Token) >>> 2]!;
}

export function cancelModelIndex(ring: RecordViews, body: number): number {
  return ring.u32[(body + CancelField.ModelIndex) >>> 2]!;
}

export function queryToken(ring: RecordViews, body: number): number {
  return ring.u32[(body + QueryField.Token) >>> 2]!;
}

export function queryModelIndex(ring: RecordViews, body: number): number {
  return ring.u32[(body + QueryField.ModelIndex) >>> 2]!;
}

export function queryDeadlineMs(ring: RecordViews, body: number): number {
  return ring.f64[(body + QueryField.DeadlineMs) >>> 3]!;
}

/** 0 (normal) .. kPriorityMax, larger = more urgent (as written; the scheduler checks the range). */
export function queryPriority(ring: RecordViews, body: number): number {
  return ring.u32[(body + QueryField.Priority) >>> 2]!;
}

export function queryInputType(ring: RecordViews, body: number): InputTypeCode {
  return ring.u32[(body + QueryField.InputType) >>> 2]! as InputTypeCode;
}

/** Element count (numeric types) or byte length (strings, bytes) of the payload. */
export function queryCount(ring: RecordViews, body: number): number {
  return ring.u32[(body + QueryField.Count) >>> 2]!;
}

/**
 * Copy a query's payload out of the ring (the ring reuses its bytes once drain() returns). Asserts
 * that the payload length agrees with the header's count.
 */
export function copyQueryPayload(ring: RecordViews, body: number, bodyBytes: number): Buffer {
  const payloadBytes = bodyBytes - kQueryHeaderBytes;
  const type = queryInputType(ring, body);
  const count = queryCount(ring, body);
  // Records never wrap: one that runs past the ring's end would be copied short (and the rest of the
  // payload left as uninitialised memory). An unknown type code would reach the actor undecodable.
  if (body + bodyBytes > ring.buffer.length) assert.fail('query record runs past the end of the ring');
  if (type > InputTypeCode.Strings) assert.fail('query record with an unknown input type');
  const expectedBytes = type === InputTypeCode.Strings || type === InputTypeCode.Bytes ? count : count * numericElementBytes(type);
  if (payloadBytes !== expectedBytes) assert.fail('query payload length disagrees with its count');
  const payload = Buffer.allocUnsafe(payloadBytes);
  ring.buffer.copy(payload, 0, body + QueryField.Payload, body + bodyBytes);
  return payload;
}

// ── reply ring: worker end ────────────────────────────────────────────────────────────────────

/** Body bytes to reserve for a reply: the UTF-8 worst case, or the exact count when that would not fit. */
function replyReserveBytes(ring: RingProducer, text: string): number {
  const worstBytes = kReplyHeaderBytes + text.length * 3;
  return ring.recordFits(worstBytes) ? worstBytes : kReplyHeaderBytes + Buffer.byteLength(text, 'utf8');
}

/** Whether a reply carrying `text` can ever be written (a record holds at most half the ring). */
export function replyFits(ring: RingProducer, text: string): boolean {
  return ring.recordFits(replyReserveBytes(ring, text));
}

/** Write one reply (not yet woken). False when the ring is full (or the reply can never fit). */
export function encodeReply(ring: RingProducer, token: number, status: ReplyStatus, reason: DefaultReason, text: string): boolean {
  const body = ring.reserve(replyReserveBytes(ring, text), status);
  if (body < 0) return false;
  ring.u32[(body + ReplyField.Token) >>> 2] = token;
  ring.u32[(body + ReplyField.Reason) >>> 2] = reason;
  const textBytes = text.length === 0 ? 0 : ring.buffer.write(text, body + ReplyField.Text, 'utf8');
  ring.commit(kReplyHeaderBytes + textBytes);
  return true;
}

// ── reply ring: main end ──────────────────────────────────────────────────────────────────────

/** The reply's status (its record tag). Asserts a known status and a body that holds the header. */
export function replyStatus(tag: number, bodyBytes: number): ReplyStatus {
  if (tag !== ReplyStatus.Ok && tag !== ReplyStatus.Default) assert.fail('reply record with an unknown status');
  if (bodyBytes < kReplyHeaderBytes) assert.fail('reply record shorter than its header');
  return tag as ReplyStatus;
}

export function replyToken(ring: RecordViews, body: number): number {
  return ring.u32[(body + ReplyField.Token) >>> 2]!;
}

export function replyReason(ring: RecordViews, body: number): DefaultReason {
  return ring.u32[(body + ReplyField.Reason) >>> 2]! as DefaultReason;
}

export function replyText(ring: RecordViews, body: number, bodyBytes: number): string {
  return bodyBytes > kReplyHeaderBytes ? ring.buffer.toString('utf8', body + ReplyField.Text, body + bodyBytes) : '';
}
