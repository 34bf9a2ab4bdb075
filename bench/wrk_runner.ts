// Running wrk with bench/wrk/predict_random.lua (a unique random input per request) and reading
// its numbers: requests/s, p50/p99 from the script's own output, default outputs, non-2xx answers.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { kRepoRoot } from '../src/paths.js';

export interface WrkResult {
  label: string;
  connections: number;
  requestsPerS: number;
  p50Us: number;
  p99Us: number;
  defaults: number;
  non2xx: number;
}

const kLua = path.join(kRepoRoot, 'bench', 'wrk', 'predict_random.lua');

export function runWrk(label: string, url: string, connections: number, threads: number, durationS: number): WrkResult {
  const out = spawnSync('wrk', [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, '-s', kLua, url], { encoding: 'utf8' });
  if (out.error) throw new Error(`wrk could not run (apt-get install wrk): ${out.error.message}`);
  const text = out.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const lat = /p50 (\d+) us, p99 (\d+) us/.exec(text);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const defaults = Number(/defaults (\d+)/.exec(text)?.[1] ?? 0);
  return { label, connections, requestsPerS: rps, p50Us: Number(lat?.[1]), p99Us: Number(lat?.[2]), defaults, non2xx };
}
