// `clipper start --print-config` through bin/clipper.js: a config file, environment variables and
// flags merged by one rule (flags > environment > file > defaults), each value's source printed, and
// nothing started; a bad value exits 1 naming the source.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { envNameOf, kConfigOptions } from '../../src/config_sources.js';
import { kRepoRoot } from '../../src/paths.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

function runCli(args: string[], env: Record<string, string>): Promise<ProcessResult> {
  // The test's own environment must not set options (a developer's CLIPPER_QUERY_PORT, say).
  const base = { ...process.env };
  for (const option of kConfigOptions) delete base[envNameOf(option)];
  return runProcess(process.execPath, [path.join(kRepoRoot, 'bin', 'clipper.js'), ...args], { base, env, timeoutMs: 60_000 });
}

test('clipper start --print-config merges a file, the environment and flags, and starts nothing', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'clipper.json');
  await writeFile(file, JSON.stringify({ queryPort: 1401, adminPort: 1402, cacheBytesMax: 0, ringBytes: 131072 }));
  const env = {
    CLIPPER_QUERY_PORT: '1501',
    CLIPPER_ADMIN_PORT: '1502',
    CLIPPER_BATCH_SIZE_MAX: '16',
    CLIPPER_NODE_FLAGS: 'off',
    CLIPPER_NO_SUCH_OPTION: 'ignored',
    CLIPPER_BENCH_THREADS: 'x',
  };
  const printed = await runCli(['start', '--config', file, '--query-port', '1601', '--threads=2', '--print-config'], env);
  assert.equal(printed.status, 0, printed.stderr);
  const out = JSON.parse(printed.stdout) as { config: Record<string, unknown>; sources: Record<string, string> };
  assert.deepEqual(
    Object.fromEntries(
      ['queryPort', 'adminPort', 'batchSizeMax', 'cacheBytesMax', 'ringBytes', 'batchingThreads', 'heartbeatMs', 'frontendAccept'].map(
        (k) => [k, [out.config[k], out.sources[k]]],
      ),
    ),
    {
      queryPort: [1601, 'flag --query-port'],
      adminPort: [1502, 'env CLIPPER_ADMIN_PORT'],
      batchSizeMax: [16, 'env CLIPPER_BATCH_SIZE_MAX'],
      cacheBytesMax: [0, `file ${file}`],
      ringBytes: [131072, `file ${file}`],
      batchingThreads: [2, 'flag --threads'],
      heartbeatMs: [1000, 'default'],
      frontendAccept: ['acceptor', 'default'],
    },
  );
  assert.doesNotMatch(printed.stdout, /query frontend on/, 'no server was started');

  const badEnv = await runCli(['start', '--config', file, '--print-config'], { CLIPPER_CACHE_BYTES_MAX: 'lots' });
  assert.equal(badEnv.status, 1);
  assert.match(badEnv.stderr, /env CLIPPER_CACHE_BYTES_MAX: cacheBytesMax must be an integer \(got "lots"\)/);
  await writeFile(file, JSON.stringify({ cacheBytesMax: 0, bodyBytes: 1 }));
  const badFile = await runCli(['start', '--config', file, '--print-config'], {});
  assert.equal(badFile.status, 1);
  assert.match(badFile.stderr, new RegExp(`config file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: unknown option 'bodyBytes'`));
  const badFlag = await runCli(['start', '--ring-bytes', '100000', '--print-config'], {});
  assert.equal(badFlag.status, 1);
  assert.match(badFlag.stderr, /config\.ringBytes must be a power of two \(got 100000\), set by flag --ring-bytes/);
});
