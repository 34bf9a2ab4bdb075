// Ring record codecs (ipc/records.ts): every field round-trips, and a record that breaks its
// layout (short body, payload that disagrees with its count, unknown tag) is refused loudly.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputTypeCode, type NumericInput } from '../../src/input_types.js';
import {
  cancelModelIndex,
  cancelToken,
  copyQueryPayload,
  DefaultReason,
  encodeBytesQuery,
  encodeCancel,
  encodeNumericQuery,
  encodeReply,
  frontendOfToken,
  frontendTokenBase,
  isCancelRecord,
  kFrontendsMax,
  kFrontendTokenShift,
  kTokenCounterMask,
  queryCount,
  queryDeadlineMs,
  queryInputBytesMax,
  queryInputType,
  queryModelIndex,
  queryPriority,
  queryToken,
  replyFits,
  replyReason,
  ReplyStatus,
  replyStatus,
  replyText,
  replyToken,
} from '../../src/ipc/records.js';
import { createRing, RingConsumer, RingProducer } from '../../src/ipc/ring_buffer.js';

function rings(bytes = 4096) {
  const ring = createRing(bytes);
  return { producer: new RingProducer(ring), consumer: new RingConsumer(ring) };
}

test('a float query round-trips every header field and its elements', () => {
  const { producer, consumer } = rings();
  assert.ok(encodeNumericQuery(producer, 0xfffffffe, 9, 1234.5, 15, InputTypeCode.Floats, [0.5, 2]));
  let visited = 0;
  consumer.drain((body, bodyBytes, tag) => {
    visited++;
    assert.equal(isCancelRecord(tag, bodyBytes), false);
    assert.deepEqual(
      [
        queryToken(consumer, body),
        queryModelIndex(consumer, body),
        queryDeadlineMs(consumer, body),
        queryPriority(consumer, body),
        queryInputType(consumer, body),
        queryCount(consumer, body),
      ],
      [0xfffffffe, 9, 1234.5, 15, InputTypeCode.Floats, 2],
    );
    const payload = copyQueryPayload(consumer, body, bodyBytes);
    assert.deepEqual([payload.readFloatLE(0), payload.readFloatLE(4)], [0.5, 2]);
  });
  assert.equal(visited, 1);
});

test('string and bytes queries carry their priority; a double payload stays 8-byte aligned', () => {
  const { producer, consumer } = rings();
  assert.ok(encodeBytesQuery(producer, 1, 2, 10, 7, InputTypeCode.Strings, 'hé'));
  assert.ok(encodeBytesQuery(producer, 2, 2, 20, 0, InputTypeCode.Bytes, Buffer.from([9])));
  assert.ok(encodeNumericQuery(producer, 3, 2, 30, 1, InputTypeCode.Doubles, [0.25, -8]));
  const got: unknown[] = [];
  consumer.drain((body, bodyBytes) => {
    const payload = copyQueryPayload(consumer, body, bodyBytes);
    got.push([queryToken(consumer, body), queryDeadlineMs(consumer, body), queryPriority(consumer, body), [...payload]]);
    if (queryInputType(consumer, body) === InputTypeCode.Doubles) {
      // The payload starts right after the header: 8-aligned, so f64 views can read it in place.
      const start = body + bodyBytes - payload.length;
      assert.equal(start % 8, 0);
      assert.deepEqual([consumer.f64[start >>> 3], consumer.f64[(start >>> 3) + 1]], [0.25, -8]);
    }
  });
  assert.deepEqual(got, [
    [1, 10, 7, [...Buffer.from('hé', 'utf8')]],
    [2, 20, 0, [9]],
    [3, 30, 1, [...new Uint8Array(new Float64Array([0.25, -8]).buffer)]],
  ]);
});

test('a cancel round-trips token and model index', () => {
  const { producer, consumer } = rings();
  assert.ok(encodeCancel(producer, 77, 5));
  consumer.drain((body, bodyBytes, tag) => {
    assert.equal(isCancelRecord(tag, bodyBytes), true);
    assert.deepEqual([cancelToken(consumer, body), cancelModelIndex(consumer, body)], [77, 5]);
  });
});

test('a reply round-trips token, status, reason and UTF-8 text', () => {
  const { producer, consumer } = rings();
  assert.ok(encodeReply(producer, 3, ReplyStatus.Default, DefaultReason.DeadlineUnreachable, 'trop tard €'));
  assert.ok(encodeReply(producer, 4, ReplyStatus.Ok, DefaultReason.None, ''));
  const got: unknown[] = [];
  consumer.drain((body, bodyBytes, tag) =>
    got.push([replyToken(consumer, body), replyStatus(tag, bodyBytes), replyReason(consumer, body), replyText(consumer, body, bodyBytes)]),
  );
  assert.deepEqual(got, [
    [3, ReplyStatus.Default, DefaultReason.DeadlineUnreachable, 'trop tard €'],
    [4, ReplyStatus.Ok, DefaultReason.None, ''],
  ]);
});

test('record limits: the largest input fits, replies are counted exactly past the 3-byte bound', () => {
  const { producer } = rings(4096);
  const bytes = Buffer.alloc(queryInputBytesMax(4096), 1);
  assert.ok(encodeBytesQuery(producer, 1, 1, 1, 0, InputTypeCode.Bytes, bytes));
  assert.ok(replyFits(producer, 'a'.repeat(2000)), '2000 ASCII characters are 2000 bytes');
  assert.equal(replyFits(producer, '€'.repeat(700)), false, '700 euro signs are 2100 bytes');
});

test('records that break their layout are refused', () => {
  assert.throws(() => isCancelRecord(2, 12), /cancel record of the wrong length/);
  assert.throws(() => isCancelRecord(9, 64), /unknown tag/);
  assert.throws(() => isCancelRecord(1, 16), /shorter than its header/);
  assert.throws(() => replyStatus(7, 8), /unknown status/);
  assert.throws(() => replyStatus(0, 4), /shorter than its header/);
  const { producer, consumer } = rings();
  assert.ok(encodeNumericQuery(producer, 1, 1, 1, 0, InputTypeCode.Doubles, [1, 2]));
  consumer.drain((body, bodyBytes) => {
    // The body holds two doubles; a header claiming three is caught before the payload is used.
    consumer.u32[(body + 20) >>> 2] = 3;
    assert.throws(() => copyQueryPayload(consumer, body, bodyBytes), /disagrees with its count/);
  });
});

/** The ring data bytes one numeric query leaves behind (a fresh ring each time, so offsets agree). */
function numericRecordBytes(type: InputTypeCode, values: NumericInput): Buffer {
  const { producer } = rings();
  assert.ok(encodeNumericQuery(producer, 7, 3, 99.5, 2, type, values));
  return Buffer.from(producer.buffer);
}

test('a packed input writes the same record bytes as the same values as number[]', () => {
  // Values the element type cannot hold exactly: the conversions must agree too.
  const values = [1.5, -2.25, 1e-40, 3.4e38, 2 ** 31 + 5, -0, Math.PI, 123456789.123];
  const cases: Array<[InputTypeCode, NumericInput]> = [
    [InputTypeCode.Doubles, Float64Array.from(values)],
    [InputTypeCode.Floats, Float32Array.from(values)],
    [InputTypeCode.Integers, Int32Array.from(values)],
  ];
  for (const [type, packed] of cases) {
    const asArray = [...packed];
    const fromArray = numericRecordBytes(type, asArray);
    assert.ok(
      fromArray.some((b) => b !== 0),
      'the record was written',
    );
    assert.deepEqual(numericRecordBytes(type, packed), fromArray, `type ${type}`);
  }
  // A typed array of another element type converts element by element, as number[] does.
  assert.deepEqual(
    numericRecordBytes(InputTypeCode.Integers, Float64Array.from(values)),
    numericRecordBytes(InputTypeCode.Integers, values),
  );
  assert.deepEqual(numericRecordBytes(InputTypeCode.Floats, Float64Array.from(values)), numericRecordBytes(InputTypeCode.Floats, values));
});

test('a packed view into a larger buffer (a binary body) carries only its own elements', () => {
  const body = new Float64Array([9, 9, 1.25, -3.5, 6, 9]);
  const view = body.subarray(2, 5);
  const { producer, consumer } = rings();
  assert.ok(encodeNumericQuery(producer, 1, 1, 1, 0, InputTypeCode.Doubles, view));
  const payloads: Buffer[] = [];
  consumer.drain((record, bodyBytes) => {
    assert.equal(queryCount(consumer, record), 3);
    payloads.push(copyQueryPayload(consumer, record, bodyBytes));
  });
  assert.equal(payloads.length, 1);
  assert.deepEqual([...new Float64Array(new Uint8Array(payloads[0]!).buffer)], [1.25, -3.5, 6]);
});

test('tokens carry their frontend in the top bits', () => {
  assert.equal(kFrontendsMax, 2 ** (32 - kFrontendTokenShift));
  for (const frontend of [0, 1, 5, kFrontendsMax - 1]) {
    const base = frontendTokenBase(frontend);
    for (const counter of [0, 1, kTokenCounterMask]) {
      const token = (base | counter) >>> 0;
      assert.equal(frontendOfToken(token), frontend, `frontend ${frontend}, counter ${counter}`);
      assert.equal(token & kTokenCounterMask, counter);
    }
  }
  assert.equal(frontendTokenBase(kFrontendsMax - 1) | kTokenCounterMask, -1, 'the last frontend uses the sign bit');
  assert.equal(frontendOfToken(0xffffffff), kFrontendsMax - 1);
  for (const bad of [-1, kFrontendsMax, 1.5, Number.NaN]) assert.throws(() => frontendTokenBase(bad), /out of range/);
});

test('a token of the last frontend survives the ring (u32, not a negative number)', () => {
  const token = (frontendTokenBase(kFrontendsMax - 1) | 12345) >>> 0;
  const { producer, consumer } = rings();
  assert.ok(encodeReply(producer, token, ReplyStatus.Ok, DefaultReason.None, '1'));
  const tokens: number[] = [];
  consumer.drain((body) => tokens.push(replyToken(consumer, body)));
  assert.deepEqual(tokens, [token]);
  assert.equal(frontendOfToken(tokens[0]!), kFrontendsMax - 1);
});
