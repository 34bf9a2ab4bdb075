#!/usr/bin/env node
// The `clipper` command. The TypeScript sources compile to dist/ (npm run build).
import { existsSync } from 'node:fs';
const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('clipper: dist/ is missing; run `npm run build` first (npm start and npm test do it for you)');
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
