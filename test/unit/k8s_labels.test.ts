// Names and label values the Kubernetes objects of a cluster get (src/containers/kubernetes/labels.ts):
// valid as the API server checks them, unchanged when already valid, and distinct for distinct inputs
// when they had to change.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  deploymentNameOf,
  dnsName,
  labelValue,
  modelSelectorLabels,
  replicaSelectorOf,
  selectorOf,
} from '../../src/containers/kubernetes/labels.js';

const kDnsLabel = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const kLabelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

test('valid names and values are kept as they are', () => {
  assert.equal(dnsName('clipper', 'default', 'sum-model', '1'), 'clipper-default-sum-model-1');
  assert.equal(deploymentNameOf('prod', 'resnet', '7'), 'clipper-prod-resnet-7');
  assert.equal(labelValue('v1.0_rc-2'), 'v1.0_rc-2');
  assert.equal(labelValue(''), '');
});

test('a name that must change is lower-cased, cleaned, shortened and given a hash suffix', () => {
  const name = dnsName('clipper', 'default', 'm', 'V1.0');
  assert.match(name, /^clipper-default-m-v1-0-[0-9a-f]{8}$/);
  assert.notEqual(dnsName('clipper', 'default', 'm', 'v1.0'), dnsName('clipper', 'default', 'm', 'v1-0'));
  const long = dnsName('clipper', 'default', 'a'.repeat(80), '1');
  assert.equal(long.length, 63);
  assert.match(long, kDnsLabel);
  // The parts are hashed, not the joined text: ('a-b', 'c') and ('a', 'b-c') stay apart when both change.
  assert.notEqual(dnsName('X', 'a-b', 'c'), dnsName('X', 'a', 'b-c'));
});

test('a label value that must change keeps to the rules and gets a hash suffix', () => {
  const value = labelValue('-model/with spaces-');
  assert.match(value, kLabelValue);
  assert.match(value, /^model-with-spaces-[0-9a-f]{8}$/);
  assert.equal(labelValue('x'.repeat(100)).length, 63);
  assert.match(labelValue('///'), /^[0-9a-f]{8}$/);
});

test('every string gives a valid DNS label and label value (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 90 }), { minLength: 1, maxLength: 4 }), (parts) => {
      const name = dnsName(...parts);
      assert.ok(name.length <= 63 && kDnsLabel.test(name), name);
      const value = labelValue(parts.join(''));
      assert.ok(value.length <= 63 && kLabelValue.test(value), value);
    }),
  );
});

test('selectors', () => {
  assert.equal(replicaSelectorOf('prod'), 'clipper.ai/cluster=prod,app.kubernetes.io/component=model-replica');
  assert.equal(
    selectorOf(modelSelectorLabels('prod', 'm', '1')),
    'clipper.ai/cluster=prod,app.kubernetes.io/component=model-replica,clipper.ai/model=m,clipper.ai/version=1',
  );
});
