// Runs one of the project's own tools (tools/, compiled to dist/tools) as a child process with
// this terminal: the shipped CLI reaches a tool through its command line, never by importing it.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';

/** Run `node <entry> ...args`, forwarding SIGINT/SIGTERM; resolves with its exit code. */
export function runTool(entry: string, args: readonly string[]): Promise<number> {
  if (!existsSync(entry)) {
    return Promise.reject(new Error(`${entry} is missing: build the project first (npm run build)`));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = (): void => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    };
    child.on('error', (err) => {
      done();
      reject(err);
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  });
}
