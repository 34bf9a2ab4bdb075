// The Node/V8 flags `clipper start` serves with, and when it does not re-execute itself to add them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasServingNodeFlags, servingNodeFlags } from '../../src/cli/node_flags.js';

test('V8 background threads: cores - 1, between 1 and 4; a 4 MiB semi-space', () => {
  assert.deepEqual(servingNodeFlags(2), ['--max-semi-space-size=4', '--v8-pool-size=1']);
  assert.deepEqual(servingNodeFlags(1), ['--max-semi-space-size=4', '--v8-pool-size=1']);
  assert.deepEqual(servingNodeFlags(4), ['--max-semi-space-size=4', '--v8-pool-size=3']);
  assert.deepEqual(servingNodeFlags(64), ['--max-semi-space-size=4', '--v8-pool-size=4']);
});

test('flags the user chose (command line or NODE_OPTIONS) or CLIPPER_NODE_FLAGS=off are respected', () => {
  assert.equal(hasServingNodeFlags([], {}), false);
  assert.equal(hasServingNodeFlags(['--max-semi-space-size=4', '--v8-pool-size=1'], {}), true);
  assert.equal(hasServingNodeFlags([], { NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=32' }), true);
  assert.equal(hasServingNodeFlags([], { NODE_OPTIONS: '--enable-source-maps' }), false);
  assert.equal(hasServingNodeFlags([], { CLIPPER_NODE_FLAGS: 'off' }), true);
});
