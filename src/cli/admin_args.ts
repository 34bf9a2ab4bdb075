// What the `clipper` management subcommands (cli/admin*.ts) share: their argument parsing, the
// connection to a running cluster (--admin-url, --query-url, --admin-token, --admin-token-file), and
// printing.

import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ClipperConnection } from '../client/admin_client.js';
import { ClipperError } from '../errors.js';

const kConnectionOptions = {
  'admin-url': { type: 'string', default: 'http://127.0.0.1:1338' },
  'query-url': { type: 'string', default: 'http://127.0.0.1:1337' },
  'admin-token': { type: 'string' },
  'admin-token-file': { type: 'string' },
} as const;

/**
 * The management API token to send: --admin-token, else --admin-token-file (trimmed), else
 * $CLIPPER_ADMIN_TOKEN, else $CLIPPER_ADMIN_TOKEN_FILE; '' for none.
 */
export function adminTokenOf(values: Values, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const token = values['admin-token'];
  const file = values['admin-token-file'];
  if (typeof token === 'string' && typeof file === 'string') {
    throw new ClipperError('CLP_ERR_INVALID_ARG', 'give --admin-token or --admin-token-file, not both');
  }
  if (typeof token === 'string') return token;
  if (typeof file === 'string') return readTokenFile('--admin-token-file', file);
  if (env.CLIPPER_ADMIN_TOKEN !== undefined && env.CLIPPER_ADMIN_TOKEN !== '') return env.CLIPPER_ADMIN_TOKEN;
  const envFile = env.CLIPPER_ADMIN_TOKEN_FILE;
  return envFile === undefined || envFile === '' ? '' : readTokenFile('CLIPPER_ADMIN_TOKEN_FILE', envFile);
}

function readTokenFile(source: string, file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `${source}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (token === '') throw new ClipperError('CLP_ERR_INVALID_ARG', `${source}: ${file} is empty`);
  return token;
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
  required: (name: string) => string;
  connection: ClipperConnection;
}

/** `--opt value` → `--opt=value` for string options, so values may start with '-' (`--default-output -1`). */
function joinValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const option = arg.startsWith('--') && !arg.includes('=') ? options[arg.slice(2)] : undefined;
    if (option?.type === 'string' && i + 1 < argv.length) out.push(`${arg}=${argv[++i]!}`);
    else out.push(arg);
  }
  return out;
}

/** Parses a subcommand's argv (strict: an unknown option is refused); positionals only when allowed. */
export function parse(argv: string[], options: Options, allowPositionals = false): Parsed {
  const all: Options = { ...kConnectionOptions, ...options };
  const parsed = parseArgs({ args: joinValues(argv, all), options: all, strict: true, allowPositionals: allowPositionals });
  const values = parsed.values as Values;
  const required = (name: string): string => {
    const value = values[name];
    if (typeof value !== 'string' || value === '') throw new ClipperError('CLP_ERR_INVALID_ARG', `--${name} is required`);
    return value;
  };
  const connection = new ClipperConnection({
    adminUrl: values['admin-url'] as string,
    queryUrl: values['query-url'] as string,
    adminToken: adminTokenOf(values),
  });
  return { values, positionals: parsed.positionals, required, connection };
}

export function intValue(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isInteger(n)) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `--${name} must be an integer (got ${String(value)})`);
  }
  return n;
}

export function stringValue(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function say(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Rows of cells as columns padded to their widest cell, a header row first. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
