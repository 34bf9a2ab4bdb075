// Optional TLS on both ports (config tlsCertFile + tlsKeyFile, http/app_factory.ts): with a
// self-signed certificate for 127.0.0.1, a cluster predicts over https, upgrades WebSockets over
// TLS (wss), and serves its management API over https with the admin token, each checked by a
// client that trusts only that certificate (verification stays on). `clipper start` prints https://
// addresses, and unreadable TLS files stop a library user's Cluster.start naming the option.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { Cluster } from '../../src/cluster.js';
import { envNameOf, kConfigOptions } from '../../src/config_sources.js';
import { kRepoRoot } from '../../src/paths.js';
import { deploy, kExampleModels, nodeModel, startTestCluster } from '../helpers/cluster.js';

const kToken = 'tls-admin-token-0123456789';
let dir = '';
let certFile = '';
let keyFile = '';
let ca: Buffer;

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-tls-'));
  certFile = path.join(dir, 'cert.pem');
  keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
    ].concat(['-keyout', keyFile, '-out', certFile]),
    { stdio: 'ignore' },
  );
  ca = readFileSync(certFile);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One https request to 127.0.0.1 trusting `trust` (the test's certificate unless given). */
function request(
  port: number,
  method: string,
  urlPath: string,
  opts: { body?: unknown; token?: string; trust?: Buffer | null } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  const trust = opts.trust === undefined ? ca : opts.trust;
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, method, path: urlPath, headers, ...(trust === null ? {} : { ca: trust }) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
  });
}

/** A WebSocket upgrade over TLS, by hand: resolves with the status line the server answers. */
function wssUpgradeStatus(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca }, () => {
      socket.write(
        `GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(text.slice(0, end));
      }
    });
    socket.on('error', reject);
  });
}

test('with TLS files both ports speak https (and wss); admin calls need the token; verification stays on', async (t) => {
  const cluster = await startTestCluster(
    t,
    { tlsCertFile: certFile, tlsKeyFile: keyFile, adminToken: kToken },
    { startAdmin: startAdminServer },
  );
  const admin = cluster.adminPort;
  const query = cluster.queryPort;
  const app = { name: 'tls-app', input_type: 'doubles', default_output: '-1.0', latency_slo_micros: 2_000_000 };
  const refused = await request(admin, 'POST', '/admin/add_app', { body: app });
  assert.equal(refused.status, 401, refused.text);
  assert.match(String(refused.headers['www-authenticate']), /^Bearer/);
  const added = await request(admin, 'POST', '/admin/add_app', { body: app, token: kToken });
  assert.equal(added.status, 200, added.text);
  await deploy(cluster, nodeModel('tls-sum', '1', 'doubles', path.join(kExampleModels, 'sum_model.mjs')));
  const linked = await request(admin, 'POST', '/admin/add_model_links', {
    body: { app_name: 'tls-app', model_names: ['tls-sum'] },
    token: kToken,
  });
  assert.equal(linked.status, 200, linked.text);

  const predicted = await request(query, 'POST', '/tls-app/predict', { body: { input: [1, 2, 3.5] } });
  assert.equal(predicted.status, 200, predicted.text);
  const answer = JSON.parse(predicted.text) as { output: number; default: boolean };
  assert.equal(answer.default, false, predicted.text);
  assert.equal(answer.output, 6.5);
  assert.equal(await wssUpgradeStatus(query, '/tls-app/stream'), 'HTTP/1.1 101 Switching Protocols');

  // A client that does not trust the certificate is refused by its own verification, on both ports.
  for (const port of [query, admin]) {
    await assert.rejects(request(port, 'GET', '/healthz', { trust: null }), /self[- ]signed certificate/);
  }
  // The admin server over https answers GET /healthz without a token, as over http.
  assert.equal((await request(admin, 'GET', '/healthz')).status, 200);
});

test('clipper start with TLS prints https:// addresses that answer', async (t) => {
  const base = { ...process.env };
  for (const option of kConfigOptions) delete base[envNameOf(option)];
  const child = spawn(
    process.execPath,
    [path.join(kRepoRoot, 'bin', 'clipper.js'), 'start', '--query-port', '0', '--admin-port', '0', '--threads', '1'].concat([
      '--tls-cert-file',
      certFile,
      '--tls-key-file',
      keyFile,
      '--admin-token',
      kToken,
    ]),
    { stdio: ['ignore', 'pipe', 'pipe'], env: base },
  );
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      if (text.includes('query frontend on')) resolve(text);
    });
    child.once('exit', (code) => reject(new Error(`clipper exited with ${code}: ${stderr}`)));
  });
  const m = /query frontend on https:\/\/127\.0\.0\.1:(\d+), management API on https:\/\/127\.0\.0\.1:(\d+)/.exec(line);
  assert.ok(m, line);
  assert.equal((await request(Number(m[1]), 'GET', '/healthz')).status, 200);
  assert.equal((await request(Number(m[2]), 'GET', '/admin/ping', { token: kToken })).text, 'PONG');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('Cluster.start with an unreadable certificate fails naming tlsCertFile', async () => {
  await assert.rejects(
    Cluster.start({
      config: { queryPort: 0, adminPort: 0, batchingThreads: 1, tlsCertFile: path.join(dir, 'missing.pem'), tlsKeyFile: keyFile },
      startAdmin: startAdminServer,
    }),
    /config\.tlsCertFile cannot be read: .*missing\.pem \(ENOENT\)/,
  );
});
