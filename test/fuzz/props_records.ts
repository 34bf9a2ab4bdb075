// Fuzz properties of the records other parts of the system wrote: ring records (src/ipc/records.ts:
// round trips, and decoding arbitrary bytes), state records read back from Redis
// (src/state/record_check.ts) and the selection policies' stored state (deserializePolicy).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClipperError } from '../../src/errors.js';
import { InputTypeCode } from '../../src/input_types.js';
import * as rec from '../../src/ipc/records.js';
import { createRing, RingConsumer, RingProducer } from '../../src/ipc/ring_buffer.js';
import { kPolicyNames } from '../../src/selection/policies/params.js';
import { parsePolicyConfig } from '../../src/selection/policies/params.js';
import { createPolicy, deserializePolicy } from '../../src/selection/policies/registry.js';
import { parseStoredApp, parseStoredModel, readChangeMessage } from '../../src/state/record_check.js';
import { modelKey, type AppRecord, type ModelRecord } from '../../src/state/records.js';
import type { StateChange } from '../../src/state/state_store.js';
import { kOipDatatypes } from '../../src/tensor_spec.js';
import { jsonValue, kInputTypes, mutateObject, mutateText, withInvalidUtf8 } from './arbitraries.js';
import { AssertionError, check, decodeOrThrow, parseOrReject } from './fuzz_checks.js';
import { syncProperty, type FuzzProperty } from './fuzz_property.js';

const kRingBytes = 4096;

type QueryCase =
  | { kind: 'numeric'; type: InputTypeCode; values: number[] }
  | { kind: 'bytes'; type: InputTypeCode; value: string | Buffer };

const queryCase: fc.Arbitrary<QueryCase> = fc.oneof(
  fc
    .array(fc.double({ noNaN: true }), { maxLength: 40 })
    .map((values) => ({ kind: 'numeric' as const, type: InputTypeCode.Doubles, values })),
  fc
    .array(fc.float({ noNaN: true }), { maxLength: 40 })
    .map((values) => ({ kind: 'numeric' as const, type: InputTypeCode.Floats, values })),
  fc
    .array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 40 })
    .map((values) => ({ kind: 'numeric' as const, type: InputTypeCode.Integers, values })),
  fc.string({ unit: 'grapheme', maxLength: 60 }).map((value) => ({ kind: 'bytes' as const, type: InputTypeCode.Strings, value })),
  fc.uint8Array({ maxLength: 80 }).map((b) => ({ kind: 'bytes' as const, type: InputTypeCode.Bytes, value: Buffer.from(b) })),
);

const u32 = fc.nat(0xffffffff);

const ringRoundTrip = syncProperty(
  'ring_record_round_trip',
  'ipc_records',
  4,
  fc.tuple(
    fc.array(fc.tuple(queryCase, u32, u32, fc.double({ noNaN: true }), fc.nat(3)), { minLength: 1, maxLength: 6 }),
    fc.string({ maxLength: 40 }),
    u32,
  ),
  ([queries, text, token]) => {
    const ring = createRing(kRingBytes);
    const producer = new RingProducer(ring);
    const consumer = new RingConsumer(ring);
    for (const [q, tok, model, deadlineMs, priority] of queries) {
      const ok =
        q.kind === 'numeric'
          ? rec.encodeNumericQuery(producer, tok, model, deadlineMs, priority, q.type, q.values)
          : rec.encodeBytesQuery(producer, tok, model, deadlineMs, priority, q.type, q.value);
      if (!ok) continue; // full: nothing half-written (the next drain sees only whole records)
      consumer.drain((body, bodyBytes, tag) => {
        assert.equal(rec.isCancelRecord(tag, bodyBytes), false);
        assert.equal(rec.queryToken(consumer, body), tok);
        assert.equal(rec.queryModelIndex(consumer, body), model);
        assert.equal(rec.queryDeadlineMs(consumer, body), deadlineMs);
        assert.equal(rec.queryPriority(consumer, body), priority);
        assert.equal(rec.queryInputType(consumer, body), q.type);
        const payload = rec.copyQueryPayload(consumer, body, bodyBytes);
        if (q.kind === 'bytes') assert.deepEqual(payload, typeof q.value === 'string' ? Buffer.from(q.value, 'utf8') : q.value);
        else assert.equal(payload.length, q.values.length * (q.type === InputTypeCode.Doubles ? 8 : 4));
      });
    }
    assert.equal(rec.encodeCancel(producer, token, 7), true);
    assert.equal(rec.encodeReply(producer, token, rec.ReplyStatus.Ok, rec.DefaultReason.None, text), true);
    const seen: string[] = [];
    consumer.drain((body, bodyBytes, tag) => {
      if (tag === rec.QueryTag.Cancel && bodyBytes === 8) {
        seen.push(`cancel ${rec.cancelToken(consumer, body)} ${rec.cancelModelIndex(consumer, body)}`);
        return;
      }
      assert.equal(rec.replyStatus(tag, bodyBytes), rec.ReplyStatus.Ok);
      seen.push(`reply ${rec.replyToken(consumer, body)} ${rec.replyText(consumer, body, bodyBytes)}`);
    });
    assert.deepEqual(seen, [`cancel ${token} 7`, `reply ${token} ${text}`]);
  },
);

/** Decoding records from arbitrary ring bytes: only the decoders' assertions (AssertionError) refuse them. */
const ringArbitrary = syncProperty(
  'ring_record_arbitrary_bytes',
  'ipc_records',
  4,
  fc.tuple(
    fc.uint8Array({ minLength: 64, maxLength: 64 }),
    fc.nat(kRingBytes / 8 - 1),
    fc.oneof(fc.nat(200), u32),
    fc.nat(4),
    fc.boolean(),
    fc.option(fc.tuple(fc.nat(7), fc.nat(600), fc.nat(2))),
  ),
  ([noise, slot, anyBytes, tag, reply, header]) => {
    const ring = createRing(kRingBytes);
    const consumer = new RingConsumer(ring);
    const body = slot * 8;
    consumer.buffer.set(noise, Math.min(body, kRingBytes - noise.length));
    // A header whose count agrees with the body's length (as far as its type code says), or noise.
    let bodyBytes = anyBytes;
    if (header !== null && body + 32 <= kRingBytes) {
      const [type, count, extra] = header;
      consumer.u32[(body + 16) >>> 2] = type;
      consumer.u32[(body + 20) >>> 2] = count;
      bodyBytes =
        32 + count * (type === InputTypeCode.Doubles ? 8 : type === InputTypeCode.Bytes || type === InputTypeCode.Strings ? 1 : 4) + extra;
    }
    decodeOrThrow('ring record', [AssertionError], () => {
      if (reply) {
        rec.replyStatus(tag, bodyBytes);
        return rec.replyText(consumer, body, Math.min(bodyBytes, kRingBytes - body));
      }
      if (rec.isCancelRecord(tag, bodyBytes)) return rec.cancelToken(consumer, body);
      const payload = rec.copyQueryPayload(consumer, body, bodyBytes);
      const type = rec.queryInputType(consumer, body);
      check(type >= InputTypeCode.Bytes && type <= InputTypeCode.Strings, `a query record of unknown input type ${type} was accepted`);
      check(body + bodyBytes <= kRingBytes, 'a record running past the end of the ring was accepted');
      return payload;
    });
  },
);

const tensorSpec = fc.record({
  name: fc.string({ maxLength: 6 }),
  datatype: fc.constantFrom(...kOipDatatypes),
  shape: fc.array(fc.integer({ min: -1, max: 8 }), { maxLength: 3 }),
});

export const appRecord: fc.Arbitrary<AppRecord> = fc.record({
  name: fc.string({ minLength: 1, maxLength: 10 }),
  input_type: fc.constantFrom(...kInputTypes),
  default_output: fc.string({ maxLength: 10 }),
  latency_slo_micros: fc.integer({ min: 1, max: 10_000_000 }),
  linked_models: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
  selection_policy: fc.constantFrom(...kPolicyNames),
  overload_response: fc.constantFrom('status_429' as const, 'default_output' as const),
});

export const modelRecord: fc.Arbitrary<ModelRecord> = fc.record(
  {
    model_name: fc.string({ minLength: 1, maxLength: 8 }),
    model_version: fc.string({ minLength: 1, maxLength: 4 }),
    input_type: fc.constantFrom(...kInputTypes),
    labels: fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
    container_name: fc.string({ maxLength: 8 }),
    model_data_path: fc.string({ maxLength: 8 }),
    batch_size: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 512 })),
    container: fc.oneof(
      fc.constant(null),
      fc.record({ runtime: fc.constantFrom('node' as const, 'python' as const), entry: fc.string({ maxLength: 10 }) }),
    ),
    num_replicas: fc.integer({ min: 0, max: 8 }),
    cache_enabled: fc.boolean(),
    inputs: fc.array(tensorSpec, { maxLength: 1 }),
  },
  {
    requiredKeys: [
      'model_name',
      'model_version',
      'input_type',
      'labels',
      'container_name',
      'model_data_path',
      'batch_size',
      'container',
      'num_replicas',
    ],
  },
);

/** Stored text: the record as written, or corrupted (a changed field, damaged text, bad bytes). */
function storedText<T extends object>(valid: fc.Arbitrary<T>): fc.Arbitrary<{ text: string; valid: T | null }> {
  const asRecord = valid as unknown as fc.Arbitrary<Record<string, unknown>>;
  return fc.oneof(
    // JSON.parse: the record as a store reads it (fast-check's records have no prototype)
    valid.map((v) => ({ text: JSON.stringify(v), valid: JSON.parse(JSON.stringify(v)) as T })),
    mutateObject(asRecord).map((v) => ({ text: JSON.stringify(v) ?? '', valid: null })),
    mutateText(asRecord.map((v) => JSON.stringify(v))).map((text) => ({ text, valid: null })),
    withInvalidUtf8(asRecord.map((v) => JSON.stringify(v))).map((b) => ({ text: b.toString('utf8'), valid: null })),
    jsonValue.map((v) => ({ text: JSON.stringify(v) ?? '', valid: null })),
  );
}

/** A corrupt record is reported as CLP_ERR_STATE_CORRUPT naming it; a stored one reads back equal. */
function readBack<T>(where: string, read: () => T, valid: T | null): void {
  let got: T;
  try {
    got = read();
  } catch (err) {
    check(err instanceof ClipperError && err.code === 'CLP_ERR_STATE_CORRUPT', `${where}: threw ${String(err)}`);
    check(err.message.startsWith('state store: '), `${where}: the report names the store`);
    check(valid === null, `${where}: a record as written was refused: ${err.message}`);
    return;
  }
  if (valid !== null) assert.deepEqual(got, valid);
}

const stateApps = syncProperty('state_app_record', 'state_records', 3, storedText(appRecord), ({ text, valid }) => {
  const field = valid?.name ?? 'a';
  readBack('app record', () => parseStoredApp(field, text), valid);
});

const stateModels = syncProperty('state_model_record', 'state_records', 3, storedText(modelRecord), ({ text, valid }) => {
  const field = valid === null ? 'm:1' : modelKey(valid.model_name, valid.model_version);
  readBack('model record', () => parseStoredModel(field, text), valid);
});

const changeMessage = fc.oneof(
  appRecord.map((app): StateChange => ({ kind: 'app_put', app })),
  modelRecord.map((model): StateChange => ({ kind: 'model_put', model })),
  fc.string().map((name): StateChange => ({ kind: 'app_deleted', name })),
  fc.tuple(fc.string(), fc.option(fc.string())).map(([name, version]): StateChange => ({ kind: 'current_version', name, version })),
);

const stateChanges = syncProperty(
  'state_change_message',
  'state_records',
  2,
  storedText(fc.tuple(fc.integer({ min: 1 }), changeMessage).map(([seq, change]) => ({ seq, writer: 'w', change }))),
  ({ text, valid }) => readBack('change message', () => readChangeMessage(text), valid),
);

const policyState = fc.tuple(fc.constantFrom(...kPolicyNames), fc.integer({ min: 1, max: 4 })).chain(([name, n]) => {
  const params = name === 'weighted_split' ? { weights: new Array<number>(n).fill(1) } : {};
  const text = createPolicy(parsePolicyConfig(name, params, n), n).serialize();
  const obj = JSON.parse(text) as Record<string, unknown>;
  return fc.oneof(
    fc.constant(text),
    mutateObject(fc.constant(obj)).map((v) => JSON.stringify(v) ?? ''),
    mutateText(fc.constant(text)),
  );
});

const policyRestore = syncProperty('policy_state', 'state_records', 2, policyState, (text) => {
  parseOrReject('deserializePolicy', () => deserializePolicy(text));
});

export const kRecordProperties: readonly FuzzProperty[] = [
  ringRoundTrip,
  ringArbitrary,
  stateApps,
  stateModels,
  stateChanges,
  policyRestore,
];
