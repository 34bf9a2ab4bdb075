// Open Inference Protocol responses (src/frontend/oip/infer_response.ts) and errors
// (oip_errors.ts): each answer's output as one row of the output tensor, in JSON and in the binary
// extension; and what a default answer becomes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import { readBytesElements } from '../../src/frontend/oip/binary_body.js';
import {
  encodeInferResponse,
  outputTensor,
  tensorDataBinary,
  tensorDataJson,
  type ResponseHead,
} from '../../src/frontend/oip/infer_response.js';
import { defaultAnswerError, oipErrorReply } from '../../src/frontend/oip/oip_errors.js';
import type { Answer } from '../../src/query/answer.js';
import {
  explainDefault,
  kExplainDeadlineUnreachable,
  kExplainNoModel,
  kExplainNothingArrived,
  kExplainQueueFull,
  kExplainShutdown,
  kExplainSlo,
  kExplainSloInfeasible,
  isShed,
} from '../../src/query/explanations.js';
import { DefaultReason } from '../../src/ipc/records.js';

const head: ResponseHead = { modelName: 'm', modelVersion: '2', id: 'r1', outputName: 'output0', declared: null, binary: false };

function tensor(texts: string[], declared: ResponseHead['declared'] = null) {
  const t = outputTensor(texts, declared);
  return { datatype: t.datatype, shape: t.shape, data: JSON.parse(tensorDataJson(t)) as unknown };
}

test('numbers per row are FP64 [batch]; arrays are [batch, n]; strings BYTES; booleans BOOL', () => {
  assert.deepEqual(tensor(['6.6', '-1', '3e+21']), { datatype: 'FP64', shape: [3], data: [6.6, -1, 3e21] });
  assert.deepEqual(tensor(['[1,2]', '[3,4]']), { datatype: 'FP64', shape: [2, 2], data: [1, 2, 3, 4] });
  assert.deepEqual(tensor(['[[1],[2]]', '[[3],[4]]']), { datatype: 'FP64', shape: [2, 2, 1], data: [1, 2, 3, 4] });
  assert.deepEqual(tensor(['"a"', '"bé"']), { datatype: 'BYTES', shape: [2], data: ['a', 'bé'] });
  assert.deepEqual(tensor(['["a","b"]', '["c","d"]']), { datatype: 'BYTES', shape: [2, 2], data: ['a', 'b', 'c', 'd'] });
  assert.deepEqual(tensor(['true', 'false']), { datatype: 'BOOL', shape: [2], data: [true, false] });
  assert.deepEqual(tensor([]), { datatype: 'FP64', shape: [0], data: [] });
  assert.deepEqual(tensor(['[]', '[]']), { datatype: 'FP64', shape: [2, 0], data: [] });
});

test('outputs that are no tensor (objects, null, mixed kinds, ragged arrays) are BYTES rows of their JSON text', () => {
  assert.deepEqual(tensor(['{"a":1}', '{"a":2}']), { datatype: 'BYTES', shape: [2], data: ['{"a":1}', '{"a":2}'] });
  assert.deepEqual(tensor(['1', '"x"']), { datatype: 'BYTES', shape: [2], data: ['1', '"x"'] });
  assert.deepEqual(tensor(['[1,2]', '[3]']), { datatype: 'BYTES', shape: [2], data: ['[1,2]', '[3]'] });
  assert.deepEqual(tensor(['[1,"a"]']), { datatype: 'BYTES', shape: [1], data: ['[1,"a"]'] });
  assert.deepEqual(tensor(['null']), { datatype: 'BYTES', shape: [1], data: ['null'] });
});

test('a declared output datatype is used when every value fits it', () => {
  assert.deepEqual(tensor(['1', '2'], 'INT32'), { datatype: 'INT32', shape: [2], data: [1, 2] });
  assert.deepEqual(tensor(['1.5', '2'], 'INT32'), { datatype: 'FP64', shape: [2], data: [1.5, 2] }, 'does not fit: FP64');
  assert.deepEqual(tensor(['[1,2]'], 'FP32'), { datatype: 'FP32', shape: [1, 2], data: [1, 2] });
  assert.deepEqual(tensor(['"a"'], 'FP32'), { datatype: 'BYTES', shape: [1], data: ['a'] });
});

test('binary tensor data: little-endian elements, BOOL one byte, BYTES length-prefixed', () => {
  const fp64 = tensorDataBinary(outputTensor(['6.5', '-1'], null));
  assert.deepEqual([fp64.readDoubleLE(0), fp64.readDoubleLE(8)], [6.5, -1]);
  const int16 = tensorDataBinary(outputTensor(['[1,-2]'], 'INT16'));
  assert.deepEqual([...int16], [1, 0, 0xfe, 0xff]);
  assert.deepEqual([...tensorDataBinary(outputTensor(['true', 'false'], null))], [1, 0]);
  const bytes = tensorDataBinary(outputTensor(['"ab"', '"c"'], null));
  assert.deepEqual(
    readBytesElements(bytes, 2, 'out').map((b) => b.toString()),
    ['ab', 'c'],
  );
});

test('the response: JSON, or a JSON header with binary_data_size followed by the tensor', () => {
  const json = encodeInferResponse(head, ['6.6', '3']);
  assert.equal(json.headerLength, -1);
  assert.deepEqual(JSON.parse(json.body as string), {
    model_name: 'm',
    model_version: '2',
    id: 'r1',
    outputs: [{ name: 'output0', datatype: 'FP64', shape: [2], data: [6.6, 3] }],
  });
  const noVersion = encodeInferResponse({ ...head, modelVersion: null }, ['1']);
  assert.equal('model_version' in JSON.parse(noVersion.body as string), false);
  const bin = encodeInferResponse({ ...head, binary: true }, ['6.5', '3']);
  const body = bin.body as Buffer;
  const header = JSON.parse(body.subarray(0, bin.headerLength).toString());
  assert.deepEqual(header.outputs, [{ name: 'output0', datatype: 'FP64', shape: [2], parameters: { binary_data_size: 16 } }]);
  assert.equal(body.length, bin.headerLength + 16);
  assert.deepEqual([body.readDoubleLE(bin.headerLength), body.readDoubleLE(bin.headerLength + 8)], [6.5, 3]);
});

function answer(explanation: string, shed = false): Answer {
  return { queryId: 1, outputJson: '-1', isDefault: true, explanation, shed, extra: null };
}

test('a default answer is an error: deadline 504, shed 429 with Retry-After, no replica 503, model error 500', () => {
  const status = (a: Answer) => defaultAnswerError(a, 1, 1, 5000).status;
  assert.equal(status(answer(kExplainSlo)), 504);
  assert.equal(status(answer(kExplainDeadlineUnreachable, true)), 504);
  assert.equal(status(answer(kExplainNothingArrived)), 504);
  assert.equal(status(answer(kExplainQueueFull, true)), 429);
  assert.equal(status(answer(kExplainNoModel)), 503);
  assert.equal(status(answer(kExplainShutdown)), 503);
  assert.equal(status(answer(explainDefault(DefaultReason.ReplicaFailed, 'gone'))), 503);
  assert.equal(status(answer(explainDefault(DefaultReason.ModelError, 'ValueError: bad'))), 500);
  assert.equal(status(answer(explainDefault(DefaultReason.QueueFull, ''), true)), 429);
  assert.equal(status(answer(explainDefault(DefaultReason.DeadlineUnreachable, ''), true)), 504);
  const timeout = defaultAnswerError(answer(kExplainSlo), 2, 3, 5000);
  assert.match(timeout.message, /deadline \(5000 microseconds\) passed before the model answered \(2 of the request's 3 rows failed\)/);
  assert.match(timeout.message, /parameters\.timeout/);
  assert.match(
    defaultAnswerError(answer(explainDefault(DefaultReason.ModelError, 'ValueError: bad')), 1, 1, 1).message,
    /the model failed: ValueError: bad/,
  );
});

test("an SLO shorter than the model's latency for one query is not shed: 504 saying the model cannot answer in time", () => {
  assert.equal(explainDefault(DefaultReason.SloInfeasible, ''), kExplainSloInfeasible);
  assert.ok(kExplainSloInfeasible.startsWith(kExplainSlo), "Clipper's SLO explanation, then why");
  assert.equal(isShed(DefaultReason.SloInfeasible), false);
  assert.equal(isShed(DefaultReason.DeadlineUnreachable), true);
  assert.equal(isShed(DefaultReason.QueueFull), true);
  const err = defaultAnswerError(answer(kExplainSloInfeasible), 1, 1, 5000);
  assert.equal(err.status, 504);
  assert.match(err.message, /the model cannot answer within the request's timeout \(5000 microseconds\)/);
  assert.doesNotMatch(err.message, /passed/);
  assert.equal(oipErrorReply(err).headers?.['Retry-After'], undefined);
});

test("the protocol's error body is {error: message}; status and headers come from the registry", () => {
  const shed = oipErrorReply(defaultAnswerError(answer(kExplainQueueFull, true), 1, 1, 1000));
  assert.equal(shed.status, 429);
  assert.equal(shed.headers?.['Retry-After'], '1');
  assert.deepEqual(Object.keys(JSON.parse(shed.body)), ['error']);
  const notFound = oipErrorReply(new ClipperError('CLP_ERR_OIP_MODEL_NOT_FOUND', "no model or application named 'x'"));
  assert.equal(notFound.status, 404);
  assert.deepEqual(JSON.parse(notFound.body), { error: "no model or application named 'x'" });
  assert.equal(oipErrorReply(new ClipperError('CLP_ERR_BODY_TOO_LARGE', 'too big')).status, 413);
  assert.equal(oipErrorReply(new Error('boom')).status, 500);
  assert.equal(oipErrorReply(new ClipperError('CLP_ERR_OIP_TIMEOUT', 't')).status, 504);
});
