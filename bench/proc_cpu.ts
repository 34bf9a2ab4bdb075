// CPU time of a process and its child processes from /proc (Linux only; zeros elsewhere), for benchmarks
// that want to say which process was busy: e.g. the cluster (frontend + batching threads) vs its model
// replicas. Clock ticks are USER_HZ = 100 on Linux.

import { readFileSync } from 'node:fs';

const kTicksPerS = 100;

function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15 of the full line)
  } catch {
    return 0;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

export interface CpuSample {
  atMs: number;
  selfS: number;
  childrenS: number;
}

/** CPU seconds used so far by `pid` itself and by its direct children (summed). */
export function sampleCpu(pid: number): CpuSample {
  return {
    atMs: performance.now(),
    selfS: ticks(pid) / kTicksPerS,
    childrenS: children(pid).reduce((a, c) => a + ticks(c), 0) / kTicksPerS,
  };
}

/** % of one core used between two samples, by the process and by its children. */
export function cpuPct(a: CpuSample, b: CpuSample): { selfPct: number; childrenPct: number } {
  const wallS = (b.atMs - a.atMs) / 1000;
  if (wallS <= 0) return { selfPct: 0, childrenPct: 0 };
  return { selfPct: (100 * (b.selfS - a.selfS)) / wallS, childrenPct: (100 * Math.max(0, b.childrenS - a.childrenS)) / wallS };
}
