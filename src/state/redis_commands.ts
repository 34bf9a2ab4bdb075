// The Redis side of RedisStateStore (redis_store.ts): the one write script (apply a change, bump
// the cluster's seq and publish the change, atomically), the reseed script (an empty Redis gets a
// frontend's copy back), the snapshot read, and quitting a connection.

import { createHash } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { backoffDelayMs } from '../lib/backoff.js';
import { ClipperError } from '../errors.js';
import { parseStoredApp, parseStoredModel, readChangeMessage } from './record_check.js';
import { emptySnapshot, type StateSnapshot } from './records.js';
import type { RedisKeys } from './redis_keys.js';
import type { ReseedPayload } from './state_mirror.js';
import type { StateChange } from './state_store.js';

// KEYS: hash, seq. ARGV: op ('set' | 'del'), field, value, onlyIfExisted ('1' | '0'), channel,
// writer id, change JSON. Returns the change's seq, or 0 when a conditional delete found nothing.
const kWriteScript = `
if ARGV[1] == 'set' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
elseif redis.call('HDEL', KEYS[1], ARGV[2]) == 0 and ARGV[4] == '1' then
  return 0
end
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[5], '{"seq":' .. seq .. ',"writer":"' .. ARGV[6] .. '","change":' .. ARGV[7] .. '}')
return seq
`;
const kWriteScriptSha = createHash('sha1').update(kWriteScript).digest('hex');

/** One write: `hash`'s `field` set to `value` or deleted. */
export interface WriteCommand {
  hash: string;
  op: 'set' | 'del';
  field: string;
  value: string;
  /** A delete of a field that does not exist is no change (no seq, nothing published). */
  onlyIfExisted: boolean;
  changeJson: string;
}

/** Runs the write script; returns the change's seq, or 0 when a conditional delete found nothing. */
export async function runWriteScript(cmd: Redis, keys: RedisKeys, writerId: string, w: WriteCommand): Promise<number> {
  const argv = [w.op, w.field, w.value, w.onlyIfExisted ? '1' : '0', keys.channel, writerId, w.changeJson];
  try {
    return Number(await cmd.evalsha(kWriteScriptSha, 2, w.hash, keys.seq, ...argv));
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return Number(await cmd.eval(kWriteScript, 2, w.hash, keys.seq, ...argv));
  }
}

// KEYS: apps, models, current, policy, seq. ARGV: the seq to set, the apps, models, current and policy
// hashes as JSON objects, the channel, the writer id. Only while Redis holds no state for the cluster
// (no seq key and none of the three configuration hashes: it came back empty): writes the hashes (the
// policy states only where Redis has none newer), sets seq and publishes a reseed message, so every
// store that loaded before it resyncs. A seq from an earlier Redis history says nothing about this one,
// so a Redis that holds anything is never overwritten. Returns 1 when it wrote, 0 when Redis held state.
const kReseedScript = `
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3], KEYS[5]) > 0 then return 0 end
for i = 1, 4 do
  local op = i < 4 and 'HSET' or 'HSETNX'
  for field, value in pairs(cjson.decode(ARGV[i + 1])) do redis.call(op, KEYS[i], field, value) end
end
redis.call('SET', KEYS[5], ARGV[1])
redis.call('PUBLISH', ARGV[6], '{"seq":' .. ARGV[1] .. ',"writer":"' .. ARGV[7] .. '","reseed":true}')
return 1
`;

/**
 * Writes a frontend's copy of the state into a Redis that holds none for the cluster, with `seq`
 * as its change counter (at least 1); true when it wrote.
 */
export async function reseed(cmd: Redis, keys: RedisKeys, writerId: string, seq: number, p: ReseedPayload): Promise<boolean> {
  const argv = [String(Math.max(seq, 1)), p.appsJson, p.modelsJson, p.currentJson, p.policyJson, keys.channel, writerId];
  return Number(await cmd.eval(kReseedScript, 5, keys.apps, keys.models, keys.current, keys.policy, keys.seq, ...argv)) === 1;
}

const kReseedMessage = /^\{"seq":([0-9]{1,15}),"writer":"([^"]*)","reseed":true\}$/;

/** A message on the change channel: a change, or the reseed script's (`change` null); CLP_ERR_STATE_CORRUPT when neither. */
export function readMessage(text: string): { seq: number; writer: string; change: StateChange | null } {
  const m = kReseedMessage.exec(text);
  return m === null ? readChangeMessage(text) : { seq: Number(m[1]), writer: m[2]!, change: null };
}

/** The whole state and the seq of the last change in it, read in one MULTI. */
export async function loadSnapshot(cmd: Redis, keys: RedisKeys): Promise<{ snapshot: StateSnapshot; seq: number }> {
  const results = await cmd.multi().hgetall(keys.apps).hgetall(keys.models).hgetall(keys.current).get(keys.seq).exec();
  if (results === null) throw new Error('snapshot transaction aborted');
  for (const [err] of results) if (err) throw err;
  const [apps, models, current, seq] = results.map(([, value]) => value) as [
    Record<string, string>,
    Record<string, string>,
    Record<string, string>,
    string | null,
  ];
  const snapshot = emptySnapshot();
  snapshot.apps = parseHash(apps, parseStoredApp);
  snapshot.models = parseHash(models, parseStoredModel);
  snapshot.currentVersions = new Map(Object.entries(current));
  return { snapshot, seq: readSeq(seq) };
}

/** The seq key's value; a hand-edited one that is no count is reported and read as 0 (writes fail until it is fixed). */
function readSeq(text: string | null): number {
  if (text === null) return 0;
  const seq = Number(text);
  if (/^[0-9]{1,15}$/.test(text) && Number.isSafeInteger(seq)) return seq;
  process.stderr.write(`clipper: state store: the change counter holds ${JSON.stringify(text.slice(0, 40))}, not a count; read as 0\n`);
  return 0;
}

/**
 * The records of one hash. A value that is not valid JSON or not a record of its kind (corrupt, or
 * hand-edited) is reported on stderr and left out, so one bad value cannot keep the cluster from
 * starting; it stays in Redis until a write of that name replaces it.
 */
function parseHash<T>(hash: Record<string, string>, parse: (field: string, text: string) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const [field, text] of Object.entries(hash)) {
    try {
      out.set(field, parse(field, text));
    } catch (err) {
      if (!(err instanceof ClipperError)) throw err;
      process.stderr.write(`clipper: ${err.message}; the record is skipped\n`);
    }
  }
  return out;
}

/** Quits a connection and stops its reconnect timer; leaves no handle behind. */
export async function shutdown(conn: Redis): Promise<void> {
  // quit() lets pending replies arrive first.
  if (conn.status === 'ready') await conn.quit().catch(() => {});
  // disconnect() on an ended connection would arm a timer that waits for a close already seen.
  if (conn.status !== 'end') conn.disconnect();
}

/**
 * The ioredis options of both connections of a store: no offline queue and no resent commands (a
 * write while Redis is away fails at once with a 503, never waits), bounded connect and command
 * times, and reconnects with capped exponential backoff only once the store is open.
 */
export function connectionOptions(
  connectTimeoutMs: number,
  commandTimeoutMs: number,
  reconnectDelayMaxMs: number,
  isOpen: () => boolean,
): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    enableOfflineQueue: false,
    // In-flight commands fail on the first disconnect instead of waiting for a reconnect.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    // Bounds how long a closing socket may linger (and keep a test process alive).
    disconnectTimeout: 200,
    // Never retry while opening (open() fails fast); capped exponential backoff while serving.
    retryStrategy: (attempt: number) =>
      isOpen() ? backoffDelayMs(attempt - 1, Math.min(50, reconnectDelayMaxMs), reconnectDelayMaxMs) : null,
  };
}
