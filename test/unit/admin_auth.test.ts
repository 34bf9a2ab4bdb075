// The management API's exposure rules without a server: the bearer-token check (admin/admin_auth.ts),
// loading the token from a file, the loopback test, the config validation that refuses a management
// API facing the network without a token (config.ts), the 401 reply's WWW-Authenticate header
// (http/reply.ts), and the CLI's token sources (cli/admin_args.ts).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AdminAuth, checkAdminExposure, loadAdminToken } from '../../src/admin/admin_auth.js';
import { adminTokenOf } from '../../src/cli/admin_args.js';
import { adminHostOf, resolveConfig } from '../../src/config.js';
import { configFromSources, formatEffectiveConfig } from '../../src/config_sources.js';
import { ClipperError } from '../../src/errors.js';
import { createApp } from '../../src/http/app_factory.js';
import { errorReply } from '../../src/http/reply.js';
import { isLoopbackHost } from '../../src/lib/loopback.js';

const kToken = 'k3y-0123456789abcdef';

function codeOf(err: ClipperError | null): string | null {
  return err === null ? null : err.code;
}

test('without a token every request passes; with one, only Bearer <token> does', () => {
  const open = new AdminAuth('');
  assert.equal(open.required, false);
  assert.equal(open.check(''), null);
  assert.equal(open.check('Bearer anything-at-all-here'), null);

  const auth = new AdminAuth(kToken);
  assert.equal(auth.required, true);
  assert.equal(auth.check(`Bearer ${kToken}`), null);
  assert.equal(auth.check(`bearer   ${kToken} `), null, 'the scheme is case-insensitive, spaces around the token are allowed');
  const missing = auth.check('');
  assert.equal(codeOf(missing), 'CLP_ERR_UNAUTHORIZED');
  assert.match(missing!.message, /no Authorization header/);
  for (const malformed of [
    `Basic ${Buffer.from(`u:${kToken}`).toString('base64')}`,
    'Bearer',
    'Bearer ',
    kToken,
    `Bearer ${kToken} extra`,
  ]) {
    const refused = auth.check(malformed);
    assert.equal(codeOf(refused), 'CLP_ERR_UNAUTHORIZED', malformed);
    assert.match(refused!.message, /not a bearer token/, malformed);
  }
  for (const wrong of [`Bearer ${kToken.slice(0, -1)}`, `Bearer ${kToken}x`, `Bearer ${kToken.toUpperCase()}`, 'Bearer x']) {
    const refused = auth.check(wrong);
    assert.equal(codeOf(refused), 'CLP_ERR_FORBIDDEN', wrong);
    assert.ok(!refused!.message.includes(kToken), 'the message never shows the token');
  }
});

test('a 401 carries WWW-Authenticate: Bearer and a JSON body naming what is missing; a 403 does not', () => {
  const auth = new AdminAuth(kToken);
  const unauthorized = errorReply(auth.check(''));
  assert.equal(unauthorized.status, 401);
  assert.match(unauthorized.headers?.['WWW-Authenticate'] ?? '', /^Bearer\b/);
  const body = JSON.parse(unauthorized.body) as { error: string; cause: string; code: string };
  assert.equal(body.code, 'CLP_ERR_UNAUTHORIZED');
  assert.match(body.cause, /Authorization/);
  const forbidden = errorReply(auth.check('Bearer wrong-token-0123456789'));
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.headers?.['WWW-Authenticate'], undefined);
  assert.equal((JSON.parse(forbidden.body) as { code: string }).code, 'CLP_ERR_FORBIDDEN');
});

test('the token file is read once and trimmed; a missing, empty or unusable file is refused naming the option', () => {
  assert.equal(loadAdminToken({ adminToken: kToken, adminTokenFile: '' }), kToken);
  assert.equal(loadAdminToken({ adminToken: '', adminTokenFile: '' }), '');
  assert.equal(
    loadAdminToken({ adminToken: '', adminTokenFile: '/t' }, () => `  ${kToken}\n`),
    kToken,
  );
  const refusals: Array<[(file: string) => string, RegExp]> = [
    [
      () => {
        throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      },
      /config\.adminTokenFile cannot be read: \/t \(ENOENT\)/,
    ],
    [() => ' \n', /config\.adminTokenFile is empty/],
    [() => 'short', /config\.adminTokenFile must hold one token of at least 16/],
    [() => `${kToken} second`, /config\.adminTokenFile must hold one token/],
  ];
  for (const [readText, message] of refusals) {
    assert.throws(
      () => loadAdminToken({ adminToken: '', adminTokenFile: '/t' }, readText),
      (err: unknown) => err instanceof ClipperError && err.details?.option === 'adminTokenFile' && message.test(err.message),
    );
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-token-'));
  try {
    const file = path.join(dir, 'token');
    writeFileSync(file, `${kToken}\n`);
    assert.equal(loadAdminToken({ adminToken: '', adminTokenFile: file }), kToken, 'the default reader reads the file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loopback is 127.0.0.0/8, ::1 and localhost; anything else faces the network', () => {
  for (const host of ['127.0.0.1', '127.4.5.6', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
    assert.equal(isLoopbackHost(host), true, host);
  }
  for (const host of [
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '128.0.0.1',
    '192.168.1.2',
    'example.com',
    'localhost.evil.com',
    '::ffff:10.0.0.1',
    '',
  ]) {
    assert.equal(isLoopbackHost(host), false, host);
  }
  assert.doesNotThrow(() => checkAdminExposure('127.0.0.1', ''));
  assert.doesNotThrow(() => checkAdminExposure('0.0.0.0', kToken));
  assert.throws(() => checkAdminExposure('0.0.0.0', ''), /without a token: set --admin-token or --admin-token-file/);
});

test('config: a management API off loopback without a token is refused, naming --admin-token and --admin-token-file', () => {
  for (const host of ['0.0.0.0', '::', '10.1.2.3']) {
    assert.throws(
      () => resolveConfig({ host }),
      (err: unknown) =>
        err instanceof ClipperError &&
        err.details?.option === 'host' &&
        /config\.host puts the management API/.test(err.message) &&
        err.message.includes('--admin-token') &&
        err.message.includes('--admin-token-file'),
      host,
    );
  }
  assert.throws(() => resolveConfig({ adminHost: '0.0.0.0' }), /config\.adminHost puts the management API.*--admin-token/);
  // Allowed: a token (or its file), or the management API kept on loopback while queries face the network.
  assert.equal(resolveConfig({ host: '0.0.0.0', adminToken: kToken }).adminToken, kToken);
  assert.equal(resolveConfig({ host: '0.0.0.0', adminTokenFile: '/run/secrets/admin' }).adminTokenFile, '/run/secrets/admin');
  const split = resolveConfig({ host: '0.0.0.0', adminHost: '127.0.0.1' });
  assert.equal(adminHostOf(split), '127.0.0.1');
  assert.equal(adminHostOf(resolveConfig()), '127.0.0.1', 'adminHost defaults to host');
});

test('config: token and TLS options are checked, naming the option and never showing the token', () => {
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ adminToken: kToken, adminTokenFile: '/t' }, /config\.adminTokenFile cannot be set together with adminToken/],
    [{ adminToken: 'short-secret' }, /config\.adminToken must be at least 16 printable ASCII characters/],
    [{ adminToken: 'has a space in it, long enough' }, /config\.adminToken must be at least 16/],
    [{ tlsCertFile: '/c.pem' }, /config\.tlsKeyFile must be set with tlsCertFile \(both or neither\)/],
    [{ tlsKeyFile: '/k.pem' }, /config\.tlsCertFile must be set with tlsKeyFile/],
    [{ adminHost: 1 }, /config\.adminHost must be a string/],
  ];
  for (const [overrides, message] of refused) {
    assert.throws(() => resolveConfig(overrides as never), message);
    try {
      resolveConfig(overrides as never);
    } catch (err) {
      assert.ok(!(err as Error).message.includes('short-secret'), 'a refused token is not echoed');
    }
  }
  assert.equal(resolveConfig({ tlsCertFile: '/c.pem', tlsKeyFile: '/k.pem' }).tlsCertFile, '/c.pem');
});

test('clipper start sources: the refusal names the flag that set the host; --print-config hides the token', () => {
  const readText = (): string => '{}';
  assert.throws(
    () => configFromSources({ argv: ['--host', '0.0.0.0'], env: {}, readText }),
    /--admin-token or --admin-token-file.*set by flag --host/s,
  );
  const start = configFromSources({ argv: ['--host', '0.0.0.0', '--print-config'], env: { CLIPPER_ADMIN_TOKEN: kToken }, readText });
  assert.equal(start.config.adminToken, kToken);
  assert.equal(start.sources.adminToken, 'env CLIPPER_ADMIN_TOKEN');
  const printed = formatEffectiveConfig(start);
  assert.ok(!printed.includes(kToken), 'the token is not printed');
  assert.equal((JSON.parse(printed) as { config: { adminToken: string } }).config.adminToken, '(hidden)');
});

test('CLI admin commands: --admin-token, --admin-token-file, then CLIPPER_ADMIN_TOKEN(_FILE)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-token-'));
  try {
    const file = path.join(dir, 'token');
    writeFileSync(file, ` ${kToken}\n`);
    assert.equal(adminTokenOf({}, {}), '');
    assert.equal(adminTokenOf({ 'admin-token': 'flag-token' }, { CLIPPER_ADMIN_TOKEN: 'env-token' }), 'flag-token');
    assert.equal(adminTokenOf({ 'admin-token-file': file }, { CLIPPER_ADMIN_TOKEN: 'env-token' }), kToken);
    assert.equal(adminTokenOf({}, { CLIPPER_ADMIN_TOKEN: 'env-token', CLIPPER_ADMIN_TOKEN_FILE: file }), 'env-token');
    assert.equal(adminTokenOf({}, { CLIPPER_ADMIN_TOKEN_FILE: file }), kToken);
    assert.throws(
      () => adminTokenOf({ 'admin-token': 'a', 'admin-token-file': file }, {}),
      /--admin-token or --admin-token-file, not both/,
    );
    assert.throws(() => adminTokenOf({ 'admin-token-file': path.join(dir, 'none') }, {}), /--admin-token-file: cannot read .*ENOENT/);
    writeFileSync(file, '\n');
    assert.throws(() => adminTokenOf({ 'admin-token-file': file }, {}), /--admin-token-file: .* is empty/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS files that cannot be read or are not PEM are refused at start-up, naming the option', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-tls-'));
  try {
    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate\n');
    assert.throws(() => createApp({ certFile: path.join(dir, 'none.pem'), keyFile: junk }), /config\.tlsCertFile cannot be read: .*ENOENT/);
    assert.throws(() => createApp({ certFile: junk, keyFile: path.join(dir, 'none.pem') }), /config\.tlsKeyFile cannot be read/);
    assert.throws(() => createApp({ certFile: junk, keyFile: junk }), /config\.tlsCertFile \/ config\.tlsKeyFile: TLS cannot start/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
