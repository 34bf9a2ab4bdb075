// What counts as an error in `clipper bench`, and the message of a run without a successful answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeErrors, noSuccessMessage, summarizeFailures, totalFailures, type TargetDescription } from '../../tools/loadgen/summary.js';

const target = (extra: Partial<TargetDescription> = {}): TargetDescription => ({
  label: '127.0.0.1:1337',
  app: 'x',
  shape: 'clipper',
  url: 'http://127.0.0.1:1337/',
  ...extra,
});

test('summarizeFailures: non-2xx answers, default outputs and transport errors are all errors', () => {
  const s = summarizeFailures({
    responses: 100,
    defaults: 10,
    statusCounts: new Map([
      [200, 80],
      [404, 15],
      [503, 5],
    ]),
    transportErrors: new Map([
      ['ECONNRESET', 2],
      ['timeout', 3],
    ]),
  });
  assert.equal(s.requestCount, 105);
  assert.equal(s.okCount, 70);
  assert.equal(s.errorCount, 35);
  assert.equal(s.errorShare, 35 / 105);
  assert.deepEqual(s.errors, { 'HTTP 404': 15, 'HTTP 503': 5, 'default output': 10, ECONNRESET: 2, timeout: 3 });
  assert.equal(describeErrors(s.errors), '15 HTTP 404, 10 default output, 5 HTTP 503, 3 timeout, 2 ECONNRESET');
  const none = summarizeFailures({ responses: 0, defaults: 0, statusCounts: new Map(), transportErrors: new Map() });
  assert.deepEqual(none, { requestCount: 0, okCount: 0, errorCount: 0, errorShare: 0, errors: {} });
});

test('totalFailures adds up the levels of a sweep', () => {
  const t = totalFailures([
    { okCount: 0, errorCount: 5000, errors: { 'HTTP 404': 5000 } },
    { okCount: 0, errorCount: 231, errors: { 'HTTP 404': 231 } },
  ]);
  assert.deepEqual(t, { requestCount: 5231, okCount: 0, errorCount: 5231, errorShare: 1, errors: { 'HTTP 404': 5231 } });
});

test('noSuccessMessage names what came back and what to check', () => {
  const all404 = totalFailures([{ okCount: 0, errorCount: 5231, errors: { 'HTTP 404': 5231 } }]);
  assert.equal(noSuccessMessage(all404, target()), "[127.0.0.1:1337] all 5231 answers were HTTP 404: is app 'x' registered?");
  assert.equal(noSuccessMessage(all404, target({ shape: 'v2' })), "[127.0.0.1:1337] all 5231 answers were HTTP 404: is model 'x' loaded?");
  assert.match(noSuccessMessage(all404, target({ app: null, url: 'http://h:1/p' }))!, /is http:\/\/h:1\/p the right URL\?$/);
  const defaults = totalFailures([{ okCount: 0, errorCount: 40, errors: { 'default output': 40 } }]);
  assert.match(
    noSuccessMessage(defaults, target())!,
    /^\[127\.0\.0\.1:1337\] all 40 answers were default outputs: does app 'x' have a linked model/,
  );
  const refused = totalFailures([{ okCount: 0, errorCount: 7, errors: { ECONNREFUSED: 7 } }]);
  assert.equal(
    noSuccessMessage(refused, target()),
    '[127.0.0.1:1337] all 7 requests failed with ECONNREFUSED: is a server listening at http://127.0.0.1:1337/?',
  );
  const mixed = totalFailures([{ okCount: 0, errorCount: 12, errors: { 'HTTP 500': 10, 'default output': 2 } }]);
  assert.match(noSuccessMessage(mixed, target())!, /no successful answer in 12 requests \(10 HTTP 500, 2 default output\)/);
  assert.match(noSuccessMessage(totalFailures([]), target())!, /no request was answered or failed/);
  assert.equal(noSuccessMessage(totalFailures([{ okCount: 1, errorCount: 99, errors: { 'HTTP 404': 99 } }]), target()), null);
});
