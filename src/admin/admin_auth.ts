// The management API's bearer token. When a token is configured (config adminToken, or
// adminTokenFile read at start-up), every admin request must carry `Authorization: Bearer <token>`:
// none or a malformed header → 401 CLP_ERR_UNAUTHORIZED (http/reply.ts adds WWW-Authenticate),
// a wrong token → 403 CLP_ERR_FORBIDDEN. Tokens are compared as SHA-256 digests with
// timingSafeEqual, so neither the content nor the length of the configured token leaks through
// timing. Without a token the API is open, which config.ts allows only on a loopback address.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ClipperError } from '../errors.js';
import { isLoopbackHost } from '../lib/loopback.js';

export interface AdminTokenOptions {
  /** The token itself ('' = none). */
  readonly adminToken: string;
  /** A file holding it ('' = none); read once, trimmed. */
  readonly adminTokenFile: string;
}

/** A usable token: at least 16 printable ASCII characters, no spaces (as config.ts checks adminToken). */
const kTokenPattern = /^[\x21-\x7e]{16,}$/;

/** `Bearer <token>`: the scheme is case-insensitive (RFC 7235), the token one run of visible characters. */
const kBearerPattern = /^bearer +([\x21-\x7e]+) *$/i;

const kHowToSend = 'send the header Authorization: Bearer <token> with the admin token the server was started with';

function fail(option: string, message: string): never {
  throw new ClipperError('CLP_ERR_INVALID_ARG', `config.${option} ${message}`, { option });
}

/**
 * The configured admin token ('' when none): adminToken, or the trimmed content of adminTokenFile.
 * A file that cannot be read, is empty, or holds an unusable token is refused, naming the option.
 */
export function loadAdminToken(opts: AdminTokenOptions, readText: (file: string) => string = (f) => readFileSync(f, 'utf8')): string {
  if (opts.adminTokenFile === '') return opts.adminToken;
  let text: string;
  try {
    text = readText(opts.adminTokenFile);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    fail('adminTokenFile', `cannot be read: ${opts.adminTokenFile} (${reason})`);
  }
  const token = text.trim();
  if (token === '') fail('adminTokenFile', `is empty: ${opts.adminTokenFile}`);
  if (!kTokenPattern.test(token)) {
    fail('adminTokenFile', `must hold one token of at least 16 printable ASCII characters without spaces: ${opts.adminTokenFile}`);
  }
  return token;
}

/** Refuses to serve the management API on a non-loopback host without a token (also for callers that skip config.ts). */
export function checkAdminExposure(host: string, token: string): void {
  if (token !== '' || isLoopbackHost(host)) return;
  throw new ClipperError(
    'CLP_ERR_INVALID_ARG',
    `the management API would listen on ${host}, not a loopback address, without a token: set --admin-token or --admin-token-file`,
    { option: 'adminToken' },
  );
}

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The check every admin request passes through. */
export class AdminAuth {
  readonly #digest: Buffer | null;

  /** `token` '' leaves the API open (loopback only). */
  constructor(token: string) {
    this.#digest = token === '' ? null : digestOf(token);
  }

  get required(): boolean {
    return this.#digest !== null;
  }

  /**
   * null when the request may go on; else the error to answer it with. `authorization` is the
   * request's Authorization header ('' when absent, as uWS reports a missing header).
   */
  check(authorization: string): ClipperError | null {
    if (this.#digest === null) return null;
    if (authorization === '') {
      return new ClipperError(
        'CLP_ERR_UNAUTHORIZED',
        `the management API requires a token and the request has no Authorization header: ${kHowToSend}`,
        {
          missing: 'Authorization',
        },
      );
    }
    const match = kBearerPattern.exec(authorization);
    if (match === null) {
      return new ClipperError('CLP_ERR_UNAUTHORIZED', `the Authorization header is not a bearer token: ${kHowToSend}`, {
        missing: 'Bearer token',
      });
    }
    if (!timingSafeEqual(digestOf(match[1]!), this.#digest)) {
      return new ClipperError('CLP_ERR_FORBIDDEN', 'the bearer token is not the admin token of this server');
    }
    return null;
  }
}
