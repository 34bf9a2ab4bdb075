#!/usr/bin/env node
// The `clipper` command. The TypeScript sources compile to dist/ (npm run build).
//
// `clipper start` runs the serving process with the Node/V8 flags of src/cli/node_flags.ts: when this
// process lacks them, it starts itself again with them and stays as a thin parent that forwards
// SIGINT/SIGTERM and exits with the child's code. The child shuts down when its parent goes away
// (the IPC channel closes), so killing the parent leaves no cluster or replica behind.
// CLIPPER_NODE_FLAGS=off runs in this process with Node's defaults.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('clipper: dist/ is missing; run `npm run build` first (npm start and npm test do it for you)');
  process.exit(1);
}
const args = process.argv.slice(2);
const { hasServingNodeFlags, servingNodeFlags } = await import(new URL('../dist/src/cli/node_flags.js', import.meta.url).href);
if (args[0] === 'start' && !hasServingNodeFlags()) {
  const child = spawn(process.execPath, [...servingNodeFlags(), ...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    console.error(`clipper: could not start the server process: ${err.message}`);
    process.exit(1);
  });
  // A child ended by a signal exits the shell's way: 128 + the signal's number.
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
} else {
  const { main } = await import(cli.href);
  process.exitCode = await main(args);
}
