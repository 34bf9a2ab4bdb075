// Debian's chromium driven by playwright-core, for the dashboard's browser tests and screenshots:
// launch it headless (as root it needs --no-sandbox), open a page, and record everything the page
// complains about (console errors and warnings, uncaught exceptions, failed requests, 4xx/5xx answers)
// so a test can assert there was none.
import { existsSync } from 'node:fs';
import { type Browser, type Page, chromium } from 'playwright-core';

export const kChromium = '/usr/bin/chromium';

/** A skip reason when chromium is missing (npm run setup installs it as root); under CI a missing browser fails instead. */
export function chromiumSkip(): string | false {
  if (existsSync(kChromium) || process.env.CI) return false;
  return `${kChromium} is missing: run npm run setup as root, or apt-get install -y chromium`;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: kChromium,
    // --no-sandbox: chromium refuses to run as root with its sandbox; /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
}

export interface PageProblems {
  /** What went wrong on the page, one line each, in order. */
  readonly lines: string[];
}

export interface OpenedPage {
  page: Page;
  problems: PageProblems;
}

export interface OpenPageOptions {
  widthPx?: number;
  heightPx?: number;
  /** Complaints the test expects (e.g. the stream's 401 before a token is given): not recorded. */
  expected?: (line: string) => boolean;
}

/** A new page at `url`, recording its problems from the first request on. */
export async function openPage(browser: Browser, url: string, options: OpenPageOptions = {}): Promise<OpenedPage> {
  const page = await browser.newPage({ viewport: { width: options.widthPx ?? 1280, height: options.heightPx ?? 900 } });
  const problems: PageProblems = { lines: [] };
  const record = (line: string): void => {
    if (options.expected?.(line) !== true) problems.lines.push(line);
  };
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') record(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => record(`uncaught: ${err.message}`));
  page.on('requestfailed', (req) => record(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText ?? '?'}`));
  page.on('response', (res) => {
    if (res.status() >= 400) record(`HTTP ${res.status()}: ${res.request().method()} ${res.url()}`);
  });
  await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  return { page, problems };
}

/** The page's test hook (window.__clipperDashboard, docs/dashboard.md). */
export interface DashboardHook {
  snapshotsReceived: number;
  connected: boolean;
  lastError: string | null;
}

export async function dashboardHook(page: Page): Promise<DashboardHook | null> {
  return page.evaluate('window.__clipperDashboard ?? null');
}

/** Poll `probe` every 100 ms until it is true; throws naming `what` (and the last value seen) after `timeoutMs`. */
export async function pollUntil<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
