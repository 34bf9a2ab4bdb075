// Connecting to a Docker engine. One place names where the engine is expected (a Unix socket by
// default, or DOCKER_HOST / config.dockerHost) and turns "cannot reach it" into an error that says
// so, naming the socket, instead of a bare ECONNREFUSED from the first API call.

import Docker from 'dockerode';
import { ClipperError } from '../../errors.js';

/** Labels every object this project creates carries; the cluster label scopes reconcile and cleanup. */
export const kLabelCluster = 'ai.clipper.cluster';
export const kLabelModel = 'ai.clipper.model';
export const kLabelVersion = 'ai.clipper.version';
export const kLabelReplica = 'ai.clipper.replica';
/** A hash of what the replica runs (image + limits + options): a replica whose spec changed is replaced, not adopted. */
export const kLabelSpec = 'ai.clipper.spec';

export const kDefaultDockerSocket = '/var/run/docker.sock';

/** Where the engine is: `unix:///path`, `tcp://host:port`, or a bare socket path. Empty: DOCKER_HOST or the default socket. */
export function dockerHostOf(configured: string): string {
  if (configured !== '') return configured;
  return process.env.DOCKER_HOST ?? `unix://${kDefaultDockerSocket}`;
}

export function dockerClient(host: string): Docker {
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) });
  if (host.startsWith('/')) return new Docker({ socketPath: host });
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}

/** A client for the engine at `host`, after a ping; rejects with CLP_ERR_DOCKER_UNAVAILABLE naming the socket. */
export async function connectDocker(host: string, timeoutMs = 5000): Promise<Docker> {
  const docker = dockerClient(host);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw new ClipperError(
      'CLP_ERR_DOCKER_UNAVAILABLE',
      `Docker engine unreachable at ${host}: ${err instanceof Error ? err.message : String(err)} ` +
        '(start dockerd, or point --docker-host / DOCKER_HOST at a running engine)',
    );
  } finally {
    clearTimeout(timer);
  }
  return docker;
}

/** The text of a Docker API error (dockerode puts the engine's JSON message in `json.message`). */
export function dockerErrorText(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const json = (err as { json?: { message?: unknown } }).json;
    if (json !== undefined && json !== null && typeof json.message === 'string') return json.message;
    if (err instanceof Error) return err.message;
  }
  return String(err);
}

export function dockerStatusCode(err: unknown): number | undefined {
  return err !== null && typeof err === 'object' ? (err as { statusCode?: number }).statusCode : undefined;
}

/**
 * The text of a non-TTY container's log buffer: Docker frames each write with an 8-byte header
 * (stream, 0, 0, 0, 4-byte big-endian length); stdout and stderr are interleaved as written.
 */
export function demuxLogs(raw: Buffer | string): string {
  if (typeof raw === 'string') return raw;
  const parts: string[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const type = raw[offset]!;
    const length = raw.readUInt32BE(offset + 4);
    if (type > 2 || raw[offset + 1] !== 0 || offset + 8 + length > raw.length) {
      parts.push(raw.subarray(offset).toString('utf8')); // not multiplexed (a TTY container)
      break;
    }
    parts.push(raw.subarray(offset + 8, offset + 8 + length).toString('utf8'));
    offset += 8 + length;
  }
  return parts.join('');
}
