// README's blocks for a newcomer, run in order on one server, as written: the quickstart queries
// (with the answers README prints), the management-API curls, the notebook's Python block, and the
// metrics curls. Only the ports change (a test server listens on free ports). If README's examples
// collide again (one block's model name taken by an earlier one) or an answer changes, this fails.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { installExample } from '../../src/admin/example.js';
import { kRepoRoot } from '../../src/paths.js';
import { startTestCluster } from '../helpers/cluster.js';
import { runProcess } from '../helpers/run_process.js';
import { missingPythonModules, runPythonAsync } from './python_harness.js';

interface Block {
  lang: string;
  text: string;
  /** The nearest heading above the block. */
  heading: string;
}

function readmeBlocks(): Block[] {
  const blocks: Block[] = [];
  let heading = '';
  let open: Block | null = null;
  for (const line of readFileSync(path.join(kRepoRoot, 'README.md'), 'utf8').split('\n')) {
    if (open !== null) {
      if (line.startsWith('```')) {
        blocks.push(open);
        open = null;
      } else open.text += `${line}\n`;
    } else if (line.startsWith('```')) {
      open = { lang: line.slice(3).trim(), text: '', heading };
    } else if (line.startsWith('#')) {
      heading = line.replace(/^#+\s*/, '');
    }
  }
  return blocks;
}

/** The one block under `heading` whose text contains `marker`. */
function block(blocks: Block[], heading: string, marker: string): Block {
  const found = blocks.filter((b) => b.heading === heading && b.text.includes(marker));
  assert.equal(found.length, 1, `README: one block under "${heading}" containing ${marker}`);
  return found[0]!;
}

const kMissing = missingPythonModules(['cloudpickle', 'numpy']);

test("README's blocks run in order on one server and answer what README shows", {
  skip: kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')}` : false,
  timeout: 300_000,
}, async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  await installExample(cluster); // what `npm start` serves
  const ports = (text: string): string =>
    text.replaceAll('127.0.0.1:1337', `127.0.0.1:${cluster.queryPort}`).replaceAll('127.0.0.1:1338', `127.0.0.1:${cluster.adminPort}`);
  const sh = (script: string) => runProcess('bash', ['-euo', 'pipefail', '-c', ports(script)]);
  const blocks = readmeBlocks();

  // Quickstart: each `$ command` is followed by the exact answer README prints. With frontend threads
  // query ids are unique but interleaved (thread k numbers k, k + N, …: query_processor.ts) and each
  // curl's connection may reach any thread, so there the ids are compared as distinct, not as written.
  const quick = block(blocks, 'Quickstart', '$ curl').text.trim().split('\n');
  const seenIds = new Set<string>();
  for (let i = 0; i < quick.length; i += 2) {
    assert.ok(quick[i]!.startsWith('$ '), quick[i]);
    const r = await sh(`${quick[i]!.slice(2)} -s`);
    if (cluster.config.frontendThreads === 1) {
      assert.equal(r.stdout.trim(), quick[i + 1], quick[i]);
      continue;
    }
    const ids = [...r.stdout.matchAll(/"query_id":(\d+)/g)].map((m) => m[1]!);
    assert.equal(
      r.stdout.trim().replace(/"query_id":\d+/g, '"query_id":#'),
      quick[i + 1]!.replace(/"query_id":\d+/g, '"query_id":#'),
      quick[i],
    );
    for (const id of ids) {
      assert.ok(!seenIds.has(id), `query id ${id} given twice`);
      seenIds.add(id);
    }
  }

  // Management API: three curls, each answered "Successfully ...".
  const admin = await sh(block(blocks, 'Management API (port 1338)', 'admin/add_model').text.replaceAll('curl ', 'curl -s '));
  assert.equal(admin.status, 0, admin.stderr);
  assert.equal(admin.stdout.match(/Successfully/g)?.length, 3, admin.stdout);

  // The notebook block, on the same server: its last line's comment is the answer.
  const notebook = block(blocks, 'Python models', 'deploy_python_closure').text.trim().split('\n');
  const last = notebook.pop()!;
  const [call, shown] = last.split('#').map((s) => s.trim());
  const script = [...notebook, `print(${call})`]
    .join('\n')
    .replace('ClipperConnection()', `ClipperConnection('http://127.0.0.1:${cluster.adminPort}', 'http://127.0.0.1:${cluster.queryPort}')`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-readme-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const py = await runPythonAsync(['-c', script], { CLIPPER_MODELS_DIR: dir });
  assert.equal(py.status, 0, py.stderr);
  const expected = new RegExp(`^${shown!.replace(/[{}()[\]|.+?^$\\]/g, '\\$&').replace('…', '\\d+')}$`);
  assert.match(py.stdout.trim().split('\n').at(-1)!, expected);

  // Metrics: Clipper's JSON by default, Prometheus text when asked.
  const metrics = await sh(block(blocks, 'Batching, deadlines, cache and overload', '/metrics').text);
  assert.equal(metrics.status, 0, metrics.stderr);
  assert.match(metrics.stdout, /^\{"counters":\[/);
  assert.match(metrics.stdout, /clipper_app_queries_total\{app="hello-world"\}/);
});
