// The house rules (docs/house_rules.md), checked over the sources (not dist/) with the TypeScript
// parser: which layer may import which, file and function sizes, comments that name files, and the
// files package.json points at. Each check lists every offender, so one run shows all there is to fix.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// ---------------------------------------------------------------------------------------------------
// The layer table. Paths are from the repository root: 'src/rpc/' is a folder, 'src/errors.ts' a file,
// 'node:fs' a module (also node:fs/promises and plain 'fs'). Static imports, re-exports, dynamic
// import(), import('…') types and require() all count; type-only imports count too.

/** Node and package modules that do I/O: selection policies must stay pure functions of their inputs. */
const kIoModules = [
  'node:net',
  'node:fs',
  'node:http',
  'node:https',
  'node:http2',
  'node:tls',
  'node:dns',
  'node:dgram',
  'node:child_process',
  'node:worker_threads',
  'ioredis',
  'dockerode',
  'uWebSockets.js',
  'undici',
];

interface LayerRule {
  /** The files the rule governs (prefixes), less `filesExcept`. */
  files: readonly string[];
  filesExcept?: readonly string[];
  /** What they must not import, less `butMay`. */
  mayNotImport?: readonly string[];
  butMay?: readonly string[];
  /** When set, whatever they import from src/ must fall under one of these. */
  srcOnly?: readonly string[];
  why: string;
}

const kLayerRules: readonly LayerRule[] = [
  {
    files: ['src/'],
    mayNotImport: ['bench/', 'test/', 'tools/', 'sim/'],
    why: 'the shipped package stands alone: the load generator and the simulator are tools beside it',
  },
  {
    files: ['src/'],
    filesExcept: ['src/cli/'],
    mayNotImport: ['src/cli/'],
    why: 'the CLI is the top floor: it may use everything, nothing uses it',
  },
  {
    files: ['src/frontend/'],
    mayNotImport: ['src/rpc/', 'src/containers/', 'src/batching/', 'src/ipc/', 'src/state/', 'src/cache/', 'src/admin/'],
    why: 'frontend/ holds protocol codecs only: they parse into the query core and encode its answers',
  },
  {
    files: ['src/query/'],
    mayNotImport: [
      'src/frontend/',
      'src/http/',
      'src/admin/',
      'src/rpc/',
      'src/containers/',
      'src/state/',
      'src/cli/',
      'src/batching/',
      'src/ipc/',
    ],
    butMay: ['src/batching/protocol.ts', 'src/ipc/records.ts'],
    why: 'query/ is the pure main-thread core: it reaches the pool through its ports; from below only the contract',
  },
  {
    files: ['src/selection/policies/'],
    mayNotImport: kIoModules,
    srcOnly: ['src/selection/policies/', 'src/lib/', 'src/errors.ts'],
    why: 'policies are pure decisions: no I/O, nothing but themselves, lib/ and errors',
  },
  { files: ['src/lib/'], srcOnly: ['src/lib/', 'src/errors.ts'], why: 'lib/ holds the primitives every floor stands on' },
  {
    files: ['src/batching/', 'src/ipc/'],
    mayNotImport: ['src/frontend/', 'src/query/', 'src/admin/', 'src/http/', 'src/containers/', 'src/cli/'],
    why: 'the batching side knows no protocol, no query core and no way of starting replicas',
  },
  {
    files: ['src/rpc/'],
    mayNotImport: ['src/batching/', 'src/frontend/', 'src/query/', 'src/admin/'],
    why: 'the replica connection sits below batching',
  },
  {
    files: ['src/http/'],
    mayNotImport: ['src/frontend/', 'src/query/', 'src/admin/'],
    why: 'the HTTP edge is shared by both servers, so it knows neither',
  },
  {
    files: ['src/admin/'],
    mayNotImport: ['src/frontend/', 'src/control/'],
    why: 'the management API validates and writes the state store; it never touches the running cluster',
  },
  {
    files: ['src/control/'],
    mayNotImport: ['src/frontend/', 'src/http/', 'src/cli/', 'src/rpc/', 'src/ipc/'],
    why: 'the control loop applies state changes through ports (pool, managers, cache), never through a protocol',
  },
  {
    files: ['src/dashboard/'],
    filesExcept: ['src/dashboard/ui/'],
    mayNotImport: ['src/frontend/', 'src/rpc/', 'src/containers/', 'src/control/', 'src/dashboard/ui/'],
    butMay: ['src/dashboard/ui/types.ts'],
    why: 'the dashboard reads counters through its sources (metrics, query stats, admin context); it never reaches a protocol, a replica or the control loop; of the page only the snapshot types it shares (ui/types.ts)',
  },
  {
    files: ['src/dashboard/ui/'],
    mayNotImport: kIoModules,
    srcOnly: ['src/dashboard/'],
    why: 'the dashboard page runs in a browser: no Node I/O, nothing of the server but the dashboard folder',
  },
  {
    files: ['src/containers/', 'src/state/', 'src/cache/'],
    mayNotImport: ['src/frontend/', 'src/query/', 'src/batching/', 'src/control/', 'src/admin/'],
    butMay: ['src/admin/admin_context.ts'],
    why: 'replicas, state and the cache are services below the query path and the control loop',
  },
  {
    files: ['src/'],
    filesExcept: ['src/frontend_thread/', 'src/cluster.ts'],
    mayNotImport: ['src/frontend_thread/'],
    why: 'the frontend threads are started and wired by the composition root alone (cluster.ts): nothing else talks to them',
  },
  {
    files: ['src/frontend_thread/'],
    mayNotImport: ['src/admin/', 'src/containers/', 'src/rpc/', 'src/state/', 'src/control/', 'src/planner/', 'src/dashboard/'],
    butMay: ['src/admin/admin_context.ts', 'src/state/records.ts', 'src/control/route_table.ts', 'src/control/model_routes.ts'],
    why: 'a frontend thread runs a query server over its own query core; the store, the managers, the replicas and the control loop stay on the main thread, which tells it the routes',
  },
  {
    files: ['src/planner/'],
    mayNotImport: ['src/frontend/', 'src/http/', 'src/admin/', 'src/control/', 'src/query/', 'src/cli/', 'src/state/'],
    why: 'the planner is pure search and simulation over profiles (its profiler alone dials replicas); the CLI and the control loop call it',
  },
];

/** Size limits, over these folders (test/ and bench/ are not held to them). */
const kSizeRoots = ['src/', 'tools/', 'sim/', 'containers/node/'];
const kFileLinesMax = 400;
const kFunctionLinesMax = 70;

// ---------------------------------------------------------------------------------------------------

function findRoot(): string {
  // Compiled, this file runs from dist/test/unit; the root is the first folder up with a package.json.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    assert.notEqual(up, dir, 'no package.json above the test');
    dir = up;
  }
  return dir;
}

const kRoot = findRoot();
const kSkipDirs = new Set(['node_modules', 'dist', '.git']);

/** Repository-relative POSIX paths of every file under `dir`, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(kRoot, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!kSkipDirs.has(entry.name) && !entry.name.startsWith('.')) walk(child);
      } else if (entry.isFile()) out.push(child);
    }
  };
  if (existsSync(path.join(kRoot, dir))) walk(dir.replace(/\/$/, ''));
  return out.sort();
}

const isCode = (rel: string): boolean => /\.(ts|mts|js|mjs)$/.test(rel) && !rel.endsWith('.d.ts');

function parse(rel: string, text = readFileSync(path.join(kRoot, rel), 'utf8')): ts.SourceFile {
  const kind = /\.m?ts$/.test(rel) ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  return ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, kind);
}

const lineAt = (sf: ts.SourceFile, pos: number): number => sf.getLineAndCharacterOfPosition(pos).line + 1;

/** A prefix ending in '/' matches what lies under it; anything else matches itself and its subpaths. */
const matches = (target: string, pattern: string): boolean =>
  pattern.endsWith('/') ? target.startsWith(pattern) : target === pattern || target.startsWith(`${pattern}/`);

// ---------------------------------------------------------------------------------------------------
// a. Imports

interface ImportEdge {
  line: number;
  specifier: string;
  /** Repository path for relative specifiers (.js read as the .ts source), else the module name. */
  target: string;
}

function resolveTarget(fromRel: string, specifier: string): string {
  if (specifier.startsWith('.')) {
    const joined = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), specifier));
    return joined.replace(/\.js$/, '.ts');
  }
  const bare = specifier.replace(/^node:/, '');
  return builtinModules.includes(bare.split('/')[0]!) ? `node:${bare}` : specifier;
}

function importsOf(sf: ts.SourceFile): ImportEdge[] {
  const out: ImportEdge[] = [];
  const add = (node: ts.Node, literal: ts.Node | undefined): void => {
    if (literal === undefined || !ts.isStringLiteralLike(literal)) return; // import(someVariable): not checkable
    out.push({ line: lineAt(sf, node.getStart(sf)), specifier: literal.text, target: resolveTarget(sf.fileName, literal.text) });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node, node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) {
        add(node, node.arguments[0]);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function ruleApplies(rule: LayerRule, rel: string): boolean {
  return rule.files.some((p) => matches(rel, p)) && !(rule.filesExcept ?? []).some((p) => matches(rel, p));
}

function breaks(rule: LayerRule, target: string): boolean {
  const banned = (rule.mayNotImport ?? []).some((p) => matches(target, p)) && !(rule.butMay ?? []).some((p) => matches(target, p));
  const outside = rule.srcOnly !== undefined && target.startsWith('src/') && !rule.srcOnly.some((p) => matches(target, p));
  return banned || outside;
}

/** One line per import that breaks a rule: `file:line imports target ('specifier'): why`. */
function layerViolations(sf: ts.SourceFile): string[] {
  const rules = kLayerRules.filter((r) => ruleApplies(r, sf.fileName));
  if (rules.length === 0) return [];
  const out: string[] = [];
  for (const edge of importsOf(sf)) {
    for (const rule of rules) {
      if (breaks(rule, edge.target)) out.push(`${sf.fileName}:${edge.line} imports ${edge.target} ('${edge.specifier}'): ${rule.why}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// b. Sizes

function lineCount(text: string): number {
  if (text === '') return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

type FunctionNode =
  | ts.FunctionDeclaration
  | ts.MethodDeclaration
  | ts.ConstructorDeclaration
  | ts.GetAccessorDeclaration
  | ts.SetAccessorDeclaration
  | ts.FunctionExpression
  | ts.ArrowFunction;

function isFunctionWithBody(node: ts.Node): node is FunctionNode & { body: ts.Node } {
  const fn =
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node);
  return fn && node.body !== undefined;
}

/** A name a reader can find: Class.method, the variable or property an arrow is bound to, or the call it is passed to. */
function functionName(fn: FunctionNode, sf: ts.SourceFile): string {
  const parent = fn.parent;
  const owner = ts.isClassLike(parent) ? `${parent.name?.text ?? '(class)'}.` : '';
  if (ts.isConstructorDeclaration(fn)) return `${owner}constructor`;
  const accessor = ts.isGetAccessorDeclaration(fn) ? 'get ' : ts.isSetAccessorDeclaration(fn) ? 'set ' : '';
  if (fn.name !== undefined) return `${accessor}${owner}${fn.name.getText(sf)}`;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    const holder = ts.isPropertyDeclaration(parent) && ts.isClassLike(parent.parent) ? `${parent.parent.name?.text ?? '(class)'}.` : '';
    return `${holder}${parent.name.getText(sf)}`;
  }
  if (ts.isCallExpression(parent) || ts.isNewExpression(parent)) return `(callback of ${parent.expression.getText(sf).slice(0, 60)})`;
  if (ts.isBinaryExpression(parent)) return parent.left.getText(sf).slice(0, 60);
  return '(anonymous)';
}

interface FunctionSize {
  line: number;
  name: string;
  lines: number;
}

/** Every function with a body, from its first line (after any doc comment) to the end of its body. */
function functionSizes(sf: ts.SourceFile): FunctionSize[] {
  const out: FunctionSize[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunctionWithBody(node)) {
      const line = lineAt(sf, node.getStart(sf));
      out.push({ line, name: functionName(node, sf), lines: lineAt(sf, node.body.end) - line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function sizeOffenders(sf: ts.SourceFile): { files: string[]; functions: string[] } {
  const files: string[] = [];
  const lines = lineCount(sf.text);
  if (lines > kFileLinesMax) files.push(`${sf.fileName}: ${lines} lines`);
  const functions = functionSizes(sf)
    .filter((f) => f.lines > kFunctionLinesMax)
    .map((f) => `${sf.fileName}:${f.line} ${f.name}: ${f.lines} lines`);
  return { files, functions };
}

// ---------------------------------------------------------------------------------------------------
// c. Comments that name files

/** Every comment in the file, each once (a comment is both trailing one node and leading the next). */
function commentsOf(sf: ts.SourceFile): Array<{ line: number; text: string }> {
  const seen = new Set<number>();
  const out: Array<{ line: number; text: string }> = [];
  const take = (ranges: ts.CommentRange[] | undefined): void => {
    for (const r of ranges ?? []) {
      if (seen.has(r.pos)) continue;
      seen.add(r.pos);
      out.push({ line: lineAt(sf, r.pos), text: sf.text.slice(r.pos, r.end) });
    }
  };
  const visit = (node: ts.Node): void => {
    take(ts.getLeadingCommentRanges(sf.text, node.pos));
    take(ts.getTrailingCommentRanges(sf.text, node.end));
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out.sort((a, b) => a.line - b.line);
}

// A file name: optional ./ or ../, folders, a name, and one of the extensions; not inside a URL or a
// longer path (the look-behind), not a glob like *.test.ts (a name must start it).
const kFileRef = /(?<![\w./:@*-])((?:\.{1,2}\/)*(?:[\w@-]+\/)*[\w-]+(?:\.[\w-]+)*\.(?:ts|mts|mjs|md))(?![\w/-])/g;

function makeFileIndex(files: readonly string[]): (ref: string, fromRel: string) => boolean {
  const all = new Set(files);
  const basenames = new Set(files.map((f) => path.posix.basename(f)));
  return (ref, fromRel) => {
    // dist/ paths name the build of a source: dist/src/index.d.ts is src/index.ts.
    const r = ref.replace(/^dist\//, '').replace(/\.d\.ts$/, '.ts');
    if (r.startsWith('./') || r.startsWith('../')) return all.has(path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), r)));
    if (!r.includes('/')) return basenames.has(r);
    return files.some((f) => f === r || f.endsWith(`/${r}`));
  };
}

function staleFileRefs(sf: ts.SourceFile, exists: (ref: string, fromRel: string) => boolean): string[] {
  const out: string[] = [];
  for (const comment of commentsOf(sf)) {
    for (const m of comment.text.matchAll(kFileRef)) {
      const ref = m[1]!;
      if (!exists(ref, sf.fileName)) {
        const line = comment.line + comment.text.slice(0, m.index).split('\n').length - 1;
        out.push(`${sf.fileName}:${line} names ${ref}, which is not in the repository`);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// d. package.json entry points

/** The source a built file comes from: dist/src/index.js and dist/src/index.d.ts are src/index.ts. */
const sourceOf = (rel: string): string => rel.replace(/^dist\//, '').replace(/(\.d)?\.ts$|\.js$/, '.ts');

function entryPoints(pkg: Record<string, unknown>): Array<{ field: string; file: string }> {
  const out: Array<{ field: string; file: string }> = [];
  const collect = (field: string, value: unknown): void => {
    if (typeof value === 'string') out.push({ field, file: path.posix.normalize(value) });
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) collect(/^\w+$/.test(k) ? `${field}.${k}` : `${field}['${k}']`, v);
    }
  };
  for (const field of ['main', 'types', 'typings', 'module', 'exports', 'bin']) collect(field, pkg[field]);
  return out;
}

function entryPointProblems(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(kRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
  const out: string[] = [];
  const check = (what: string, file: string): void => {
    if (!existsSync(path.join(kRoot, file))) out.push(`${what}: ${file} does not exist (after npm run build)`);
    else if (file.startsWith('dist/') && !existsSync(path.join(kRoot, sourceOf(file)))) {
      out.push(`${what}: ${file} is a leftover build: its source ${sourceOf(file)} is gone`);
    }
  };
  for (const { field, file } of entryPoints(pkg)) {
    check(`package.json ${field}`, file);
    // A bin script loads the build: check what it loads too.
    if (field.startsWith('bin') && existsSync(path.join(kRoot, file))) {
      const text = readFileSync(path.join(kRoot, file), 'utf8');
      for (const m of text.matchAll(/['"`]\.\.\/(dist\/[\w./-]+\.js)['"`]/g)) check(`${file} loads`, m[1]!);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------

function report(title: string, offenders: readonly string[]): void {
  if (offenders.length > 0) assert.fail(`${offenders.length} ${title}:\n  ${offenders.join('\n  ')}`);
}

test('layers: no file in src/ imports what its layer must not', () => {
  const offenders = listFiles('src')
    .filter(isCode)
    .flatMap((rel) => layerViolations(parse(rel)));
  report('imports across the layer fences (docs/house_rules.md)', offenders);
});

test(`sizes: files up to ${kFileLinesMax} lines, functions up to ${kFunctionLinesMax}`, () => {
  const files: string[] = [];
  const functions: string[] = [];
  for (const rel of kSizeRoots.flatMap(listFiles).filter(isCode)) {
    const found = sizeOffenders(parse(rel));
    files.push(...found.files);
    functions.push(...found.functions);
  }
  report(`files over ${kFileLinesMax} lines and functions over ${kFunctionLinesMax} lines`, [...files, ...functions]);
});

test('comments in src/ name only files that exist', () => {
  const exists = makeFileIndex(listFiles(''));
  report(
    'stale file names in comments',
    listFiles('src')
      .filter(isCode)
      .flatMap((rel) => staleFileRefs(parse(rel), exists)),
  );
});

test('package.json main, types, exports and bin point at files that exist', () => {
  report('missing entry points', entryPointProblems());
});

// The checks themselves, on made-up files: each must catch what it is for (and only that), or the
// tests above would pass on a tree that breaks the rules.
test('the import check flags each kind of import that crosses a fence', () => {
  const src = [
    "import type { A } from '../rpc/replica_connection.js';",
    "export { B } from '../containers/container_manager.js';",
    "const c = await import('../../bench/x.js');",
    "type D = import('../admin/admin_server.js').D;",
    "import { Placement } from '../batching/protocol.js';",
    "import { parse } from '../http/body.js';",
  ].join('\n');
  const found = layerViolations(parse('src/frontend/codec.ts', src));
  assert.deepEqual(
    found.map((s) => s.split(' ')[0]),
    ['src/frontend/codec.ts:1', 'src/frontend/codec.ts:2', 'src/frontend/codec.ts:3', 'src/frontend/codec.ts:4', 'src/frontend/codec.ts:5'],
  );
});

test('the import check knows its exceptions and module names', () => {
  const flagged = (rel: string, line: string): boolean => layerViolations(parse(rel, line)).length > 0;
  assert.equal(flagged('src/query/q.ts', "import type { Placement } from '../batching/protocol.js';"), false);
  assert.equal(flagged('src/query/q.ts', "import { Dispatcher } from '../batching/pool.js';"), true);
  assert.equal(flagged('src/selection/policies/p.ts', "import { readFile } from 'node:fs/promises';"), true);
  assert.equal(flagged('src/selection/policies/p.ts', "import fs from 'fs';"), true);
  assert.equal(flagged('src/selection/policies/p.ts', "import { Pool } from 'undici';"), true);
  assert.equal(flagged('src/selection/policies/p.ts', "import { createPrng } from '../../lib/prng.js';"), false);
  assert.equal(flagged('src/selection/policies/p.ts', "import { SelectionHub } from '../selection_hub.js';"), true);
  assert.equal(flagged('src/lib/x.ts', "import { ClipperError } from '../errors.js';"), false);
  assert.equal(flagged('src/lib/x.ts', "import { kDefaults } from '../config.js';"), true);
  assert.equal(flagged('src/admin/a.ts', "import { main } from '../cli/main.js';"), true);
  assert.equal(flagged('src/cli/a.ts', "import { main } from './main.js';"), false);
  assert.equal(flagged('src/batching/w.ts', "const x = require('../query/query_processor.js');"), true);
  assert.equal(flagged('src/admin/a.ts', "import { FrontendGroup } from '../frontend_thread/frontend_group.js';"), true);
  assert.equal(flagged('src/cluster.ts', "import { FrontendGroup } from './frontend_thread/frontend_group.js';"), false);
  assert.equal(flagged('src/frontend_thread/t.ts', "import { RouteTable } from '../control/route_table.js';"), false);
  assert.equal(flagged('src/frontend_thread/t.ts', "import { Deployments } from '../control/deployments.js';"), true);
});

test('the size check counts functions from their first line to the end of their body', () => {
  const body = (n: number): string => Array.from({ length: n }, (_, i) => `  x += ${i};`).join('\n');
  const src = [
    '/** A doc comment does not count. */',
    `export function long(): void {\n${body(kFunctionLinesMax - 1)}\n}`,
    `export const short = (): void => {\n${body(kFunctionLinesMax - 2)}\n};`,
    `class K {\n  method(): void {\n${body(kFunctionLinesMax)}\n  }\n}`,
  ].join('\n');
  const sizes = functionSizes(parse('src/x.ts', src));
  assert.deepEqual(
    sizes.map((f) => [f.name, f.lines]),
    [
      ['long', 71],
      ['short', 70],
      ['K.method', 72],
    ],
  );
  assert.deepEqual(sizeOffenders(parse('src/x.ts', src)).functions, ['src/x.ts:2 long: 71 lines', 'src/x.ts:144 K.method: 72 lines']);
  assert.equal(sizeOffenders(parse('src/y.ts', 'let x = 0;\n'.repeat(kFileLinesMax + 1))).files.length, 1);
});

test('the comment check flags file names that match nothing, by path or by name', () => {
  const exists = makeFileIndex(['src/lib/clock.ts', 'docs/architecture.md', 'src/query/answer.ts']);
  const src = [
    '// clock.ts, lib/clock.ts, ./answer.ts and docs/architecture.md exist; https://example.org/x/gone.ts is a link;',
    '// *.test.ts is a glob. But container_manager.ts, frontend/clock.ts and ./clock.ts are stale.',
    'export const x = 1; /* so is dist/src/gone.d.ts */',
  ].join('\n');
  assert.deepEqual(staleFileRefs(parse('src/query/q.ts', src), exists), [
    'src/query/q.ts:2 names container_manager.ts, which is not in the repository',
    'src/query/q.ts:2 names frontend/clock.ts, which is not in the repository',
    'src/query/q.ts:2 names ./clock.ts, which is not in the repository',
    'src/query/q.ts:3 names dist/src/gone.d.ts, which is not in the repository',
  ]);
});

test('the entry point check reads main, types, nested exports and bin', () => {
  const pkg = { main: './dist/src/index.js', exports: { '.': { types: './dist/src/index.d.ts' } }, bin: { tool: 'bin/tool.js' } };
  assert.deepEqual(entryPoints(pkg), [
    { field: 'main', file: 'dist/src/index.js' },
    { field: "exports['.'].types", file: 'dist/src/index.d.ts' },
    { field: 'bin.tool', file: 'bin/tool.js' },
  ]);
  assert.equal(sourceOf('dist/src/index.d.ts'), 'src/index.ts');
  assert.equal(sourceOf('dist/tools/loadgen/main.js'), 'tools/loadgen/main.ts');
});
