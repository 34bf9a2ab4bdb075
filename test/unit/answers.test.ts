// The wire encodings of answers, alone: Clipper's JSON object (HTTP bodies, stream text frames),
// the msgpack map of binary stream frames, feedback answers and stream error frames. The strings are
// exact: clients (and Clipper's own) parse them, and the key order is part of what they see.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unpack } from 'msgpackr';
import { ClipperError } from '../../src/errors.js';
import { answerJson, answerMap, extraJson, feedbackJson, feedbackMap } from '../../src/frontend/answers.js';
import {
  answerFrame,
  batchFrame,
  batchPart,
  decodeMessage,
  errorFrame,
  feedbackFrame,
  idOpenOf,
} from '../../src/frontend/stream_frames.js';
import type { Answer, AnswerExtra } from '../../src/query/answer.js';

function answer(fields: Partial<Answer> = {}): Answer {
  return { queryId: 3, outputJson: '{"y":[1,2]}', isDefault: false, explanation: null, shed: false, extra: null, ...fields };
}

const kDefault = answer({ outputJson: '"dflt"', isDefault: true, explanation: 'why "not"' });

test('answerJson: a model answer, a default with and without explanation, Clipper key order', () => {
  assert.equal(answerJson(answer()), '{"query_id":3,"output":{"y":[1,2]},"default":false}');
  assert.equal(answerJson(kDefault), '{"query_id":3,"output":"dflt","default":true,"default_explanation":"why \\"not\\""}');
  assert.equal(answerJson(answer({ outputJson: '0', isDefault: true })), '{"query_id":3,"output":0,"default":true}');
  assert.deepEqual(JSON.parse(answerJson(kDefault)), { query_id: 3, output: 'dflt', default: true, default_explanation: 'why "not"' });
});

test("answerJson: extra fields come after Clipper's keys; `open` puts the stream id first", () => {
  const one: AnswerExtra = { models: ['m1'] };
  const combined: AnswerExtra = { models: ['a', 'b'], confidence: 0.75 };
  assert.equal(answerJson(answer({ extra: one })), '{"query_id":3,"output":{"y":[1,2]},"default":false,"models":["m1"]}');
  assert.equal(
    answerJson(answer({ ...kDefault, extra: combined })),
    '{"query_id":3,"output":"dflt","default":true,"default_explanation":"why \\"not\\"","models":["a","b"],"confidence":0.75}',
  );
  assert.equal(answerJson(answer(), '{"id":"q1",'), '{"id":"q1","query_id":3,"output":{"y":[1,2]},"default":false}');
});

test('extraJson is computed once per AnswerExtra object without confidence (one per model)', () => {
  let reads = 0;
  const extra: AnswerExtra = {
    get models() {
      reads++;
      return ['m'];
    },
  };
  const first = extraJson(extra);
  assert.equal(first, ',"models":["m"]');
  assert.equal(extraJson(extra), first);
  assert.equal(answerJson(answer({ extra })), '{"query_id":3,"output":{"y":[1,2]},"default":false,"models":["m"]}');
  assert.equal(reads, 1, 'the models list is stringified once');
  assert.notEqual(extraJson({ models: ['other'] }), first, 'another object gets its own encoding');
});

test('extraJson: an Exp4 extra (confidence, built per query) is encoded each time, not memoized', () => {
  let reads = 0;
  const extra: AnswerExtra = {
    get models() {
      reads++;
      return ['a', 'b'];
    },
    confidence: 0.25,
  };
  assert.equal(extraJson(extra), ',"models":["a","b"],"confidence":0.25');
  assert.equal(extraJson(extra), ',"models":["a","b"],"confidence":0.25');
  assert.equal(reads, 2, 'no memo entry is kept for a string used once');
});

test('answerMap: the same fields as a map, the id first when given, output parsed', () => {
  const map = answerMap(answer({ ...kDefault, extra: { models: ['a'], confidence: 0.5 } }), 'q');
  assert.deepEqual(Object.keys(map), ['id', 'query_id', 'output', 'default', 'default_explanation', 'models', 'confidence']);
  assert.deepEqual(map, {
    id: 'q',
    query_id: 3,
    output: 'dflt',
    default: true,
    default_explanation: 'why "not"',
    models: ['a'],
    confidence: 0.5,
  });
  assert.deepEqual(answerMap(answer(), undefined), { query_id: 3, output: { y: [1, 2] }, default: false });
  const noWhy = answerMap(answer({ isDefault: true, explanation: null }), 1);
  assert.equal('default_explanation' in noWhy, false);
});

test('feedback answers: acknowledged only, or with the scored models and their losses', () => {
  const ack = { queryId: 9, models: [], losses: [] };
  const learned = { queryId: 9, models: ['a', 'b'], losses: [0.5, null] };
  assert.equal(feedbackJson(ack), '{"query_id":9,"feedback_received":true}');
  assert.equal(feedbackJson(learned, '{"id":2,'), '{"id":2,"query_id":9,"feedback_received":true,"models":["a","b"],"losses":[0.5,null]}');
  assert.deepEqual(feedbackMap(ack, undefined), { query_id: 9, feedback_received: true });
  assert.deepEqual(feedbackMap(learned, 'x'), { id: 'x', query_id: 9, feedback_received: true, models: ['a', 'b'], losses: [0.5, null] });
});

test('stream frames: single and batch answers in text and msgpack', () => {
  assert.equal(idOpenOf(7), '{"id":7,');
  assert.equal(idOpenOf('a"b'), '{"id":"a\\"b",');
  assert.equal(answerFrame(answer(), 7, idOpenOf(7), false), '{"id":7,"query_id":3,"output":{"y":[1,2]},"default":false}');
  const binary = answerFrame(answer(), 7, '', true);
  assert.ok(binary instanceof Uint8Array);
  assert.deepEqual(unpack(binary), { id: 7, query_id: 3, output: { y: [1, 2] }, default: false });
  const text = batchFrame('b', idOpenOf('b'), [batchPart(answer(), false), batchPart(kDefault, false)], false);
  assert.deepEqual(JSON.parse(text as string), {
    id: 'b',
    batch_predictions: [
      { query_id: 3, output: { y: [1, 2] }, default: false },
      { query_id: 3, output: 'dflt', default: true, default_explanation: 'why "not"' },
    ],
  });
  assert.equal(batchFrame(1, idOpenOf(1), [], false), '{"id":1,"batch_predictions":[]}');
  assert.deepEqual(unpack(batchFrame(1, '', [batchPart(answer(), true)], true) as Uint8Array), {
    id: 1,
    batch_predictions: [{ query_id: 3, output: { y: [1, 2] }, default: false }],
  });
  assert.equal(feedbackFrame({ queryId: 1, models: [], losses: [] }, 'f', false), '{"id":"f","query_id":1,"feedback_received":true}');
});

test('stream frames: messages decode to a map with a valid id, or a coded error', () => {
  const text = (s: string): ArrayBuffer => new Uint8Array(Buffer.from(s)).buffer;
  assert.deepEqual(decodeMessage(text('{"id":1,"input":[1]}'), false), { id: 1, input: [1] });
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof ClipperError);
      return err.code;
    }
    return 'none';
  };
  assert.equal(
    codeOf(() => decodeMessage(text('{"id":'), false)),
    'CLP_ERR_JSON_PARSE',
  );
  assert.equal(
    codeOf(() => decodeMessage(text('[1]'), false)),
    'CLP_ERR_JSON_SCHEMA',
  );
  assert.equal(
    codeOf(() => decodeMessage(text('{"input":[1]}'), false)),
    'CLP_ERR_JSON_SCHEMA',
  );
  assert.equal(
    codeOf(() => decodeMessage(text('{"id":true}'), false)),
    'CLP_ERR_JSON_SCHEMA',
  );
});

test("stream error frames carry Clipper's error body, the id first when known", () => {
  const err = new ClipperError('CLP_ERR_APP_NOT_FOUND', "no application named 'x'");
  const withId = JSON.parse(errorFrame('q', false, err) as string) as Record<string, unknown>;
  assert.equal(Object.keys(withId)[0], 'id');
  assert.equal(withId.id, 'q');
  assert.equal(withId.code, 'CLP_ERR_APP_NOT_FOUND');
  assert.equal(
    errorFrame(7, false, err),
    '{"id":7,"error":"Application not found","cause":"no application named \'x\'","code":"CLP_ERR_APP_NOT_FOUND"}',
  );
  assert.equal(errorFrame('a"b', false, err), `{"id":"a\\"b",${(errorFrame(undefined, false, err) as string).slice(1)}`);
  const noId = JSON.parse(errorFrame(undefined, false, err) as string) as Record<string, unknown>;
  assert.equal('id' in noId, false);
  const packed = unpack(errorFrame(5, true, new Error('boom')) as Uint8Array) as Record<string, unknown>;
  assert.equal(packed.id, 5);
  assert.equal(packed.code, 'CLP_ERR_INTERNAL');
  assert.match(String(packed.cause), /boom/);
});
