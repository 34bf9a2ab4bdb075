import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import { parsePredictRequest } from '../../src/frontend/predict_request.js';

const parse = (body: string, type: Parameters<typeof parsePredictRequest>[1]) => parsePredictRequest(Buffer.from(body), type, 10_000_000);

function assertCode(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

test('doubles accept integer literals (Clipper rejected them) and decimals', () => {
  const r = parse('{"input":[1,2.5,-3e2]}', 'doubles');
  assert.deepEqual(r.inputs, [[1, 2.5, -300]]);
  assert.equal(r.batch, false);
});

test('input_batch gives a batch even of length 1, and empty batches are allowed', () => {
  assert.equal(parse('{"input_batch":[[1]]}', 'doubles').batch, true);
  assert.deepEqual(parse('{"input_batch":[]}', 'doubles').inputs, []);
});

test('integers must be 32-bit integers', () => {
  assert.deepEqual(parse('{"input":[1,-2147483648]}', 'integers').inputs, [[1, -2147483648]]);
  // A wrong input value is "Invalid input" (the same 400 on every path: numeric_rule.ts); a wrong body is "Error parsing JSON".
  assertCode(
    () => parse('{"input":[1.5]}', 'integers'),
    'CLP_ERR_JSON_SCHEMA',
    /^Invalid input: input\[0\] must be a 32-bit integer \(the application takes integers\), got the number 1\.5$/,
  );
  assertCode(() => parse('{"input":[2147483648]}', 'integers'), 'CLP_ERR_JSON_SCHEMA', /32-bit/);
});

test('floats must fit float32', () => {
  assertCode(() => parse('{"input":[1e39]}', 'floats'), 'CLP_ERR_JSON_SCHEMA', /float32/);
});

test('strings and base64 bytes', () => {
  assert.deepEqual(parse('{"input":"héllo"}', 'strings').inputs, ['héllo']);
  const r = parse('{"input_batch":["AQID","/w=="]}', 'bytes');
  assert.deepEqual(
    r.inputs.map((b) => [...(b as Buffer)]),
    [[1, 2, 3], [255]],
  );
  assertCode(() => parse('{"input":"not base64!"}', 'bytes'), 'CLP_ERR_JSON_SCHEMA', /not valid base64/);
  assertCode(() => parse('{"input":[1]}', 'strings'), 'CLP_ERR_JSON_SCHEMA', /must be a string/);
});

test('malformed JSON, missing input, wrong shapes name the problem', () => {
  assertCode(() => parse('{"input":[1', 'doubles'), 'CLP_ERR_JSON_PARSE', /Error parsing JSON/);
  assertCode(() => parse('[1,2]', 'doubles'), 'CLP_ERR_JSON_SCHEMA', /JSON object/);
  assertCode(() => parse('{}', 'doubles'), 'CLP_ERR_JSON_SCHEMA', /^Error parsing JSON: the body has neither "input" nor "input_batch"/);
  assertCode(() => parse('{"input":"x"}', 'doubles'), 'CLP_ERR_JSON_SCHEMA', /must be an array of doubles/);
  assertCode(() => parse('{"input_batch":[[1],["a"]]}', 'doubles'), 'CLP_ERR_JSON_SCHEMA', /input_batch\[1\]\[0\]/);
  assertCode(() => parse('{"input_batch":{}}', 'doubles'), 'CLP_ERR_JSON_SCHEMA', /input_batch must be an array/);
});

test('version, slo_micros and uid are validated', () => {
  const r = parse('{"input":[1],"version":"2","slo_micros":5000,"uid":7}', 'doubles');
  assert.equal(r.version, '2');
  assert.equal(r.sloMicros, 5000);
  assert.equal(r.uid, '7');
  assertCode(() => parse('{"input":[1],"version":2}', 'doubles'), 'CLP_ERR_JSON_SCHEMA', /version must be a non-empty string/);
  assertCode(() => parse('{"input":[1],"slo_micros":0}', 'doubles'), 'CLP_ERR_JSON_SCHEMA', /slo_micros/);
  assertCode(() => parse('{"input":[1],"slo_micros":20000000}', 'doubles'), 'CLP_ERR_JSON_SCHEMA', /slo_micros/);
});
