// Option validation (src/lib/options.ts): one error type, messages that name the option, and
// `details.option` for callers that add where a value came from.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import { OptionChecks, withDefaults } from '../../src/lib/options.js';

const checks = new OptionChecks('demo');

function refusal(fn: () => void): ClipperError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ClipperError, `expected a ClipperError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

test('a refusal is a ClipperError CLP_ERR_INVALID_ARG naming scope, option, rule and value', () => {
  const err = refusal(() => checks.int('threads', 0, 1, 8));
  assert.equal(err.code, 'CLP_ERR_INVALID_ARG');
  assert.equal(err.status, 400);
  assert.equal(err.message, 'demo.threads must be an integer in [1, 8] (got 0)');
  assert.deepEqual(err.details, { option: 'threads' });
  assert.equal(refusal(() => checks.int('n', undefined, 1)).message, 'demo.n must be an integer >= 1 (got nothing)');
});

test('int accepts integers in range and refuses fractions, strings and out-of-range values', () => {
  checks.int('n', 1, 1, 8);
  checks.int('n', 8, 1, 8);
  checks.int('n', 1e9, 1);
  for (const bad of [0, 9, 1.5, '3', Number.NaN, null]) refusal(() => checks.int('n', bad, 1, 8));
});

test('number honours which ends of the range are included', () => {
  checks.number('f', 0, 0, 1);
  checks.number('f', 1, 0, 1, '(]');
  checks.number('f', 0.5, 0, 1, '()');
  assert.match(refusal(() => checks.number('f', 0, 0, 1, '(]')).message, /demo\.f must be a number in \(0, 1\] \(got 0\)/);
  assert.match(refusal(() => checks.number('f', 1, 0, 1, '()')).message, /in \(0, 1\)/);
  assert.match(refusal(() => checks.number('f', 0, 0, Number.POSITIVE_INFINITY, '()')).message, /must be a number > 0/);
  assert.match(refusal(() => checks.number('f', -1, 0)).message, /must be a number >= 0/);
  refusal(() => checks.number('f', Number.NaN, 0));
  // no upper bound: Infinity passes ("never"), and a refusal shows non-finite values as they are
  checks.number('f', Number.POSITIVE_INFINITY, 0, Number.POSITIVE_INFINITY, '()');
  assert.match(refusal(() => checks.number('f', Number.NaN, 0)).message, /\(got NaN\)/);
  assert.match(refusal(() => checks.number('f', Number.POSITIVE_INFINITY, 0, 10)).message, /\(got Infinity\)/);
});

test('oneOf lists the allowed values', () => {
  checks.oneOf('mode', 'b', ['a', 'b']);
  assert.match(refusal(() => checks.oneOf('mode', 'c', ['a', 'b', 'c2'])).message, /demo\.mode must be 'a', 'b' or 'c2' \(got "c"\)/);
});

test('withDefaults overlays defined overrides and refuses unknown keys', () => {
  const defaults: Readonly<{ a: number; b: string }> = Object.freeze({ a: 1, b: 'x' });
  assert.deepEqual(withDefaults(checks, defaults, { a: 2, b: undefined }), { a: 2, b: 'x' });
  assert.match(refusal(() => withDefaults(checks, defaults, { c: 1 } as never)).message, /demo\.c is not a known option/);
});
