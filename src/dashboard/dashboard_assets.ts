// Where the dashboard's static files come from, and their content types. Nothing is fetched from
// elsewhere: uPlot's files are read from the installed `uplot` package (node_modules/uplot/dist/),
// and the page's own files (dashboard.html, dashboard.css, the compiled dashboard.js, charts.js and
// whatever else the browser code is split into) from dist/src/dashboard/ui/, then src/dashboard/ui/
// (static files kept beside their sources). Files are read on each request: the page is opened
// rarely, and a rebuild shows without a restart (they are sent with Cache-Control: no-cache).

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { kRepoRoot } from '../paths.js';

/** The page itself (GET /dashboard). */
export const kPageFile = 'dashboard.html';

/** Files served from the uplot package rather than from the UI folders. */
const kUplotFiles = new Set(['uPlot.iife.min.js', 'uPlot.min.css']);

/** One plain file name: no folders, no dot-files, a known extension. */
const kAssetName = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.(js|css|html|map|svg|png)$/;

const kContentTypes: Readonly<Record<string, string>> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8',
  map: 'application/json',
  svg: 'image/svg+xml',
  png: 'image/png',
};

export const kDefaultUiDirs: readonly string[] = [
  path.join(kRepoRoot, 'dist', 'src', 'dashboard', 'ui'),
  path.join(kRepoRoot, 'src', 'dashboard', 'ui'),
];

/** node_modules/uplot/dist, wherever the package manager put it; null when uplot is not installed. */
function uplotDir(): string | null {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('uplot'));
  } catch {
    return null;
  }
}

export interface Asset {
  contentType: string;
  body: Buffer;
}

export class DashboardAssets {
  readonly #uiDirs: readonly string[];
  readonly #uplotDir: string | null;

  constructor(uiDirs: readonly string[] = kDefaultUiDirs) {
    this.#uiDirs = uiDirs;
    this.#uplotDir = uplotDir();
  }

  /** True when `name` may name an asset at all (anything else is a 404 without a look at the disk). */
  static isAssetName(name: string): boolean {
    return kAssetName.test(name) && !name.includes('..');
  }

  /** The file's bytes and type, or null when there is no such asset. */
  async read(name: string): Promise<Asset | null> {
    if (!DashboardAssets.isAssetName(name)) return null;
    const dirs = kUplotFiles.has(name) ? (this.#uplotDir === null ? [] : [this.#uplotDir]) : this.#uiDirs;
    const ext = name.slice(name.lastIndexOf('.') + 1);
    for (const dir of dirs) {
      try {
        return { contentType: kContentTypes[ext]!, body: await readFile(path.join(dir, name)) };
      } catch {
        // not in this folder: try the next
      }
    }
    return null;
  }

  /** Where a missing file was looked for, for the error message. */
  placesOf(name: string): string {
    return kUplotFiles.has(name) ? (this.#uplotDir ?? 'the uplot package (not installed)') : this.#uiDirs.join(', ');
  }
}
