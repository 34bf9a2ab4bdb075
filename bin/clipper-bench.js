#!/usr/bin/env node
// The load generator on its own (`clipper bench` runs the same program): tools/loadgen compiled to
// dist/tools/loadgen (npm run build).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/tools/loadgen/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('clipper-bench: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
