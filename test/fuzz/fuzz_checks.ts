// What every fuzz property asserts about a rejection: the project's ClipperError (or a parser's own
// documented error type), a code whose status is a 4xx, and a message that names the problem. A
// failed check throws, so fast-check reports the seed, the path and the counterexample.
import { AssertionError } from 'node:assert';
import { ClipperError, kErrors } from '../../src/errors.js';

export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
}

function fail(message: string): never {
  throw new FuzzFailure(message);
}

function shown(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}\n${err.stack ?? ''}`;
  return String(err);
}

/** `err` is a ClipperError whose code maps to a 4xx, with a message. */
export function expectClientError(err: unknown, where: string): ClipperError {
  if (!(err instanceof ClipperError)) fail(`${where}: threw something other than a ClipperError: ${shown(err)}`);
  if (err.status < 400 || err.status > 499) fail(`${where}: rejected with ${err.code} (HTTP ${err.status}), not a 4xx: ${err.message}`);
  if (err.message.trim() === '') fail(`${where}: rejected with ${err.code} and no message`);
  return err;
}

/** Runs `parse`: its value, or null when it rejected with a 4xx ClipperError (anything else fails). */
export function parseOrReject<T>(where: string, parse: () => T): T | null {
  try {
    return parse();
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    expectClientError(err, where);
    return null;
  }
}

/** Runs `decode`: its value, or null when it threw one of `allowed` error classes (anything else fails). */
export function decodeOrThrow<T>(where: string, allowed: ReadonlyArray<new (...args: never[]) => Error>, decode: () => T): T | null {
  try {
    return decode();
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    if (allowed.some((cls) => err instanceof cls)) {
      if ((err as Error).message.trim() === '') fail(`${where}: ${(err as Error).name} without a message`);
      return null;
    }
    fail(`${where}: threw an undocumented error: ${shown(err)}`);
  }
}

export { AssertionError };

/** A JSON error body of an HTTP reply: status < 500, and for a 4xx a JSON object with a string `error`. */
export function expectHttpReply(status: number, body: string, where: string): void {
  if (status >= 500) fail(`${where}: HTTP ${status}: ${body.slice(0, 500)}`);
  if (status < 400) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    fail(`${where}: HTTP ${status} with a body that is not JSON: ${body.slice(0, 200)}`);
  }
  const error = (parsed as { error?: unknown } | null)?.error;
  if (typeof error !== 'string' || error === '') fail(`${where}: HTTP ${status} without a JSON "error": ${body.slice(0, 200)}`);
}

/** A stream error frame: `error`, `cause` and a registry `code` that maps to a 4xx. */
export function expectErrorFrame(frame: unknown, where: string): void {
  const f = frame as { error?: unknown; cause?: unknown; code?: unknown } | null;
  if (f === null || typeof f !== 'object') fail(`${where}: error frame is not a map: ${String(frame)}`);
  if (typeof f.error !== 'string' || typeof f.cause !== 'string' || f.cause === '') fail(`${where}: error frame without error/cause`);
  const code = f.code;
  if (typeof code !== 'string' || !(code in kErrors)) fail(`${where}: error frame with an unknown code ${String(code)}`);
  const status = kErrors[code as keyof typeof kErrors].status;
  // 503 CLP_ERR_OVERLOADED is the stream's flow-control answer (in-flight limit), not a crash.
  if (status >= 500 && code !== 'CLP_ERR_OVERLOADED') fail(`${where}: error frame ${code} (${status}): ${f.cause}`);
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) fail(message);
}
