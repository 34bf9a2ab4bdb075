#!/usr/bin/env node
// Makes sure the Python model containers can run: /usr/bin/python3 (or $CLIPPER_PYTHON) must import
// msgpack, numpy, sklearn, cloudpickle, torch, xgboost and onnx. Installs the Debian packages when they are missing and we
// are root; otherwise prints the command to run. Prints one line; does nothing when all is there.
// Installs Debian's chromium (the browser tests) when /usr/bin/chromium is missing, the same way.
// Under CI (CI set) it also starts the local Redis the Redis-backed tests need, when it is down.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

function redisAnswers() {
  return new Promise((resolve) => {
    const socket = net.connect(6379, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 1000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

if (process.env.CI && !(await redisAnswers())) {
  const started = spawnSync(
    'redis-server',
    ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  if (started.status === 0) await new Promise((r) => setTimeout(r, 300));
  console.log(
    started.status === 0 && (await redisAnswers())
      ? 'setup: started redis-server on 127.0.0.1:6379 for the Redis-backed tests'
      : 'setup: Redis is down on 127.0.0.1:6379 and redis-server could not be started; the Redis tests will fail under CI',
  );
}

// The dashboard's browser tests (test/browser/) drive Debian's chromium with playwright-core.
const kChromium = '/usr/bin/chromium';
if (!existsSync(kChromium)) {
  const rootApt = process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  try {
    if (!rootApt) throw new Error('not root with apt-get');
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', '--no-install-recommends', 'chromium']);
    console.log(`setup: ${kChromium} was missing; installed the chromium package with apt-get`);
  } catch (err) {
    // Only the browser tests need it, so the server still starts without it.
    console.error(
      `setup: ${kChromium} is missing (${err.message}); the browser tests skip (under CI they fail). As root: apt-get install -y chromium`,
    );
  }
}

const python = process.env.CLIPPER_PYTHON ?? '/usr/bin/python3';
// torch, xgboost: the pytorch and xgboost frameworks; onnx: the tests build ONNX graphs with it.
const kModules = ['msgpack', 'numpy', 'sklearn', 'cloudpickle', 'torch', 'xgboost', 'onnx'];
const kPackages = [
  'python3-msgpack',
  'python3-numpy',
  'python3-sklearn',
  'python3-cloudpickle',
  'python3-torch',
  'python3-xgboost',
  'python3-onnx',
];
const installCommand = `apt-get update && apt-get install -y ${kPackages.join(' ')}`;

function missingModules() {
  const script = 'import importlib, sys\nfor m in sys.argv[1:]:\n    try: importlib.import_module(m)\n    except Exception: print(m)\n';
  const out = spawnSync(python, ['-c', script, ...kModules], { encoding: 'utf8' });
  if (out.error !== undefined || out.status !== 0) return null; // no usable interpreter
  return out.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

function run(args) {
  const out = spawnSync(args[0], args.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (out.error !== undefined || out.status !== 0) {
    throw new Error(`${args.join(' ')} failed: ${out.error?.message ?? out.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

const before = missingModules();
if (before !== null && before.length === 0) {
  console.log(`setup: ${python} has ${kModules.join(', ')}; nothing to install`);
  process.exit(0);
}
const what = before === null ? `no working ${python}` : `${python} lacks ${before.join(', ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (python !== '/usr/bin/python3') {
  // Debian's packages serve Debian's interpreter only.
  console.error(
    `setup: ${what}; install msgpack numpy scikit-learn cloudpickle torch xgboost onnx for it (e.g. ${python} -m pip install ...)`,
  );
  process.exit(1);
}
if (!isRoot || !hasApt) {
  console.error(`setup: ${what}; the Python containers need them. Run as root: ${installCommand}`);
  process.exit(1);
}
try {
  const packages = before === null ? ['python3', ...kPackages] : kPackages;
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
} catch (err) {
  console.error(`setup: ${what}; installing failed: ${err.message}`);
  process.exit(1);
}
const after = missingModules();
if (after === null || after.length > 0) {
  console.error(
    `setup: installed ${kPackages.join(' ')} but ${python} still lacks ${after === null ? 'a working interpreter' : after.join(', ')}`,
  );
  process.exit(1);
}
console.log(`setup: ${what}; installed ${kPackages.join(' ')} with apt-get`);
