// The dashboard page under its Content-Security-Policy (dashboard_routes.ts): no inline script or
// style in dashboard.html, and the charts' look in dashboard.css the same as the kChartCss that
// charts.ts adds as a <style> to pages without it (the bench report), so the dashboard, whose CSP
// refuses that <style>, still looks like the report. Reads the sources as text (charts.ts needs a DOM).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { kContentSecurityPolicy } from '../../src/dashboard/dashboard_routes.js';
import { kRepoRoot } from '../../src/paths.js';

const kUiDir = path.join(kRepoRoot, 'src', 'dashboard', 'ui');
const read = (name: string): string => readFileSync(path.join(kUiDir, name), 'utf8');

/** CSS with comments dropped and no whitespace the rules do not need, so formatting does not matter. */
function normalised(css: string): string {
  return css
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s*([{};:,])\s*/g, '$1')
    .replace(/;}/g, '}')
    .trim();
}

test("the charts' rules in dashboard.css are charts.ts's kChartCss, and the page links them under the id charts.ts checks", () => {
  const source = read('charts.ts');
  const match = /export const kChartCss = `([^`]*)`/.exec(source);
  assert.ok(match !== null, 'charts.ts defines kChartCss as a template literal');
  const rules = normalised(match[1]!)
    .split('}')
    .filter((r) => r !== '')
    .map((r) => `${r}}`);
  assert.ok(rules.length >= 5, `the chart rules: ${rules.join(' ')}`);
  const css = normalised(read('dashboard.css'));
  for (const rule of rules) assert.ok(css.includes(rule), `dashboard.css has ${rule}`);
  assert.match(source, /getElementById\('clp-chart-style'\) !== null\) return;/);
  assert.match(read('dashboard.html'), /<link id="clp-chart-style" rel="stylesheet" href="\/dashboard\/assets\/dashboard\.css">/);
});

test('the page has nothing inline that its CSP would refuse', () => {
  assert.match(kContentSecurityPolicy, /default-src 'self'/);
  assert.match(kContentSecurityPolicy, /frame-ancestors 'none'/);
  assert.doesNotMatch(kContentSecurityPolicy, /unsafe-inline|unsafe-eval/);
  const html = read('dashboard.html').replace(/<!--[\s\S]*?-->/g, '');
  assert.doesNotMatch(html, /<style/i, 'no <style> element');
  assert.doesNotMatch(html, /\sstyle=/i, 'no style attribute');
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handler');
  for (const script of html.match(/<script[^>]*>[\s\S]*?<\/script>/gi) ?? []) {
    assert.match(script, /^<script[^>]* src="\/dashboard\/assets\/[^"]+"[^>]*><\/script>$/, `only scripts from this server: ${script}`);
  }
});
