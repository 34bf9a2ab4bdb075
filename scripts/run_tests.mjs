#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node:test. Node 20's --test takes no
// globs, so this expands them. Extra arguments filter by path substring: `npm test -- ring`.
//
// Two frontend modes (docs/architecture.md): the selected files run once as the environment says
// (frontendThreads' default: CLIPPER_FRONTEND_THREADS, else by the core count); then the files that
// start our query frontend run again in the other mode, CLIPPER_FRONTEND_THREADS=2 where the default
// is 1 (the main thread serves queries) and =1 where it is several threads. A file is in the second
// pass when its compiled text starts a cluster or a query server: startTestCluster, Cluster.start or
// startQueryServer (the other files use fakes, or spawn processes that are not our frontend, so a
// second mode would run the same code). No second pass when the caller set CLIPPER_FRONTEND_THREADS
// (it chose the mode) or CLIPPER_TEST_SECOND_MODE=0; CLIPPER_TEST_SECOND_MODE=<n> runs it with n.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDocker } from './docker_daemon.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = path.join(root, 'dist', 'test');
const kThreadsEnv = 'CLIPPER_FRONTEND_THREADS';
const kSecondModeEnv = 'CLIPPER_TEST_SECOND_MODE';
/** Compiled text that starts our query frontend (a cluster, or a query server alone). */
const kStartsFrontend = /\bstartTestCluster\b|\bCluster\.start\(|\bstartQueryServer\(/;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

/** frontendThreads when nothing sets it (src/config_threads.ts, the one home of the rule). */
async function defaultFrontendThreads() {
  const file = path.join(root, 'dist', 'src', 'config_threads.js');
  try {
    const { defaultFrontendThreads: rule } = await import(pathToFileURL(file).href);
    return rule(undefined, os.availableParallelism());
  } catch {
    return 1; // not built yet: today's one frontend
  }
}

/** The second pass's thread count, or null for none (and why). */
async function secondMode() {
  const asked = process.env[kSecondModeEnv];
  if (asked === '0') return { threads: null, why: `${kSecondModeEnv}=0` };
  if (process.env[kThreadsEnv] !== undefined && process.env[kThreadsEnv] !== '') {
    return { threads: null, why: `${kThreadsEnv}=${process.env[kThreadsEnv]} was set by the caller` };
  }
  if (asked !== undefined && asked !== '') {
    if (!/^[1-9][0-9]*$/.test(asked)) {
      console.error(`${kSecondModeEnv} must be 0 (no second pass) or a frontend thread count, not '${asked}'`);
      process.exit(2);
    }
    return { threads: Number(asked), why: `${kSecondModeEnv}=${asked}` };
  }
  const first = await defaultFrontendThreads();
  return { threads: first === 1 ? 2 : 1, why: `the other mode than the default (${first})` };
}

function run(files, env) {
  const concurrency = process.env.CLIPPER_TEST_CONCURRENCY ?? '2';
  return spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit', cwd: root, env });
}

const filters = process.argv.slice(2);
const files = walk(testRoot)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under ${testRoot}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}
const second = await secondMode();
const secondFiles = second.threads === null ? [] : files.filter((f) => kStartsFrontend.test(readFileSync(f, 'utf8')));
const passes = secondFiles.length > 0 ? 2 : 1;
// The Docker tests (test/docker/) need an engine: start one when none runs, stop it afterwards.
const needsDocker = files.some((f) => f.includes(`${path.sep}docker${path.sep}`));
const stopDocker = needsDocker ? await ensureDocker() : async () => {};
let status = 1;
try {
  const mode = process.env[kThreadsEnv] ? `${kThreadsEnv}=${process.env[kThreadsEnv]}` : `the default, ${await defaultFrontendThreads()}`;
  console.log(`# run_tests: pass 1 of ${passes}: ${files.length} files, frontend threads: ${mode}`);
  status = run(files, process.env).status ?? 1;
  if (passes === 2) {
    console.log(
      `# run_tests: pass 2 of 2: the ${secondFiles.length} files that start a query frontend, ${kThreadsEnv}=${second.threads} (${second.why})`,
    );
    const again = run(secondFiles, { ...process.env, [kThreadsEnv]: String(second.threads) }).status ?? 1;
    if (status === 0) status = again;
  } else {
    console.log(
      `# run_tests: no second frontend mode (${second.threads === null ? second.why : 'no selected file starts a query frontend'})`,
    );
  }
} finally {
  await stopDocker();
}
process.exit(status);
