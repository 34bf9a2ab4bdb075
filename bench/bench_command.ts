// The exact command a benchmark was run with (printed first, so a report can be repeated), and the
// wrk command line bench/wrk_runner.ts's runWrk runs for the same arguments.

import os from 'node:os';
import path from 'node:path';
import { kRepoRoot } from '../src/paths.js';

/** A word as a POSIX shell reads it back unchanged. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `node [flags] <script relative to the repository> <args>` of this process. */
export function commandLine(argv: readonly string[] = process.argv, execArgv: readonly string[] = process.execArgv): string {
  const script = argv[1] === undefined ? '' : path.relative(kRepoRoot, argv[1]);
  return ['node', ...execArgv, script, ...argv.slice(2)].map(shellWord).join(' ');
}

/** The wrk command runWrk(label, url, connections, threads, durationS, script, scriptArgs) runs. */
export function wrkCommandLine(
  url: string,
  connections: number,
  threads: number,
  durationS: number,
  script: string,
  scriptArgs: readonly string[] = [],
): string {
  const extra = scriptArgs.length > 0 ? ['--', ...scriptArgs] : [];
  const words = ['wrk', `-t${threads}`, `-c${connections}`, `-d${durationS}s`, '-s', path.relative(kRepoRoot, script), url, ...extra];
  return words.map(shellWord).join(' ');
}

/** The lines a benchmark prints first: its exact command, the core count and the load average. */
export function benchHeader(): string {
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `# ${commandLine()}\n# ${os.availableParallelism()} cores, load average ${load}\n`;
}

/** A comma-separated list of positive integers (a flag's value); throws naming the flag. */
export function positiveInts(text: string, flag: string): number[] {
  const out = text.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !(Number.isInteger(n) && n >= 1))) throw new Error(`${flag}: positive integers, got "${text}"`);
  return out;
}
