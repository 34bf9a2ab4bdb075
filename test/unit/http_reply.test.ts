// The HTTP edge's pure parts: error → reply (src/http/reply.ts, the one mapping) and JSON body
// parsing (src/http/http_util.ts), shared by the query and admin servers.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import { parseJsonBody, parseJsonObject } from '../../src/http/http_util.js';
import { errorReply, jsonReply, textReply } from '../../src/http/reply.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ClipperError);
    return err.code;
  }
  assert.fail('expected a ClipperError');
}

test('a ClipperError keeps its status, and the body names the error, the cause and the code', () => {
  const reply = errorReply(new ClipperError('CLP_ERR_APP_NOT_FOUND', "no application named 'x'"));
  assert.equal(reply.status, 404);
  assert.equal(reply.contentType, 'application/json');
  assert.deepEqual(JSON.parse(reply.body), {
    error: 'Application not found',
    cause: "no application named 'x'",
    code: 'CLP_ERR_APP_NOT_FOUND',
  });
  assert.equal(reply.headers, undefined);
});

test('anything else is a 500 CLP_ERR_INTERNAL that quotes it', () => {
  const reply = errorReply(new TypeError('boom'));
  assert.equal(reply.status, 500);
  assert.match(JSON.parse(reply.body).cause, /unexpected error: boom/);
  assert.equal(errorReply('text').status, 500);
});

test('overload and shedding say when to retry; a wrong method says which are allowed', () => {
  assert.deepEqual(errorReply(new ClipperError('CLP_ERR_SHED', 'busy', { retryAfterS: 3 })).headers, { 'Retry-After': '3' });
  assert.deepEqual(errorReply(new ClipperError('CLP_ERR_OVERLOADED', 'busy')).headers, { 'Retry-After': '1' });
  const wrong = errorReply(new ClipperError('CLP_ERR_METHOD_NOT_ALLOWED', 'use POST', { allow: 'POST' }));
  assert.equal(wrong.status, 405);
  assert.deepEqual(wrong.headers, { Allow: 'POST' });
});

test('json and text replies', () => {
  assert.deepEqual(jsonReply({ a: 1 }), { status: 200, contentType: 'application/json', body: '{"a":1}' });
  assert.equal(textReply('PONG').contentType, 'text/plain; charset=utf-8');
});

test('JSON bodies: any value parses; empty and malformed bodies are 400s that say why', () => {
  assert.deepEqual(parseJsonBody(Buffer.from('[1,2]')), [1, 2]);
  assert.equal(
    codeOf(() => parseJsonBody(Buffer.from('{"a":'))),
    'CLP_ERR_JSON_PARSE',
  );
  assert.throws(() => parseJsonBody(Buffer.from('  \n')), /the request body is empty/);
  assert.deepEqual(parseJsonObject(Buffer.from('{"input":[1]}')), { input: [1] });
  assert.equal(
    codeOf(() => parseJsonObject(Buffer.from('[1]'))),
    'CLP_ERR_JSON_SCHEMA',
  );
  assert.equal(
    codeOf(() => parseJsonObject(Buffer.from('null'))),
    'CLP_ERR_JSON_SCHEMA',
  );
});
