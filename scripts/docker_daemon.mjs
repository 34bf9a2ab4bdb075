// The Docker engine the Docker tests need (test/docker/). Before the tests: when no engine answers
// at /var/run/docker.sock (or $DOCKER_HOST), install Debian's docker.io, mmdebstrap (Python base
// image), docker-registry (the push test's local registry) and docker-compose (the compose test)
// when missing and we are root with
// apt, then start dockerd in the background. After the tests: stop the dockerd we started (its
// images stay on disk, so the base images are built once per machine). Where no engine can start,
// says why once; the Docker tests then skip with the reason.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import http from 'node:http';

const kSocket = '/var/run/docker.sock';
const kPackages = [
  ['dockerd', 'docker.io'],
  ['mmdebstrap', 'mmdebstrap'],
  ['docker-registry', 'docker-registry'],
  ['docker-compose', 'docker-compose'],
];

function ping(timeoutMs = 2000) {
  if (process.env.DOCKER_HOST !== undefined && !process.env.DOCKER_HOST.startsWith('unix://')) return Promise.resolve(false);
  const socketPath = process.env.DOCKER_HOST?.slice('unix://'.length) ?? kSocket;
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function has(program) {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

function install() {
  const missing = kPackages.filter(([program]) => !has(program)).map(([, pkg]) => pkg);
  if (missing.length === 0) return null;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !has('apt-get')) return `${missing.join(', ')} missing and cannot be installed (needs root and apt-get)`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', '--no-install-recommends', ...missing],
  ]) {
    const out = spawnSync('apt-get', args, { env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (out.status !== 0) return `apt-get ${args.join(' ')} failed: ${(out.stderr ?? '').trim().split('\n').slice(-2).join(' | ')}`;
  }
  console.log(`docker: installed ${missing.join(', ')} with apt-get`);
  return null;
}

/** Makes sure an engine answers; returns a function that stops what this started. */
export async function ensureDocker() {
  if (await ping()) {
    const why = install(); // the engine runs, but the image tools may be missing
    if (why !== null) console.log(`docker: ${why}`);
    return async () => {};
  }
  const why = install();
  if (why !== null || !has('dockerd')) {
    console.log(`docker: no engine at ${kSocket} and none can be started (${why ?? 'dockerd not found'}); the Docker tests skip`);
    return async () => {};
  }
  const log = openSync('/tmp/clipper-test-dockerd.log', 'a');
  // No userland proxy: loopback-published ports go through iptables, not a copying process per
  // connection (docs/benchmarks.md, Docker replicas: ~80-90% of local-process throughput with it, ~100% without).
  const daemon = spawn('dockerd', ['--host', `unix://${kSocket}`, '--userland-proxy=false'], {
    stdio: ['ignore', log, log],
    detached: true,
  });
  daemon.on('error', () => {});
  const deadline = Date.now() + 60_000;
  while (!(await ping()) && Date.now() < deadline && daemon.exitCode === null) await new Promise((r) => setTimeout(r, 250));
  if (!(await ping())) {
    console.log('docker: dockerd did not come up within 60 s (see /tmp/clipper-test-dockerd.log); the Docker tests skip');
    daemon.kill('SIGTERM');
    return async () => {};
  }
  console.log(`docker: started dockerd (pid ${daemon.pid}) for the tests; it is stopped after them`);
  return async () => {
    if (daemon.exitCode !== null) return;
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    daemon.kill('SIGTERM');
    const timer = setTimeout(() => daemon.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    if (existsSync(kSocket)) spawnSync('rm', ['-f', kSocket]);
    console.log('docker: stopped the dockerd started for the tests');
  };
}
