// The server side of the reliability harness (bench/reliability/harness.ts re-exports it): start the
// real server as a child process (`node <serving flags> bin/clipper.js start`, so the pid is the
// serving process itself, not a forwarding parent), call its management API, read /proc figures of a
// process (RSS, open descriptors) and sample them on a timer.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { servingNodeFlags } from '../../src/cli/node_flags.js';
import { kRepoRoot } from '../../src/paths.js';

export interface ServerOptions {
  /** Extra `clipper start` arguments (after `--query-port 0 --admin-port 0`). */
  args?: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Bound on waiting for the "query frontend on …" line (default 60 s). */
  startTimeoutMs?: number;
  /** Print the server's stderr lines to this process's stderr (default false). */
  echo?: boolean;
}

export interface ServerProcess {
  pid: number;
  queryUrl: string;
  adminUrl: string;
  /** Resolves with the exit code (null when ended by a signal). */
  exited: Promise<number | null>;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, wait up to `boundMs` (default 10 s), then SIGKILL; resolves once it exited. */
  stop(boundMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

const kAddressLine = /query frontend on (https?:\/\/\S+?), management API on (https?:\/\/\S+)/;

/** Start `clipper start --query-port 0 --admin-port 0 …args` and wait for its addresses. */
export function startServer(o: ServerOptions = {}): Promise<ServerProcess> {
  const bin = path.join(kRepoRoot, 'bin', 'clipper.js');
  const argv = [...servingNodeFlags(), bin, 'start', '--query-port', '0', '--admin-port', '0', ...(o.args ?? [])];
  const child = spawn(process.execPath, argv, {
    cwd: o.cwd ?? kRepoRoot,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not print its addresses within the bound; output:\n${text}`));
    }, o.startTimeoutMs ?? 60_000);
    const onText = (chunk: string, isErr: boolean): void => {
      text += chunk;
      if (isErr && o.echo === true) process.stderr.write(chunk);
      const m = kAddressLine.exec(text);
      if (m === null || child.pid === undefined) return;
      clearTimeout(timer);
      resolve(serverProcess(child.pid, m[1]!, m[2]!, exited, () => text, child.kill.bind(child)));
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => onText(c, false));
    child.stderr.setEncoding('utf8').on('data', (c: string) => onText(c, true));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before printing its addresses; output:\n${text}`));
    });
  });
}

function serverProcess(
  pid: number,
  queryUrl: string,
  adminUrl: string,
  exited: Promise<number | null>,
  output: () => string,
  kill: (signal: NodeJS.Signals) => boolean,
): ServerProcess {
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    pid,
    queryUrl,
    adminUrl,
    exited,
    output,
    kill: (signal) => {
      if (!done) kill(signal);
    },
    stop: async (boundMs = 10_000) => {
      if (done) return;
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), boundMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface AdminResult {
  status: number;
  /** The parsed JSON body (the text when it is not JSON). */
  body: unknown;
}

/** POST /admin/<route> with a JSON body; `timeoutMs` (default 30 s) bounds the wait (rejects after it). */
export async function admin(
  adminUrl: string,
  route: string,
  body: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<AdminResult> {
  const res = await fetch(`${adminUrl}/admin/${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, body: text };
  }
}

/** Like admin(), but throws unless the status is 200 (for setup steps). */
export async function adminOk(
  adminUrl: string,
  route: string,
  body: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<unknown> {
  const r = await admin(adminUrl, route, body, headers, timeoutMs);
  if (r.status !== 200) throw new Error(`/admin/${route} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

export interface ProcessStats {
  rssBytes: number;
  fds: number;
}

/** RSS (VmRSS of /proc/<pid>/status) and the number of open descriptors (/proc/<pid>/fd). */
export function processStats(pid: number): ProcessStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return { rssBytes: kb === null ? 0 : Number(kb[1]) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

export interface StatsSample extends ProcessStats {
  atMs: number;
}

export interface Sampler {
  /** Stop sampling; returns every sample taken (a process that has gone ends the sampling). */
  stop(): StatsSample[];
}

/** Sample processStats(pid) every `ms` (the first sample at once; atMs is performance.now()). */
export function sampleEvery(pid: number, ms: number): Sampler {
  const samples: StatsSample[] = [];
  const take = (): void => {
    try {
      samples.push({ atMs: performance.now(), ...processStats(pid) });
    } catch {
      clearInterval(timer);
    }
  };
  const timer = setInterval(take, ms);
  take();
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

/** Poll `check` every `everyMs` until it returns true or `boundMs` passes; resolves whether it held. */
export async function waitFor(check: () => boolean | Promise<boolean>, boundMs: number, everyMs = 10): Promise<boolean> {
  const endMs = performance.now() + boundMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= endMs) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
