// containers/compose.yaml on a real engine with Debian's docker-compose: the images are built from
// local files (clipper docker-images), `up -d` brings up Redis, the frontend and the quickstart,
// the quickstart's app answers, and `down` leaves no container behind, neither the project's nor
// the model replicas the frontend started (it removes them on SIGTERM). Unique project, cluster
// and ports, so it runs beside other test files. Skips, saying why, without an engine, without
// docker-compose, or without this machine's redis-server.

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import type Docker from 'dockerode';
import { connectDocker, dockerHostOf, kLabelCluster } from '../../src/containers/docker/engine.js';
import { buildSystemImages, kRedisServerBinary } from '../../src/containers/docker/system_images.js';
import { kRepoRoot } from '../../src/paths.js';
import { dockerSkipReason } from './docker_env.js';

const kComposeFile = path.join(kRepoRoot, 'containers', 'compose.yaml');
const kReservedPorts = new Set([1337, 1338, 6379]);

function composeSkipReason(): string | null {
  const probe = spawnSync('docker-compose', ['version'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.error !== undefined) return `docker-compose is not installed (apt-get install -y docker-compose): ${probe.error.message}`;
  if (probe.status !== 0) return `docker-compose version failed: ${(probe.stderr ?? '').trim()}`;
  if (!existsSync(kRedisServerBinary)) return `${kRedisServerBinary} is missing (apt-get install -y redis-server)`;
  return null;
}

const skip = (await dockerSkipReason()) ?? composeSkipReason();
const docker: Docker | null = skip === null ? await connectDocker(dockerHostOf('')) : null;
const unique = `${process.pid}-${Date.now().toString(36)}`;
const project = `clippercompose${unique.replace(/-/g, '')}`;
const cluster = `compose-${unique}`;

/** A port nothing listens on at 127.0.0.1 now (the OS's pick), never one of the defaults. */
async function freePort(taken: ReadonlySet<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as net.AddressInfo;
        server.close(() => resolve(p));
      });
    });
    if (!kReservedPorts.has(port) && !taken.has(port)) return port;
  }
}

async function composeEnv(): Promise<NodeJS.ProcessEnv> {
  const taken = new Set<number>();
  for (let i = 0; i < 3; i++) taken.add(await freePort(taken));
  const [query, admin, redis] = [...taken];
  return {
    ...process.env,
    CLIPPER_QUERY_PORT: String(query),
    CLIPPER_ADMIN_PORT: String(admin),
    CLIPPER_REDIS_PORT: String(redis),
    CLIPPER_CLUSTER: cluster,
  };
}

let env: NodeJS.ProcessEnv = process.env;
let upStarted = false;

function compose(args: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      'docker-compose',
      ['-p', project, '-f', kComposeFile, ...args],
      { env, cwd: kRepoRoot, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

async function leftovers(): Promise<Docker.ContainerInfo[]> {
  const byCluster = await docker!.listContainers({ all: true, filters: { label: [`${kLabelCluster}=${cluster}`] } });
  const byProject = await docker!.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } });
  return [...byCluster, ...byProject];
}

// Whatever a failed run left behind goes: the project (down), then any replica of its cluster.
after(async () => {
  if (docker === null || !upStarted) return;
  await compose(['down', '--remove-orphans', '-t', '30'], 120_000);
  for (const c of await leftovers())
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {});
});

async function predictUntilAnswered(queryPort: string, deadlineMs: number): Promise<unknown> {
  let last: unknown = null;
  while (Date.now() < deadlineMs) {
    try {
      const res = await fetch(`http://127.0.0.1:${queryPort}/hello-world/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: [1, 2, 3] }),
        signal: AbortSignal.timeout(5_000),
      });
      last = await res.json();
      const body = last as { output?: unknown; default?: unknown };
      if (res.status === 200 && body.default === false) return last;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

test('compose.yaml: up serves the quickstart app; down removes the project and the model replicas', {
  skip: skip ?? false,
  timeout: 600_000,
}, async () => {
  const built = await buildSystemImages(docker!);
  assert.deepEqual(
    built.map((b) => b.tags.at(-1)),
    [built[0]!.tags[0], 'clipper-ts/server:local', 'clipper-ts/redis:local', 'sum-model:1'],
  );
  env = await composeEnv();

  upStarted = true;
  const up = await compose(['up', '-d'], 240_000);
  const logs = async (): Promise<string> => (await compose(['logs', '--no-color', '--tail', '60'], 60_000)).output;
  assert.equal(up.code, 0, `docker-compose up failed:\n${up.output}\n${await logs()}`);
  const answer = await predictUntilAnswered(env.CLIPPER_QUERY_PORT!, Date.now() + 180_000);
  const { output, default: isDefault } = (answer ?? {}) as { output?: unknown; default?: unknown };
  assert.deepEqual({ output, default: isDefault }, { output: 6, default: false }, `last answer ${JSON.stringify(answer)}\n${await logs()}`);

  // The quickstart ran once and succeeded; the frontend runs a replica of sum-model:1.
  const quickstart = await docker!.listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${project}`, 'com.docker.compose.service=quickstart'] },
  });
  assert.equal(quickstart.length, 1);
  const { StatusCode: quickstartExit } = (await docker!.getContainer(quickstart[0]!.Id).wait()) as { StatusCode: number };
  assert.equal(quickstartExit, 0, await logs());
  const replicas = await docker!.listContainers({ all: true, filters: { label: [`${kLabelCluster}=${cluster}`] } });
  assert.equal(replicas.length, 1);
  assert.equal(
    replicas[0]!.ImageID,
    (await docker!.getImage('sum-model:1').inspect()).Id,
    'the replica runs the image sum-model:1 (created from its id)',
  );

  const down = await compose(['down'], 120_000);
  assert.equal(down.code, 0, `docker-compose down failed:\n${down.output}`);
  assert.deepEqual(
    (await leftovers()).map((c) => `${c.Names.join(',')} ${c.Image} ${c.State}`),
    [],
  );
});
