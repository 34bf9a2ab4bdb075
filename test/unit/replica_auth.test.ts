// Replica authentication (src/rpc/replica_auth.ts): the HMAC a replica sends in `ready`, its
// unambiguous message layout, the constant-time check, and where the cluster's secret comes from.

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  authMessage,
  checkReplicaAuth,
  defaultReplicaSecretFile,
  kReplicaSecretBytes,
  loadOrCreateReplicaSecret,
  loadReplicaSecret,
  parseSecretHex,
  replicaAuthMac,
} from '../../src/rpc/replica_auth.js';

const secret = Buffer.alloc(32, 1);
const nonce = Buffer.alloc(32, 2);

test('the MAC is HMAC-SHA256 over length-prefixed fields: domain, nonce, model, version, replica', () => {
  const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const field = (b: Buffer): Buffer => Buffer.concat([u32(b.length), b]);
  const expected = Buffer.concat(
    [Buffer.from('clipper-replica-auth-v1'), nonce, Buffer.from('sum'), Buffer.from('1'), Buffer.from('3')].map(field),
  );
  assert.deepEqual(authMessage(nonce, 'sum', '1', 3), expected);
  assert.deepEqual(replicaAuthMac(secret, nonce, 'sum', '1', 3), createHmac('sha256', secret).update(expected).digest());
});

test('fields are delimited: moving a character between model and version changes the MAC', () => {
  assert.notDeepEqual(replicaAuthMac(secret, nonce, 'ab', 'c', 1), replicaAuthMac(secret, nonce, 'a', 'bc', 1));
  assert.notDeepEqual(replicaAuthMac(secret, nonce, 'm', '1', 12), replicaAuthMac(secret, nonce, 'm', '11', 2));
});

test('checkReplicaAuth accepts the right MAC and names why it refuses any other', () => {
  const good = replicaAuthMac(secret, nonce, 'm', '1', 0);
  assert.equal(checkReplicaAuth(secret, nonce, 'm', '1', 0, good), null);
  assert.match(String(checkReplicaAuth(secret, nonce, 'm', '1', 0, undefined)), /sent no auth/);
  assert.match(String(checkReplicaAuth(secret, nonce, 'm', '1', 0, 'abc')), /not bytes/);
  assert.match(String(checkReplicaAuth(secret, nonce, 'm', '1', 0, good.subarray(0, 16))), /wrong auth/);
  assert.match(String(checkReplicaAuth(secret, nonce, 'm', '1', 0, Buffer.alloc(32))), /wrong auth/);
  assert.match(String(checkReplicaAuth(secret, randomBytes(32), 'm', '1', 0, good)), /wrong auth/, 'another nonce');
  assert.match(String(checkReplicaAuth(secret, nonce, 'm', '2', 0, good)), /wrong auth/, 'another version');
  assert.match(String(checkReplicaAuth(Buffer.alloc(32, 9), nonce, 'm', '1', 0, good)), /wrong auth/, 'another secret');
  // A view into a larger buffer (as a decoder may hand it over) is read at its offset.
  const padded = Buffer.concat([Buffer.alloc(5), good]);
  assert.equal(checkReplicaAuth(secret, nonce, 'm', '1', 0, new Uint8Array(padded.buffer, padded.byteOffset + 5, 32)), null);
});

test('the secret: random per start, or at least 32 bytes of hex from a file', async () => {
  const a = await loadReplicaSecret('');
  const b = await loadReplicaSecret('');
  assert.equal(a.length, kReplicaSecretBytes);
  assert.ok(!a.equals(b));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-secret-'));
  try {
    const file = path.join(dir, 'secret.hex');
    writeFileSync(file, `${'ab'.repeat(32)}\n`);
    assert.deepEqual(await loadReplicaSecret(file), Buffer.alloc(32, 0xab));
    writeFileSync(file, 'ab'.repeat(16));
    await assert.rejects(loadReplicaSecret(file), /replicaSecretFile .* must hold at least 32 bytes as hex/);
    await assert.rejects(loadReplicaSecret(path.join(dir, 'missing')), /replicaSecretFile .* cannot be read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(parseSecretHex('zz'.repeat(32)), null);
  assert.equal(parseSecretHex('abc'), null);
});

test('a kept secret: made once (mode 0600, hex), then the same bytes on every later start', async () => {
  assert.match(defaultReplicaSecretFile('prod-a'), /\.clipper[/\\]replica_secret-prod-a$/);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-secret-'));
  try {
    const file = path.join(dir, 'nested', 'replica_secret-x');
    const first = await loadOrCreateReplicaSecret(file);
    assert.equal(first.length, kReplicaSecretBytes);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), first.toString('hex'));
    const [again, concurrent] = await Promise.all([loadOrCreateReplicaSecret(file), loadOrCreateReplicaSecret(file)]);
    assert.deepEqual(again, first);
    assert.deepEqual(concurrent, first);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
