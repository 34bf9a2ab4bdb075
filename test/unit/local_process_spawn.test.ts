// A replica whose program cannot be spawned at all (no 'exit' event, only 'error') fails the
// deploy with the reason and leaves nothing behind. CLIPPER_PYTHON is read when the module loads,
// so it is set before the dynamic import (each test file runs in its own process).
import assert from 'node:assert/strict';
import { test } from 'node:test';

test('a runtime that cannot be spawned fails the deploy and leaves no replica behind', async () => {
  process.env.CLIPPER_PYTHON = '/nonexistent/python3';
  const { LocalProcessManager } = await import('../../src/containers/local_process.js');
  const events: string[] = [];
  const manager = new LocalProcessManager({
    onReplicaStarted: () => events.push('started'),
    onReplicaStopped: () => events.push('stopped'),
  });
  const model = {
    model_name: 'py',
    model_version: '1',
    input_type: 'doubles' as const,
    labels: [],
    container_name: 't',
    model_data_path: 'x',
    batch_size: -1,
    num_replicas: 1,
    container: { runtime: 'python' as const, entry: 'model.py' },
  };
  await assert.rejects(manager.ensure(model), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'CLP_ERR_DEPLOY_FAILED');
    assert.match(err.message, /could not be spawned: .*ENOENT/);
    return true;
  });
  assert.deepEqual(manager.list(), []);
  // A second ensure tries again instead of counting a phantom replica as running.
  await assert.rejects(manager.ensure(model), /could not be spawned/);
  assert.deepEqual(events, []);
  await manager.close();
});
