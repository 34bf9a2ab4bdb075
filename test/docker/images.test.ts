// Model images on a real Docker engine: base images built locally and reused, Node and Python model
// images that start (ready line) and turn healthy, apt packages at build time, push to a local
// registry and pull back. Every container and model image a test makes is removed; base images and
// the registry image stay (cached on purpose).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import Docker from 'dockerode';
import { connectDocker, dockerHostOf } from '../../src/containers/docker/engine.js';
import { buildModelImage, ensureBaseImage, pushImage, registryTagOf } from '../../src/containers/docker/images.js';
import { kRegistryBinary, localRegistryUnavailableReason, startLocalRegistry } from '../../src/containers/docker/local_registry.js';
import { followProgress } from '../../src/containers/docker/rootfs.js';
import { ClipperError } from '../../src/errors.js';
import { kExamplesDir } from '../../src/paths.js';
import { dockerSkipReason } from './docker_env.js';

const skipReason = await dockerSkipReason();
const docker: Docker = skipReason === null ? await connectDocker(dockerHostOf('')) : new Docker();
const suffix = `${process.pid}`;
const sumModel = path.join(kExamplesDir, 'sum_model.mjs');

/** Debian's registry, installed when missing (root only); null when it is there. */
function registrySkipReason(): string | null {
  if (!existsSync(kRegistryBinary) && process.getuid?.() === 0) {
    const apt = spawnSync('apt-get', ['install', '-y', 'docker-registry'], {
      encoding: 'utf8',
      timeout: 180_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (apt.status !== 0 && !existsSync(kRegistryBinary)) {
      return `apt-get install docker-registry failed: ${(apt.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`;
    }
  }
  return localRegistryUnavailableReason();
}

/** Cleanups run last-registered first (containers go before the images they use), even on failure. */
const cleanups = new WeakMap<TestContext, Array<() => Promise<unknown>>>();
function onCleanup(t: TestContext, step: () => Promise<unknown>): void {
  let steps = cleanups.get(t);
  if (steps === undefined) {
    const list: Array<() => Promise<unknown>> = [];
    steps = list;
    cleanups.set(t, list);
    t.after(async () => {
      for (const next of list.reverse()) await next().catch(() => undefined);
    });
  }
  steps.push(step);
}

function removeImageAfter(t: TestContext, tag: string): void {
  onCleanup(t, () => docker.getImage(tag).remove({ force: true }));
}

async function runContainer(t: TestContext, image: string, cmd?: string[]): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: image,
    ...(cmd === undefined ? {} : { Cmd: cmd }),
    ExposedPorts: { '7000/tcp': {} },
    HostConfig: { PortBindings: { '7000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  onCleanup(t, () => container.remove({ force: true, v: true }));
  await container.start();
  return container;
}

async function logsOf(container: Docker.Container): Promise<string> {
  return (await container.logs({ stdout: true, stderr: true, follow: false })).toString('utf8');
}

async function pollUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Waits for the runner's ready line, then for the health check to pass. */
async function assertReadyAndHealthy(container: Docker.Container): Promise<void> {
  const ready = await pollUntil('the ready line', 60_000, async () => {
    const logs = await logsOf(container);
    if (logs.includes('"clipper_ready":true')) return logs;
    if (!(await container.inspect()).State.Running) throw new Error(`container exited before ready:\n${logs}`);
    return undefined;
  });
  assert.match(ready, /\{"clipper_ready":true,"port":7000/);
  const info = await container.inspect();
  assert.equal(info.NetworkSettings.Ports['7000/tcp']?.[0]?.HostIp, '127.0.0.1');
  const health = await pollUntil('a health verdict', 60_000, async () => {
    const status = (await container.inspect()).State.Health?.Status;
    return status === 'healthy' || status === 'unhealthy' ? status : undefined;
  });
  assert.equal(health, 'healthy', JSON.stringify((await container.inspect()).State.Health));
}

/** Runs `cmd` in a container of `image` to its end; resolves with its exit code and output. */
async function runToEnd(t: TestContext, image: string, cmd: string[]): Promise<{ code: number; output: string }> {
  const container = await runContainer(t, image, cmd);
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  return { code: StatusCode, output: await logsOf(container) };
}

test('spec errors are rejected before anything is built', async () => {
  const base = { model: 'm', version: '1', runtime: 'python' as const, entry: sumModel };
  const invalid = (err: unknown, pattern: RegExp): boolean =>
    err instanceof ClipperError && err.code === 'CLP_ERR_INVALID_ARG' && pattern.test(err.message);
  await assert.rejects(buildModelImage(docker, { ...base, runtime: 'node', pkgsToInstall: ['python3-six'] }), (err) =>
    invalid(err, /Python models only/),
  );
  await assert.rejects(buildModelImage(docker, { ...base, pkgsToInstall: ['ok-pkg', 'Bad;name'] }), (err) => invalid(err, /'Bad;name'/));
  await assert.rejects(buildModelImage(docker, { ...base, entry: '/nonexistent/model.py' }), (err) =>
    invalid(err, /\/nonexistent\/model\.py/),
  );
  await assert.rejects(buildModelImage(docker, { ...base, model: 'Upper' }), (err) => invalid(err, /Upper/));
  await assert.rejects(buildModelImage(docker, { ...base, options: { port: 1 } }), (err) => invalid(err, /port/));
});

test('registryTagOf puts a tag under a registry', () => {
  assert.equal(registryTagOf('sum:1', '127.0.0.1:5000'), '127.0.0.1:5000/sum:1');
  assert.equal(registryTagOf('clipper-ts/sum', 'reg.example:5000/'), 'reg.example:5000/clipper-ts/sum:latest');
  assert.equal(registryTagOf('old.example:5000/sum:2', 'localhost:5000'), 'localhost:5000/sum:2');
});

test('the node base image is built once and reused', { skip: skipReason ?? false }, async () => {
  const [first, concurrent] = await Promise.all([ensureBaseImage(docker, 'node'), ensureBaseImage(docker, 'node')]);
  assert.equal(first, concurrent);
  assert.match(first, /^clipper-ts\/node-base:[0-9a-f]{12}$/);
  const lines: string[] = [];
  assert.equal(await ensureBaseImage(docker, 'node', (line) => lines.push(line)), first);
  assert.deepEqual(lines, [], 'an existing base image is not rebuilt');
  const info = await docker.getImage(first).inspect();
  assert.ok(info.Config.Env.some((e) => e.startsWith('PATH=/usr/local/sbin:')));
});

test('a Node model image starts, prints its ready line and turns healthy', { skip: skipReason ?? false }, async (t) => {
  const spec = { model: `imgtest-sum-${suffix}`, version: '1', runtime: 'node' as const, entry: sumModel, inputType: 'doubles' };
  removeImageAfter(t, `${spec.model}:1`);
  const built = await buildModelImage(docker, spec);
  assert.equal(built.tag, `${spec.model}:1`);
  const labels = (await docker.getImage(built.imageId).inspect()).Config.Labels;
  assert.deepEqual([labels['ai.clipper.runtime'], labels['ai.clipper.model'], labels['ai.clipper.version']], ['node', spec.model, '1']);
  await assertReadyAndHealthy(await runContainer(t, built.tag));
});

test('a Python model from a folder starts on the python base and turns healthy', { skip: skipReason ?? false }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-imgtest-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'helper.py'), 'def total(x):\n    return float(sum(x))\n');
  await writeFile(path.join(dir, 'model.py'), 'from helper import total\n\ndef predict(xs):\n    return [total(x) for x in xs]\n');
  const spec = {
    model: `imgtest-py-${suffix}`,
    version: '1',
    runtime: 'python' as const,
    folder: dir,
    entry: 'model.py',
    inputType: 'doubles',
  };
  removeImageAfter(t, `${spec.model}:1`);
  const built = await buildModelImage(docker, spec);
  await assertReadyAndHealthy(await runContainer(t, built.tag));
});

test('pkgsToInstall installs Debian packages into a Python model image', { skip: skipReason ?? false }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-imgtest-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'model.py'), 'import six\n\ndef predict(xs):\n    return [six.text_type(len(x)) for x in xs]\n');
  const spec = {
    model: `imgtest-pkgs-${suffix}`,
    version: '1',
    runtime: 'python' as const,
    entry: path.join(dir, 'model.py'),
    pkgsToInstall: ['python3-six'],
  };
  removeImageAfter(t, `${spec.model}:1`);
  const built = await buildModelImage(docker, spec);
  const dpkg = await runToEnd(t, built.tag, ['/usr/bin/dpkg', '-s', 'python3-six']);
  assert.equal(dpkg.code, 0, dpkg.output);
  assert.match(dpkg.output, /Status: install ok installed/);
});

test('a package apt cannot find fails the build, naming it', { skip: skipReason ?? false }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-imgtest-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'model.py'), 'def predict(xs):\n    return [0 for _ in xs]\n');
  const spec = {
    model: `imgtest-nopkg-${suffix}`,
    version: '1',
    runtime: 'python' as const,
    entry: path.join(dir, 'model.py'),
    pkgsToInstall: ['clipper-no-such-package'],
  };
  removeImageAfter(t, `${spec.model}:1`);
  await assert.rejects(
    buildModelImage(docker, spec),
    (err) =>
      err instanceof ClipperError &&
      err.code === 'CLP_ERR_IMAGE_BUILD_FAILED' &&
      /could not install package\(s\): clipper-no-such-package/.test(err.message),
  );
});

const registryReason = skipReason ?? registrySkipReason();

test('a model image pushed to a local registry can be pulled back', { skip: registryReason ?? false }, async (t) => {
  const registry = await startLocalRegistry(docker);
  onCleanup(t, () => registry.stop());
  assert.match(registry.address, /^127\.0\.0\.1:\d+$/);
  const spec = { model: `imgtest-push-${suffix}`, version: '1', runtime: 'node' as const, entry: sumModel, inputType: 'doubles' };
  const remote = registryTagOf(`${spec.model}:1`, registry.address);
  removeImageAfter(t, `${spec.model}:1`);
  removeImageAfter(t, remote);
  const built = await buildModelImage(docker, spec);
  assert.equal(await pushImage(docker, built.tag, registry.address), remote);
  await docker.getImage(remote).remove();
  await docker.getImage(built.tag).remove();
  await assert.rejects(docker.getImage(remote).inspect(), 'the image is gone locally before the pull');
  await followProgress(docker, await docker.pull(remote));
  const pulled = await docker.getImage(remote).inspect();
  assert.equal(pulled.Config.Labels['ai.clipper.model'], spec.model);
});
