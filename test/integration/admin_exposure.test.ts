// The management API is never open by accident: with a token every admin request needs
// `Authorization: Bearer <token>` (401 without, 403 when wrong, nothing executed either way), the
// clients (TypeScript, CLI) send it, `clipper start` refuses a management API off loopback without
// a token, and the query port never serves admin routes.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { startAdminServer, type AdminServer } from '../../src/admin/admin_server.js';
import { kAdminPostRoutes } from '../../src/admin/admin_service.js';
import { ClipperClientError, ClipperConnection } from '../../src/client/admin_client.js';
import { envNameOf, kConfigOptions } from '../../src/config_sources.js';
import { kRepoRoot } from '../../src/paths.js';
import { startTestCluster } from '../helpers/cluster.js';
import { FakeAdminContext } from '../helpers/fake_admin_context.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

const kToken = 'test-admin-token-7f3a9c1e5b';
const kClipper = path.join(kRepoRoot, 'bin', 'clipper.js');
const kApp = { name: 'guarded', input_type: 'doubles', default_output: '-1.0', latency_slo_micros: 100000 };

/** The environment of a CLI child: without any option variable of the developer's (CLIPPER_ADMIN_TOKEN included). */
function cliBase(): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const option of kConfigOptions) delete base[envNameOf(option)];
  delete base.CLIPPER_ADMIN_TOKEN_FILE;
  return base;
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<ProcessResult> {
  return runProcess(process.execPath, [kClipper, ...args], { base: cliBase(), env, timeoutMs: 60_000 });
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

async function call(url: string, method: 'GET' | 'POST', authorization?: string, body?: object): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.Authorization = authorization;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function codeOf(reply: Reply): string {
  return (JSON.parse(reply.text) as { code: string }).code;
}

describe('an admin server with a token', () => {
  let ctx: FakeAdminContext;
  let server: AdminServer;
  let base: string;
  before(async () => {
    ctx = await FakeAdminContext.create();
    server = await startAdminServer(ctx, { host: '127.0.0.1', port: 0, bodyBytesMax: 4096, adminToken: kToken });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server?.close());

  it('answers 401 without a token and 403 with a wrong one, executing nothing; 200 with the token', async () => {
    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', `Token ${kToken}`]) {
      const reply = await call(`${base}/admin/add_app`, 'POST', authorization, kApp);
      assert.equal(reply.status, 401, `${authorization}: ${reply.text}`);
      assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer\b/);
      assert.equal(reply.headers.get('content-type'), 'application/json');
      assert.equal(codeOf(reply), 'CLP_ERR_UNAUTHORIZED');
      assert.match(reply.text, authorization === undefined ? /no Authorization header/ : /not a bearer token/);
    }
    for (const wrong of [`Bearer ${kToken}0`, `Bearer ${kToken.slice(1)}`, 'Bearer guess']) {
      const reply = await call(`${base}/admin/add_app`, 'POST', wrong, kApp);
      assert.equal(reply.status, 403, reply.text);
      assert.equal(codeOf(reply), 'CLP_ERR_FORBIDDEN');
      assert.equal(reply.headers.get('www-authenticate'), null);
    }
    assert.equal(ctx.snapshot().apps.size, 0, 'no refused request changed anything');
    const ok = await call(`${base}/admin/add_app`, 'POST', `Bearer ${kToken}`, kApp);
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ctx.snapshot().apps.has('guarded'));
  });

  it('guards every admin path (GET routes, ping, unknown paths); /healthz stays open for probes', async () => {
    for (const [url, method] of [
      ['/admin/ping', 'GET'],
      ['/admin/get_logs?model_name=x', 'GET'],
      ['/admin/get_all_applications', 'POST'],
      ['/admin/no_such_route', 'POST'],
      ['/anything/else', 'GET'],
    ] as const) {
      assert.equal((await call(`${base}${url}`, method)).status, 401, url);
    }
    assert.equal((await call(`${base}/admin/no_such_route`, 'POST', `Bearer ${kToken}`, {})).status, 404);
    const ping = await call(`${base}/admin/ping`, 'GET', `Bearer ${kToken}`);
    assert.equal(ping.text, 'PONG');
    const health = await call(`${base}/healthz`, 'GET');
    assert.equal(health.status, 200);
    assert.equal(health.text, '{"status":"ok"}');
  });

  it('the TypeScript client sends its adminToken; without one it gets the 401 as a ClipperClientError', async () => {
    const withToken = new ClipperConnection({ adminUrl: base, adminToken: kToken, timeoutMs: 10_000 });
    assert.equal(await withToken.ping(), 'PONG');
    assert.ok((await withToken.getAllApps()).includes('guarded'));
    const without = new ClipperConnection({ adminUrl: base, adminToken: '', timeoutMs: 10_000 });
    await assert.rejects(without.ping(), (err: unknown) => err instanceof ClipperClientError && err.status === 401);
    const wrong = new ClipperConnection({ adminUrl: base, adminToken: 'not-the-admin-token', timeoutMs: 10_000 });
    await assert.rejects(
      wrong.registerApplication({ name: 'x', inputType: 'doubles', defaultOutput: '0', sloMicros: 1000 }),
      (err: unknown) => err instanceof ClipperClientError && err.status === 403 && err.code === 'CLP_ERR_FORBIDDEN',
    );
  });

  it('the CLI admin commands send --admin-token, --admin-token-file or $CLIPPER_ADMIN_TOKEN', async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-token-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'token');
    writeFileSync(file, `${kToken}\n`);
    const list = ['list', 'apps', '--admin-url', base];
    const refused = await runCli(list);
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(refused.stderr, /Authorization/);
    for (const [args, env] of [
      [['--admin-token', kToken], {}],
      [['--admin-token-file', file], {}],
      [[], { CLIPPER_ADMIN_TOKEN: kToken }],
    ] as const) {
      const r = await runCli([...list, ...args], env);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /guarded/);
    }
    const wrong = await runCli([...list, '--admin-token', 'wrong-token-0123456789']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /not the admin token/);
  });

  it('the Python clients send admin_token (or $CLIPPER_ADMIN_TOKEN) on admin calls', async () => {
    const script = [
      'import sys',
      'from clipper_ts import ClipperConnection, ClipperException',
      'import clipper_client',
      'url, mode = sys.argv[1], sys.argv[2]',
      "token = {'arg': sys.argv[3], 'env': None, 'none': ''}[mode]",
      'conn = ClipperConnection(admin_url=url, query_url=url, timeout_s=10, admin_token=token)',
      'try:',
      '    conn.connect()',
      "    print('apps', ','.join(conn.get_all_apps()))",
      'except ClipperException as err:',
      "    print('refused', err.status if hasattr(err, 'status') else '', str(err)[:200])",
      'simple = clipper_client.ClipperConnection(admin_url=url, query_url=url, timeout_s=10, admin_token=token)',
      'try:',
      "    simple.register_application('py-' + mode, 'doubles', '-1.0', 100000)",
      "    print('registered')",
      'except clipper_client.ClipperException as err:',
      "    print('simple refused', err.status)",
    ].join('\n');
    const env = { PYTHONPATH: path.join(kRepoRoot, 'containers', 'python') };
    const run = (mode: string, extra: Record<string, string> = {}): Promise<ProcessResult> =>
      runProcess('/usr/bin/python3', ['-c', script, base, mode, kToken], { base: cliBase(), env: { ...env, ...extra }, timeoutMs: 60_000 });
    for (const [mode, extra] of [
      ['arg', {}],
      ['env', { CLIPPER_ADMIN_TOKEN: kToken }],
    ] as const) {
      const r = await run(mode, extra);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^apps .*guarded/m, r.stdout);
      assert.match(r.stdout, /^registered$/m, r.stdout);
    }
    const refused = await run('none');
    assert.equal(refused.status, 0, refused.stderr);
    assert.match(refused.stdout, /^refused .*401/m, refused.stdout);
    assert.match(refused.stdout, /^simple refused 401$/m, refused.stdout);
    assert.ok(!ctx.snapshot().apps.has('py-none'), 'the refused registration did nothing');
  });
});

test('startAdminServer reads adminTokenFile at start-up and refuses a missing one or an open non-loopback host', async (t) => {
  const ctx = await FakeAdminContext.create();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-token-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'token');
  writeFileSync(file, `  ${kToken}\n`);
  const server = await startAdminServer(ctx, { host: '127.0.0.1', port: 0, bodyBytesMax: 4096, adminTokenFile: file });
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.port}/admin/ping`;
  assert.equal((await call(url, 'GET')).status, 401);
  assert.equal((await call(url, 'GET', `Bearer ${kToken}`)).status, 200, 'the file is trimmed');
  await assert.rejects(
    startAdminServer(ctx, { host: '127.0.0.1', port: 0, bodyBytesMax: 4096, adminTokenFile: path.join(dir, 'none') }),
    /config\.adminTokenFile cannot be read/,
  );
  // Refused before it listens, so nothing is ever bound on 0.0.0.0 here.
  await assert.rejects(startAdminServer(ctx, { host: '0.0.0.0', port: 0, bodyBytesMax: 4096 }), /--admin-token/);
});

test('clipper start refuses a management API off loopback without a token, naming the flags', async () => {
  for (const hostArgs of [
    ['--host', '0.0.0.0'],
    ['--admin-host', '0.0.0.0'],
  ]) {
    const r = await runCli(['start', ...hostArgs, '--query-port', '0', '--admin-port', '0']);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /--admin-token\b/, r.stderr);
    assert.match(r.stderr, /--admin-token-file/);
    assert.equal(r.stdout.includes('query frontend on'), false, 'nothing started');
  }
  const missingFile = await runCli(['start', '--admin-token-file', '/nonexistent/clipper-token', '--query-port', '0', '--admin-port', '0']);
  assert.equal(missingFile.status, 1, 'exits with the error (the IPC channel to its parent does not keep it alive)');
  assert.match(missingFile.stderr, /config\.adminTokenFile cannot be read: \/nonexistent\/clipper-token/);
});

test('the query port never serves admin routes: 404 on POST and GET, nothing executed', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const query = `http://127.0.0.1:${cluster.queryPort}`;
  assert.ok(kAdminPostRoutes.includes('add_app'));
  for (const route of [...kAdminPostRoutes, 'ping']) {
    for (const method of ['POST', 'GET'] as const) {
      const reply = await call(`${query}/admin/${route}`, method, undefined, method === 'POST' ? kApp : undefined);
      assert.equal(reply.status, 404, `${method} /admin/${route}: ${reply.text}`);
      assert.equal(codeOf(reply), 'CLP_ERR_ROUTE_NOT_FOUND');
    }
  }
  assert.equal(cluster.snapshot().apps.size, 0, 'no admin route ran through the query port');
  // The same body on the admin port does register the app: the request itself was valid.
  const admin = await call(`http://127.0.0.1:${cluster.adminPort}/admin/add_app`, 'POST', undefined, kApp);
  assert.equal(admin.status, 200, admin.text);
});
