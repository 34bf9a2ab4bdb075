// add_model's container spec for "manager": "kubernetes" (src/admin/admin_validate.ts): an image or
// the cluster's registry, limits allowed, the fields that build an image or say how it runs refused
// with what to do.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkContainerSpec } from '../../src/admin/admin_validate.js';
import { ClipperError } from '../../src/errors.js';
import { readModelRecord } from '../../src/state/record_check.js';

test('a Kubernetes spec: an image or nothing (the registry image), with limits', () => {
  assert.deepEqual(checkContainerSpec({ manager: 'kubernetes', image: 'registry.example.com:5000/sum:1', cpus: 0.5, memory_mb: 256 }), {
    manager: 'kubernetes',
    image: 'registry.example.com:5000/sum:1',
    cpus: 0.5,
    memory_mb: 256,
  });
  assert.deepEqual(checkContainerSpec({ manager: 'kubernetes' }), { manager: 'kubernetes' });
  // A cluster whose default is Kubernetes treats a spec without a manager the same way.
  assert.deepEqual(checkContainerSpec({ image: 'sum:1' }, 'kubernetes'), { image: 'sum:1' });
  assert.deepEqual(checkContainerSpec({ image: 'sum:1' }, 'docker'), { image: 'sum:1' });
});

test('fields that build an image or say how it runs are refused for Kubernetes, saying to build and push first', () => {
  for (const field of [{ folder: '/m' }, { pkgs_to_install: ['python3-six'], runtime: 'python', entry: 'm.py' }]) {
    assert.throws(
      () => checkContainerSpec({ manager: 'kubernetes', ...field }),
      (err: unknown) =>
        err instanceof ClipperError &&
        err.code === 'CLP_ERR_INVALID_ARG' &&
        /builds an image, which "manager": "kubernetes" does not: build and push it first with `clipper build --registry HOST:PORT/.test(
          err.message,
        ),
    );
  }
  // How the model runs is the image's to say: its pods run it as built, with no arguments.
  for (const field of [
    { runtime: 'node' },
    { entry: 'm.js' },
    { function: 'predict' },
    { framework: 'onnx' },
    { options: { threads: 2 } },
    { image: 'r:5000/m:1', entry: 'm.js' },
  ]) {
    assert.throws(
      () => checkContainerSpec({ manager: 'kubernetes', ...field }),
      (err: unknown) =>
        err instanceof ClipperError &&
        err.code === 'CLP_ERR_INVALID_ARG' &&
        err.status === 400 &&
        /container\.(runtime|entry|function|framework|options) says how the model runs, which for "manager": "kubernetes" the image decides/.test(
          err.message,
        ) &&
        /`clipper build --name M --version V --runtime node\|python --entry FILE \[--framework F\] \[--function FN\] --registry HOST:PORT`/.test(
          err.message,
        ),
      JSON.stringify(field),
    );
  }
  // The same on a cluster whose default is Kubernetes.
  assert.throws(() => checkContainerSpec({ runtime: 'node', entry: 'm.js' }, 'kubernetes'), /container\.runtime says how the model runs/);
  assert.throws(
    () => checkContainerSpec({ manager: 'kubernetes', image: 'Bad Image' }),
    /container.image must be a Docker image reference/,
  );
  assert.throws(() => checkContainerSpec({ runtime: 'node', entry: 'm.js', image: 'x:1' }), /needs "manager": "docker" or "kubernetes"/);
});

test('a stored record with the kubernetes manager reads back', () => {
  const record = {
    model_name: 'm',
    model_version: '1',
    input_type: 'doubles',
    labels: [],
    container_name: 'm:1',
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    container: { manager: 'kubernetes', image: 'r:5000/m:1' },
    num_replicas: 2,
  };
  assert.deepEqual(readModelRecord(record, 'm:1'), record);
  assert.throws(() => readModelRecord({ ...record, container: { manager: 'k8s' } }, 'm:1'), /unknown "manager"/);
});
