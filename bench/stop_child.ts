// Stopping a server child process a benchmark started (bench/wrk_runner.ts startChild): SIGTERM, so it
// closes its cluster and replicas, then SIGKILL if it has not exited within the grace period.

import type { ChildProcess } from 'node:child_process';

export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
  });
}
