// Replica authentication (containers/PROTOCOL.md, "Authentication"): the batching worker that dials
// a replica sends a fresh random nonce in `hello`; the replica answers `ready` with
// auth = HMAC-SHA256(secret, message(nonce, model, version, replica)), which the worker checks in
// constant time. The secret (32 random bytes per cluster start, or read from a file shared by
// several frontends) reaches replicas in their environment, CLIPPER_REPLICA_SECRET (hex), and never
// crosses the wire: a process squatting on a replica's port learns only a nonce and a name.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ClipperError } from '../errors.js';

export const kReplicaSecretBytes = 32;
export const kNonceBytes = 32;
/** The environment variable a replica reads its secret from (hex). */
export const kReplicaSecretEnv = 'CLIPPER_REPLICA_SECRET';
/** Domain separation: a MAC for this purpose and this layout only. */
const kAuthDomain = 'clipper-replica-auth-v1';

/**
 * The bytes the MAC covers: each field as a big-endian u32 byte length followed by its bytes (so no
 * two field lists give the same message): domain, nonce, model, version, replica id in decimal.
 */
export function authMessage(nonce: Uint8Array, model: string, version: string, replicaId: number): Buffer {
  const fields = [Buffer.from(kAuthDomain), Buffer.from(nonce), Buffer.from(model), Buffer.from(version), Buffer.from(String(replicaId))];
  const parts: Buffer[] = [];
  for (const field of fields) {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(field.length, 0);
    parts.push(length, field);
  }
  return Buffer.concat(parts);
}

/** What a replica sends as `auth` in `ready`. */
export function replicaAuthMac(secret: Uint8Array, nonce: Uint8Array, model: string, version: string, replicaId: number): Buffer {
  return createHmac('sha256', secret)
    .update(authMessage(nonce, model, version, replicaId))
    .digest();
}

/** Why `auth` (from a `ready`) does not prove the secret, or null when it does. Constant time over the MAC. */
export function checkReplicaAuth(
  secret: Uint8Array,
  nonce: Uint8Array,
  model: string,
  version: string,
  replicaId: number,
  auth: unknown,
): string | null {
  if (auth === undefined || auth === null) return 'the replica sent no auth (is it started with CLIPPER_REPLICA_SECRET?)';
  if (!(auth instanceof Uint8Array)) return 'the replica sent an auth that is not bytes';
  const expected = replicaAuthMac(secret, nonce, model, version, replicaId);
  if (auth.length !== expected.length || !timingSafeEqual(Buffer.from(auth.buffer, auth.byteOffset, auth.byteLength), expected)) {
    return 'the replica does not hold the cluster secret (wrong auth)';
  }
  return null;
}

export function newNonce(): Buffer {
  return randomBytes(kNonceBytes);
}

/** A secret from hex text (a file's content or the environment), at least 32 bytes; null when unusable. */
export function parseSecretHex(text: string): Buffer | null {
  const hex = text.trim();
  if (hex.length < 2 * kReplicaSecretBytes || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
  return Buffer.from(hex, 'hex');
}

/** The cluster's replica secret: read from `file` (config.replicaSecretFile) or 32 fresh random bytes. */
export async function loadReplicaSecret(file: string): Promise<Buffer> {
  if (file === '') return randomBytes(kReplicaSecretBytes);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `config.replicaSecretFile ${file} cannot be read: ${(err as Error).message}`, {
      option: 'replicaSecretFile',
    });
  }
  const secret = parseSecretHex(text);
  if (secret === null) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `config.replicaSecretFile ${file} must hold at least ${kReplicaSecretBytes} bytes as hex ` +
        `(e.g. made with: head -c ${kReplicaSecretBytes} /dev/urandom | od -An -tx1 | tr -d ' \\n')`,
      { option: 'replicaSecretFile' },
    );
  }
  return secret;
}

/**
 * Where a cluster keeps its replica secret when its state outlives the server (a Redis store) and no
 * replicaSecretFile is given: a restarted server must still authenticate the Docker replicas it adopts.
 */
export function defaultReplicaSecretFile(clusterName: string): string {
  return path.join(os.homedir(), '.clipper', `replica_secret-${clusterName}`);
}

/**
 * The secret in `file`, made (32 random bytes, hex, mode 0600) when the file does not exist yet. It is
 * written whole to a temporary file and then linked into place, so a concurrent start never reads a
 * half-written secret and never replaces one that exists.
 */
export async function loadOrCreateReplicaSecret(file: string): Promise<Buffer> {
  const secret = randomBytes(kReplicaSecretBytes);
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(tmp, `${secret.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    await link(tmp, file);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadReplicaSecret(file);
    throw new ClipperError('CLP_ERR_INVALID_ARG', `the replica secret file ${file} cannot be created: ${(err as Error).message}`, {
      option: 'replicaSecretFile',
    });
  } finally {
    await rm(tmp, { force: true });
  }
}
