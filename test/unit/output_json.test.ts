import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outputToJson } from '../../src/batching/output_json.js';

test("strings that are JSON are nested, others are quoted (Clipper's rule)", () => {
  assert.equal(outputToJson('6.6'), '6.6');
  assert.equal(outputToJson('1.0'), '1.0');
  assert.equal(outputToJson('{"a":1}'), '{"a":1}');
  assert.equal(outputToJson('cat'), '"cat"');
  assert.equal(outputToJson(''), '""');
  assert.equal(outputToJson('-1.0'), '-1.0');
  assert.equal(outputToJson('nul'), '"nul"');
});

test('numbers, booleans, null, arrays, maps, bytes', () => {
  assert.equal(outputToJson(6.6), '6.6');
  assert.equal(outputToJson(NaN), '"NaN"');
  assert.equal(outputToJson(true), 'true');
  assert.equal(outputToJson(null), 'null');
  assert.equal(outputToJson([1, 'a']), '[1,"a"]');
  assert.equal(outputToJson({ k: [1] }), '{"k":[1]}');
  assert.equal(outputToJson(Buffer.from([1, 2, 3])), '"AQID"');
  assert.equal(outputToJson(10n), '10');
  assert.equal(outputToJson({ b: Buffer.from([1, 2, 3]), n: [1n] }), '{"b":"AQID","n":[1]}', 'nested bytes and bigints');
});
