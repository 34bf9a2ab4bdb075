// Shared by the HTTP benchmarks: starting a server in a child process (its port read from its
// stdout), and running wrk with bench/wrk/predict_random.lua (a unique random input per request),
// reading requests/s, p50/p99, default outputs and non-2xx answers.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { servingNodeFlags } from '../src/cli/node_flags.js';
import { kRepoRoot } from '../src/paths.js';

export interface WrkResult {
  label: string;
  connections: number;
  requestsPerS: number;
  p50Us: number;
  p99Us: number;
  defaults: number;
  non2xx: number;
  /** Prediction-cache hits the server counted during the run, when the caller measured them. */
  cacheHits?: number;
}

const kLua = path.join(kRepoRoot, 'bench', 'wrk', 'predict_random.lua');

/** `script` and `scriptArgs` (after `--`): another wrk Lua script that prints the same summary lines. */
export function runWrk(
  label: string,
  url: string,
  connections: number,
  threads: number,
  durationS: number,
  script = kLua,
  scriptArgs: readonly string[] = [],
): WrkResult {
  const extra = scriptArgs.length > 0 ? ['--', ...scriptArgs] : [];
  const args = [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, '-s', script, url, ...extra];
  const out = spawnSync('wrk', args, { encoding: 'utf8' });
  if (out.error) throw new Error(`wrk could not run (apt-get install wrk): ${out.error.message}`);
  const text = out.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const lat = /p50 (\d+) us, p99 (\d+) us/.exec(text);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const defaults = Number(/defaults (\d+)/.exec(text)?.[1] ?? 0);
  return { label, connections, requestsPerS: rps, p50Us: Number(lat?.[1]), p99Us: Number(lat?.[2]), defaults, non2xx };
}

/**
 * Start `node <flags> <args>` and resolve with its port, from a `"port":N`, `listening on …:N` or bare
 * `N` line. The flags default to the ones `clipper start` serves with (src/node_flags.ts).
 */
export function startChild(args: string[], nodeFlags: string[] = servingNodeFlags()): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...nodeFlags, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /"port":(\d+)|listening on .*:(\d+)|^(\d+)$/.exec(line);
      if (m) resolve({ child, port: Number(m[1] ?? m[2] ?? m[3]) });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}
