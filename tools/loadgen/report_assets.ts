// What the HTML report inlines so it opens offline from one file: uPlot's script and stylesheet
// (the uplot package) and the project's chart code, dist/src/dashboard/ui/charts.js (built by
// tsconfig.dashboard.json from src/dashboard/ui/charts.ts, the charts the live dashboard draws
// too). Read at report time; a missing file (no `npm run build` yet) is reported, not thrown, so
// the report still carries its tables.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { kRepoRoot } from '../../src/paths.js';

export interface ChartAssets {
  uplotJs: string;
  uplotCss: string;
  chartsJs: string;
}

/** The chart code's build, from the package root (src/paths.ts). */
export const kChartsJsPath = path.join(kRepoRoot, 'dist', 'src', 'dashboard', 'ui', 'charts.js');

function read(file: string, hint: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${hint}`);
  }
}

/** The three files, or a sentence saying which one is missing and what to do. */
export function readChartAssets(chartsJsPath: string = kChartsJsPath): ChartAssets | string {
  try {
    const require = createRequire(import.meta.url);
    const uplot = (file: string): string => {
      let resolved: string;
      try {
        resolved = require.resolve(`uplot/dist/${file}`);
      } catch {
        throw new Error(`cannot find uplot/dist/${file}: install the package's dependencies (npm install)`);
      }
      return read(resolved, 'install the package dependencies (npm install)');
    };
    return {
      uplotJs: uplot('uPlot.iife.min.js'),
      uplotCss: uplot('uPlot.min.css'),
      chartsJs: read(chartsJsPath, 'build the dashboard code first (npm run build)'),
    };
  } catch (err) {
    return (err as Error).message;
  }
}

/** Script text safe inside an inline <script>: no closing tag, no comment opener, no source-map link to a file that is not there. */
export function inlineScript(js: string): string {
  return js
    .replace(/^\/\/# sourceMappingURL=.*$/gm, '')
    .replace(/<\/(script)/gi, '<\\/$1')
    .replace(/<!--/g, '<\\x21--');
}

/** Data for a <script type="application/json">: JSON with every '<' escaped, so no tag can close early. */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}
