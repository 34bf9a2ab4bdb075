// Running a benchmark's helper program (a model builder, the load generator, a direct baseline) to
// its end: resolves with its stdout, rejects naming the program and the end of its stderr when it
// fails. Its stderr is kept, not echoed, so a bench's own output stays a report.

import { spawn } from 'node:child_process';

const kStderrTailChars = 4000;

export function runChild(command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-kStderrTailChars);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}:\n${stderr}`));
    });
  });
}
