// The examples a newcomer runs first behave: stream_client.mjs answers a refused connection with the
// server's reason and a non-zero exit, and closure_example.py can be run twice.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { installExample } from '../../src/admin/example.js';
import { kRepoRoot } from '../../src/paths.js';
import { startTestCluster } from '../helpers/cluster.js';
import { missingPythonModules, runPythonAsync } from './python_harness.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

function run(command: string, args: string[]): Promise<ProcessResult> {
  return runProcess(command, args);
}

const kStreamClient = path.join(kRepoRoot, 'containers', 'node', 'examples', 'stream_client.mjs');

test("stream_client.mjs: answers, and an unknown app exits 1 with the server's reason", async (t) => {
  const cluster = await startTestCluster(t);
  await installExample(cluster);
  const ok = await run(process.execPath, [kStreamClient, `ws://127.0.0.1:${cluster.queryPort}/hello-world/stream`, '3']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /id=batch batch \[3,7,11\]/);
  const refused = await run(process.execPath, [kStreamClient, `ws://127.0.0.1:${cluster.queryPort}/no-such-app/stream`, '3']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /HTTP 404: no application named 'no-such-app'/);
});

const missing = missingPythonModules(['cloudpickle', 'numpy']);
test('closure_example.py runs twice against the same server', {
  skip: missing.length > 0 ? `/usr/bin/python3 lacks ${missing.join(', ')}` : false,
}, async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const script = path.join(kRepoRoot, 'containers', 'python', 'examples', 'closure_example.py');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-closure-example-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (let i = 0; i < 2; i++) {
    const r = await runPythonAsync([script, `http://127.0.0.1:${cluster.adminPort}`, `http://127.0.0.1:${cluster.queryPort}`], {
      CLIPPER_MODELS_DIR: dir,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /'output': 16, 'default': False/);
  }
});
