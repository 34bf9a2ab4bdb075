#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node:test. Node 20's --test takes no
// globs, so this expands them. Extra arguments filter by path substring: `npm test -- ring`.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureDocker } from './docker_daemon.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = path.join(root, 'dist', 'test');

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk(testRoot)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under ${testRoot}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}
const concurrency = process.env.CLIPPER_TEST_CONCURRENCY ?? '2';
// The Docker tests (test/docker/) need an engine: start one when none runs, stop it afterwards.
const needsDocker = files.some((f) => f.includes(`${path.sep}docker${path.sep}`));
const stopDocker = needsDocker ? await ensureDocker() : async () => {};
let result;
try {
  result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], {
    stdio: 'inherit',
    cwd: root,
  });
} finally {
  await stopDocker();
}
process.exit(result?.status ?? 1);
