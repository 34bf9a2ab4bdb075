// A private Redis for the reliability scripts and tests (bench/reliability/harness.ts re-exports it):
// `redis-server --port P --save "" --appendonly no --bind 127.0.0.1` on a free port, which the caller
// may SIGKILL and start again (empty: it keeps nothing on disk). Never the shared Redis on 6379.
// Also: read one policy state back from a cluster's Redis keys (src/state/redis_keys.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { Redis } from 'ioredis';
import { redisKeys } from '../../src/state/redis_keys.js';

const kRedisServer = '/usr/bin/redis-server';

export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** True when something at the port answers PING with PONG (within 1 s). */
export function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => done(false), 1000);
    let text = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      text += chunk.toString();
      if (text.includes('\r\n')) done(text.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** SIGKILL the server; resolves once it exited. */
  kill(): Promise<void>;
  /** Start it again on the same port (empty); resolves once it answers PING. */
  start(): Promise<void>;
}

/** Start a private redis-server on a free port; resolves once it answers PING (bound: 10 s). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const c = spawn(kRedisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    child = c;
    const endMs = Date.now() + 10_000;
    while (!(await redisAnswers(port))) {
      if (c.exitCode !== null || Date.now() > endMs) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGKILL');
    await once(c, 'exit');
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, kill, start };
}

/** The policy state stored for `key` (an app name, or `<app>:<uid>`) by cluster `clusterName`, or null. */
export async function readPolicyState(url: string, clusterName: string, key: string): Promise<string | null> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    return await redis.hget(redisKeys(clusterName).policy, key);
  } finally {
    redis.disconnect();
  }
}
