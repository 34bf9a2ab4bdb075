// lib/align.ts: the record placement rule shared by the rings and the prediction cache's log.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { align8, kWrapMarker, wrapPadBytes } from '../../src/lib/align.js';

test('align8 rounds up to a multiple of 8', () => {
  assert.deepEqual([0, 1, 7, 8, 9, 15, 16, 1023].map(align8), [0, 8, 8, 8, 16, 16, 16, 1024]);
  assert.equal(align8(2 ** 30 + 1), 2 ** 30 + 8);
});

test('a record that would cross the end of the log is padded to offset 0', () => {
  assert.equal(wrapPadBytes(0, 64, 1024), 0);
  assert.equal(wrapPadBytes(960, 64, 1024), 0, 'ends exactly at the end: fits');
  assert.equal(wrapPadBytes(968, 64, 1024), 56, 'the rest of the log is skipped');
  assert.equal(wrapPadBytes(1016, 16, 1024), 8);
  // The marker is a length no record can have (records are at most half the log of at most 2^31 bytes).
  assert.equal(kWrapMarker, 0xffffffff);
});
