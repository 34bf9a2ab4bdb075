// The runner's ready line (containers/PROTOCOL.md), read the same way by the local-process and
// Docker managers.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasReadyLine, readyPort } from '../../src/containers/container_manager.js';

test('readyPort reads the port of a ready line and nothing else', () => {
  assert.equal(readyPort('{"clipper_ready":true,"port":7000,"pid":12}'), 7000);
  assert.equal(readyPort('{"clipper_ready": true, "port": 41234}'), 41234, 'spaces, as Python json.dumps writes them');
  assert.equal(readyPort('{"clipper_ready":false,"port":7000}'), null);
  assert.equal(readyPort('{"clipper_ready":true}'), null, 'no port');
  assert.equal(readyPort('{"clipper_ready":true,"port":"7000"}'), null, 'a port that is not a number');
  assert.equal(readyPort('loading model {"clipper_ready":true,"port":1}'), null, 'the line must be the JSON object');
  assert.equal(readyPort('{not json'), null);
});

test('hasReadyLine finds a ready line among a log text', () => {
  assert.equal(hasReadyLine('starting\n{"clipper_ready":true,"port":7000}\r\nserving\n'), true);
  assert.equal(hasReadyLine('starting\nprint("clipper_ready":true)\n'), false);
  assert.equal(hasReadyLine(''), false);
});
