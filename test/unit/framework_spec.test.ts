// `container.framework` (src/frameworks.ts) from the admin API to the runner's argv: the framework
// implies the runtime, a disagreeing runtime, an unknown framework, a file the framework cannot load
// and an option of another framework are 400s naming the field; the local manager, the Docker image
// and the store's reader carry it through.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AdminService } from '../../src/admin/admin_service.js';
import { checkContainerSpec } from '../../src/admin/admin_validate.js';
import { commandOf, renderDockerfile, validateContextSpec } from '../../src/containers/docker/model_context.js';
import { runnerCommand } from '../../src/containers/local_process.js';
import { ClipperError } from '../../src/errors.js';
import { checkRuntimeAndFramework, kFrameworkRules, kFrameworks, runtimeOfFramework } from '../../src/frameworks.js';
import { kNodeRunnerPath, kPythonInterpreter, kPythonRunnerPath } from '../../src/paths.js';
import { readModelRecord } from '../../src/state/record_check.js';
import { containerNameOf, type ModelRecord } from '../../src/state/records.js';
import { FakeAdminContext } from '../helpers/fake_admin_context.js';

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.code, 'CLP_ERR_INVALID_ARG');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('checkContainerSpec: container.framework', () => {
  it('implies the runtime, which is stored too; a runtime that agrees is accepted', () => {
    assert.deepEqual(checkContainerSpec({ framework: 'onnx', entry: 'm.onnx' }), { runtime: 'node', framework: 'onnx', entry: 'm.onnx' });
    for (const framework of kFrameworks) assert.equal(runtimeOfFramework(framework), kFrameworkRules[framework].runtime);
    const cases: [string, string, string][] = [
      ['pytorch', 'python', 'net.pt'],
      ['pytorch', 'python', 'bundle.pkl'],
      ['xgboost', 'python', 'booster.json'],
      ['xgboost', 'python', 'booster.UBJ'],
      ['sklearn', 'python', 'clf.pkl'],
      ['python', 'python', 'model.py'],
      ['node', 'node', 'model.mjs'],
      ['onnx', 'node', 'model.onnx'],
    ];
    for (const [framework, runtime, entry] of cases) {
      assert.equal(checkContainerSpec({ framework, entry })?.runtime, runtime, framework);
      assert.equal(checkContainerSpec({ framework, runtime, entry })?.framework, framework, framework);
    }
    // Absent: today's behaviour, no framework stored.
    assert.deepEqual(checkContainerSpec({ runtime: 'python', entry: 'anything.bin' }), { runtime: 'python', entry: 'anything.bin' });
  });

  it('refuses an unknown framework, a runtime that cannot run it, and an image with a framework', () => {
    refused(
      () => checkContainerSpec({ framework: 'tensorflow', entry: 'm.pb' }),
      /container\.framework must be one of python, node, sklearn, pytorch, xgboost, onnx \(got "tensorflow"\)/,
    );
    refused(() => checkContainerSpec({ framework: 7, entry: 'm.pb' }), /container\.framework must be one of .* \(got 7\)/);
    refused(
      () => checkContainerSpec({ framework: 'onnx', runtime: 'python', entry: 'm.onnx' }),
      /container\.runtime 'python' cannot run container\.framework 'onnx'.*node runtime/,
    );
    refused(
      () => checkContainerSpec({ framework: 'pytorch', runtime: 'node', entry: 'm.pt' }),
      /container\.runtime 'node' cannot run container\.framework 'pytorch'/,
    );
    refused(
      () => checkContainerSpec({ framework: 'xgboost', runtime: 'ruby', entry: 'm.json' }),
      /container\.runtime must be 'node' or 'python' \(got "ruby"\)/,
    );
    refused(
      () => checkContainerSpec({ entry: 'm.onnx' }),
      /container\.runtime must be 'node' or 'python' \(got nothing\); or give container\.framework/,
    );
    refused(
      () => checkContainerSpec({ manager: 'docker', image: 'img:1', framework: 'onnx' }),
      /container\.framework loads container\.entry/,
    );
  });

  it('refuses an entry the framework cannot load, naming what it loads', () => {
    refused(
      () => checkContainerSpec({ framework: 'onnx', entry: 'model.pt' }),
      /container\.entry "model\.pt" is not a file framework onnx loads: give an ONNX model file \(\.onnx\)/,
    );
    refused(() => checkContainerSpec({ framework: 'pytorch', entry: 'net.onnx' }), /framework pytorch loads: give a TorchScript file/);
    refused(() => checkContainerSpec({ framework: 'xgboost', entry: 'model.py' }), /framework xgboost loads: give a Booster file/);
    refused(() => checkContainerSpec({ framework: 'sklearn', entry: 'model.json' }), /framework sklearn loads: give a pickled estimator/);
    refused(() => checkContainerSpec({ framework: 'node', entry: 'model.py' }), /framework node loads: give an ES module/);
  });

  it('takes device and threads only where they apply, with their values checked', () => {
    const torch = { framework: 'pytorch', entry: 'net.pt' };
    assert.deepEqual(checkContainerSpec({ ...torch, options: { device: 'auto', threads: 2 } })?.options, { device: 'auto', threads: 2 });
    assert.deepEqual(checkContainerSpec({ framework: 'onnx', entry: 'm.onnx', options: { threads: '256' } })?.options, { threads: '256' });
    refused(
      () => checkContainerSpec({ ...torch, options: { device: 'gpu' } }),
      /container\.options\.device must be 'cpu', 'cuda' or 'auto' \(got "gpu"\)/,
    );
    for (const threads of [0, 257, 1.5, -1, '2 --model x']) {
      refused(() => checkContainerSpec({ ...torch, options: { threads } }), /container\.options\.threads must be an integer from 1 to 256/);
    }
    refused(
      () => checkContainerSpec({ framework: 'xgboost', entry: 'b.json', options: { device: 'cuda' } }),
      /container\.options\.device applies to framework pytorch or onnx only \(this spec's framework is xgboost\)/,
    );
    refused(
      () => checkContainerSpec({ framework: 'sklearn', entry: 'c.pkl', options: { threads: 2 } }),
      /container\.options\.threads applies to framework pytorch, xgboost or onnx only/,
    );
    refused(
      () => checkContainerSpec({ runtime: 'python', entry: 'm.py', options: { device: 'cpu' } }),
      /applies to framework pytorch or onnx only \(this spec's framework is not given: add container\.framework\)/,
    );
  });

  it('checkRuntimeAndFramework needs one of the two only when the spec runs a file', () => {
    assert.deepEqual(checkRuntimeAndFramework(undefined, undefined, false), {});
    assert.deepEqual(checkRuntimeAndFramework('node', undefined, false), { runtime: 'node' });
    refused(
      () => checkRuntimeAndFramework(undefined, undefined, true, true),
      /\(got nothing\), or give container\.image; or give container\.framework/,
    );
  });
});

describe('add_model with a framework', () => {
  it('stores the framework and its runtime, names the container after it, and refuses a mismatch', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-framework-spec-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const entry = path.join(dir, 'model.onnx');
    await writeFile(entry, 'not read: no replica starts');
    const service = new AdminService(await FakeAdminContext.create());
    const body = { model_name: 'm', model_version: '1', input_type: 'floats', num_replicas: 0, container: { framework: 'onnx', entry } };
    const reply = await service.handle('add_model', body);
    assert.equal(reply.status, 200, reply.body);
    const info = JSON.parse((await service.handle('get_model', { model_name: 'm', model_version: '1' })).body) as Record<string, unknown>;
    assert.deepEqual(info.container, { runtime: 'node', framework: 'onnx', entry });
    assert.equal(info.container_name, `node:${entry}`);
    const bad = await service.handle('add_model', {
      ...body,
      model_version: '2',
      container: { framework: 'onnx', runtime: 'python', entry },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /container\.runtime 'python' cannot run container\.framework 'onnx'/);
  });

  it("a client's container name falls back to the framework when no runtime is given", () => {
    assert.equal(containerNameOf({ framework: 'pytorch', entry: '/m/net.pt' }), 'pytorch:/m/net.pt');
    assert.equal(containerNameOf({ runtime: 'python', framework: 'pytorch', entry: '/m/net.pt' }), 'python:/m/net.pt');
    assert.equal(containerNameOf({ image: 'img:1' }), 'img:1');
  });
});

function record(container: ModelRecord['container']): ModelRecord {
  return {
    model_name: 'm',
    model_version: '1',
    input_type: 'doubles',
    labels: [],
    container_name: 'x',
    model_data_path: '',
    batch_size: -1,
    container,
    num_replicas: 1,
  };
}

describe('the managers pass --framework to the runner', () => {
  it('a local replica: the runtime from the framework, --framework, --function only when given', () => {
    const onnx = runnerCommand(record({ framework: 'onnx', entry: '/m/model.onnx', options: { threads: 2 } }));
    assert.equal(onnx.command, process.execPath);
    assert.equal(onnx.args[0], kNodeRunnerPath);
    assert.ok(!onnx.args.includes('--function'), onnx.args.join(' '));
    assert.deepEqual(onnx.args.slice(-4), ['--framework', 'onnx', '--threads', '2']);
    const torch = runnerCommand(record({ runtime: 'python', framework: 'pytorch', entry: '/m/net.pt', function: 'forward' }));
    assert.equal(torch.command, kPythonInterpreter);
    assert.equal(torch.args[0], kPythonRunnerPath);
    assert.deepEqual(torch.args.slice(torch.args.indexOf('--function'), torch.args.indexOf('--function') + 2), ['--function', 'forward']);
    assert.deepEqual(torch.args.slice(-2), ['--framework', 'pytorch']);
    // Without a framework: today's argv, --function predict and no --framework.
    const plain = runnerCommand(record({ runtime: 'python', entry: '/m/m.py' }));
    assert.ok(plain.args.includes('predict') && !plain.args.includes('--framework'));
    // A stored framework is checked again before it becomes an argv element.
    const evil = record({ runtime: 'python', entry: '/m/m.py', framework: 'pytorch --model /x' as never });
    refused(() => runnerCommand(evil), /container\.framework must be one of/);
  });

  it("a Docker image: --framework in its command, the framework's Debian packages installed", () => {
    const spec = { model: 'm', version: '1', runtime: 'python' as const, framework: 'pytorch' as const, entry: 'net.pt' };
    const command = commandOf({ ...spec, options: { device: 'cpu' } }, 'net.pt');
    assert.deepEqual(command.slice(-4), ['--framework', 'pytorch', '--device', 'cpu']);
    assert.ok(!command.includes('--function'));
    const dockerfile = renderDockerfile({ ...spec, pkgsToInstall: ['python3-six', 'python3-torch'] }, 'base', 'net.pt', {});
    assert.match(dockerfile, /install -y --no-install-recommends python3-torch python3-six /);
    assert.match(renderDockerfile({ ...spec, framework: 'xgboost' }, 'base', 'b.json', {}), /--no-install-recommends python3-xgboost /);
    assert.doesNotMatch(renderDockerfile({ ...spec, framework: 'sklearn' }, 'base', 'c.pkl', {}), /apt-get/);
    refused(() => validateContextSpec({ ...spec, framework: 'onnx' }), /framework 'onnx' runs in the node runtime, not python/);
    refused(() => validateContextSpec({ ...spec, framework: 'caffe' as never }), /framework must be one of/);
    refused(
      () => validateContextSpec({ ...spec, framework: 'xgboost', options: { device: 'cuda' } }),
      /device applies to framework pytorch or onnx only/,
    );
  });
});

describe("the store's reader", () => {
  it('keeps a known framework and reports an unknown or mismatched one as corrupt', () => {
    const stored = record({ runtime: 'node', framework: 'onnx', entry: '/m/model.onnx' });
    assert.deepEqual(readModelRecord(stored, 'm:1').container, stored.container);
    const corrupt = (container: unknown): void =>
      assert.throws(() => readModelRecord({ ...stored, container }, 'm:1'), /CLP_ERR_STATE_CORRUPT|state store: .*"framework"/);
    corrupt({ runtime: 'node', framework: 'caffe', entry: 'x' });
    corrupt({ runtime: 'python', framework: 'onnx', entry: 'x' });
  });
});
