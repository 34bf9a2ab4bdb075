// Running a program to its end and collecting what it printed: the tests' one way to drive the CLI,
// Python scripts and examples as a user would. A program still running after `timeoutMs` is killed
// (a bound so that a hang fails the test, not a speed assertion).

import { spawn } from 'node:child_process';
import { kRepoRoot } from '../../src/paths.js';

export interface ProcessResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to (or replacing) this process's environment; `base` replaces the inherited one. */
  env?: Record<string, string>;
  base?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

export function runProcess(command: string, args: string[], options: RunOptions = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? kRepoRoot,
      env: { ...(options.base ?? process.env), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', (err) => {
      clearTimeout(killer);
      reject(err);
    });
    child.once('close', (status) => {
      clearTimeout(killer);
      resolve({ status, stdout, stderr });
    });
  });
}
