// The Redis side of RedisStateStore (redis_store.ts): the one write script (apply a change, bump
// the cluster's seq and publish the change, atomically), the snapshot read, and quitting a connection.

import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ClipperError } from '../errors.js';
import { emptySnapshot, type AppRecord, type ModelRecord, type StateSnapshot } from './records.js';
import type { RedisKeys } from './redis_keys.js';

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
  snapshot.apps = parseHash<AppRecord>(apps, 'app');
  snapshot.models = parseHash<ModelRecord>(models, 'model');
  snapshot.currentVersions = new Map(Object.entries(current));
  return { snapshot, seq: seq === null ? 0 : Number(seq) };
}

function parseHash<T>(hash: Record<string, string>, what: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [field, text] of Object.entries(hash)) {
    try {
      out.set(field, JSON.parse(text) as T);
    } catch (err) {
      throw new ClipperError('CLP_ERR_INTERNAL', `state store: ${what} "${field}" is not valid JSON`, undefined, { cause: err });
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
