// CPU seconds of a whole process tree from /proc (Linux only; 0 elsewhere): e.g. chromium, whose
// work is spread over a browser process, a zygote, renderers and a GPU process. bench/proc_cpu.ts
// counts one process and its direct children; a browser needs every descendant.

import { readdirSync, readFileSync } from 'node:fs';

const kTicksPerS = 100; // USER_HZ on Linux

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function ticks(pid: number): number {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === '') return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** The children of every thread of `pid` (a child is listed under the thread that forked it). */
function childrenOf(pid: number): number[] {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const tid of threads) {
    for (const s of read(`/proc/${pid}/task/${tid}/children`).trim().split(/\s+/)) if (s !== '') out.push(Number(s));
  }
  return out;
}

/** CPU seconds used so far by `pid` and all its descendants (those alive now). */
export function treeCpuS(pid: number): number {
  let total = 0;
  const stack = [pid];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    total += ticks(p);
    stack.push(...childrenOf(p));
  }
  return total / kTicksPerS;
}

/** The direct children of `pid` (default: this process) whose command name is `comm`, e.g. 'chromium'. */
export function childrenNamed(comm: string, pid = process.pid): number[] {
  return childrenOf(pid).filter((c) => read(`/proc/${c}/comm`).trim() === comm);
}
