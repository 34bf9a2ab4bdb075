// Fuzz properties of the container protocol (src/rpc/protocol.ts, containers/PROTOCOL.md): the frame
// decoder on frames split anywhere and on arbitrary bytes, and the Node runner's decoding of a
// predict frame's inputs (containers/node/model_host.ts).
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { decodeInputs, runPredict, type WireBatch } from '../../containers/node/model_host.js';
import { encodeFrame, FrameDecoder, ProtocolError, type ContainerMessage } from '../../src/rpc/protocol.js';
import { jsonValue, msgpackValue, nastyString, splitAt, splitPoints } from './arbitraries.js';
import { check, decodeOrThrow } from './fuzz_checks.js';
import { asyncProperty, syncProperty, type FuzzProperty } from './fuzz_property.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });

const smallInt = fc.oneof(fc.integer({ min: -2, max: 1000 }), fc.constantFrom(2 ** 31, 2 ** 53, -(2 ** 31), 1e300, Number.NaN));
const anyField = fc.oneof({ weight: 3, arbitrary: msgpackValue }, { weight: 1, arbitrary: smallInt });

/** Well-formed messages of every kind, with fields drawn from anything msgpack can carry. */
export const containerMessage: fc.Arbitrary<ContainerMessage> = fc.oneof(
  fc.record({
    t: fc.constant('hello' as const),
    protocol: fc.oneof(fc.constant(1), anyField),
    model: fc.oneof(fc.constant('m'), anyField),
    version: fc.oneof(fc.constant('1'), anyField),
    input_type: fc.oneof(fc.constant('doubles'), anyField),
    replica: fc.oneof(fc.constant(0), anyField),
    heartbeat_ms: fc.oneof(fc.constant(100), anyField),
    nonce: fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 32 }), anyField),
  }),
  fc.record({
    t: fc.constant('ready' as const),
    protocol: fc.oneof(fc.constant(1), anyField),
    model: anyField,
    version: anyField,
    input_type: anyField,
    pid: anyField,
    runtime: anyField,
    auth: fc.oneof(fc.uint8Array({ maxLength: 40 }), anyField),
  }),
  fc.record({
    t: fc.constant('result' as const),
    id: fc.oneof(smallInt, anyField),
    outputs: fc.oneof(fc.array(msgpackValue, { maxLength: 4 }), anyField),
  }),
  fc.record(
    { t: fc.constant('error' as const), id: fc.oneof(smallInt, anyField), message: fc.oneof(nastyString, anyField) },
    { requiredKeys: ['t'] },
  ),
  fc.record({ t: fc.constant('hb' as const) }),
  fc.record({ t: fc.constant('bye' as const), reason: anyField }, { requiredKeys: ['t'] }),
  fc.record(
    {
      t: fc.constant('predict' as const),
      id: smallInt,
      type: fc.constantFrom('doubles', 'floats', 'integers', 'strings', 'bytes', 'x'),
      n: smallInt,
      lens: fc.array(smallInt, { maxLength: 4 }),
      data: fc.uint8Array({ maxLength: 64 }),
      items: fc.array(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 8 })), { maxLength: 4 }),
    },
    { requiredKeys: ['t', 'id', 'type', 'n'] },
  ),
) as fc.Arbitrary<ContainerMessage>;

/** Decode `chunks` in order; the messages, or null when the decoder threw a ProtocolError. */
export function decodeChunks(chunks: readonly Buffer[]): ContainerMessage[] | null {
  const decoder = new FrameDecoder();
  const out: ContainerMessage[] = [];
  const ok = decodeOrThrow('FrameDecoder.push', [ProtocolError], () => {
    for (const chunk of chunks) decoder.push(chunk, (m) => out.push(m));
    return true;
  });
  for (const m of out) check(typeof m.t === 'string', 'every decoded message has a string t');
  return ok === null ? null : out;
}

const roundTrip = syncProperty(
  'frame_round_trip',
  'rpc_frames',
  4,
  fc.array(containerMessage, { minLength: 1, maxLength: 5 }).chain((msgs) => {
    const bytes = Buffer.concat(msgs.map((m) => encodeFrame(m)));
    return fc.tuple(fc.constant(msgs), fc.constant(bytes), splitPoints(bytes.length));
  }),
  ([msgs, bytes, points]) => {
    const whole = decodeChunks([bytes]);
    const split = decodeChunks(splitAt(bytes, points));
    check(whole !== null && whole.length === msgs.length, `${msgs.length} frames decode to as many messages`);
    check(isDeepStrictEqual(split, whole), 'frames split anywhere decode to the same messages');
  },
);

/** Bytes a broken or hostile peer sends: damaged frames, lying lengths, non-map bodies, noise. */
const hostileBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.oneof(msgpackValue, jsonValue), fc.nat(0xffffffff), fc.boolean()).map(([v, len, lie]) => {
    const body = packr.pack(v);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(lie ? len : body.length, 0);
    return Buffer.concat([head, body]);
  }),
  fc.tuple(containerMessage, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([m, at, byte]) => {
    const frame = Buffer.from(encodeFrame(m));
    frame[at % frame.length] = byte;
    return frame;
  }),
);

const arbitraryBytes = syncProperty(
  'frame_hostile_bytes',
  'rpc_frames',
  4,
  fc.array(hostileBytes, { minLength: 1, maxLength: 4 }).chain((parts) => {
    const bytes = Buffer.concat(parts);
    return fc.tuple(fc.constant(bytes), splitPoints(bytes.length));
  }),
  ([bytes, points]) => {
    decodeChunks(splitAt(bytes, points));
  },
);

const echo = (inputs: unknown[]): unknown[] => inputs.map((x) => (x instanceof Uint8Array ? x.length : x));

/** The runner's side of a predict frame: any batch is answered (outputs) or refused (an Error), never thrown past. */
const runnerInputs = asyncProperty('runner_predict_frame', 'node_runner', 2, containerMessage, async (msg) => {
  if (msg.t !== 'predict') return;
  const batch = msg as unknown as WireBatch;
  let outcome: unknown[] | Error;
  try {
    outcome = await runPredict(echo as never, batch);
  } catch (err) {
    outcome = err as Error;
  }
  if (outcome instanceof Error) {
    check(outcome.message !== '', 'a refused batch says why');
    return;
  }
  check(Array.isArray(outcome) && outcome.length === decodeInputs(batch).length, 'one output per input');
});

export const kProtocolProperties: readonly FuzzProperty[] = [roundTrip, arbitraryBytes, runnerInputs];
