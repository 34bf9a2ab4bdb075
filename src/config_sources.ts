// Where `clipper start` takes its configuration from, over kDefaultConfig (src/config.ts):
//   a JSON file            --config FILE            {"cacheBytesMax": 0, "queryPort": 1400}
//   environment variables  CLIPPER_<OPTION_IN_UPPER_SNAKE>    CLIPPER_CACHE_BYTES_MAX=0
//   flags                  --<option-in-kebab-case> VALUE     --cache-bytes-max 0 (or =0)
// One precedence rule: flags > environment > config file > defaults. Only variable names that map
// to an option are read, so CLIPPER_NODE_FLAGS, CLIPPER_PYTHON, CLIPPER_BENCH_* and other CLIPPER_*
// variables are left alone. Text values (environment, flags) are parsed by the option's type;
// resolveConfig validates the merged result and its messages name the option, to which this adds
// the source that set it. Pure: argv, env and a file reader in, a config and each value's source out.

import { kConfigEnums, kConfigFractional, kDefaultConfig, resolveConfig, type ClipperConfig } from './config.js';
import { ClipperError } from './errors.js';
import { splitDirList } from './model_dirs.js';
import { redactRedisUrl } from './state/redis_keys.js';

export type ConfigOption = keyof ClipperConfig;

export const kConfigOptions: readonly ConfigOption[] = Object.freeze(Object.keys(kDefaultConfig) as ConfigOption[]);

/** Short flag names kept from before every option had a flag. */
export const kFlagAliases: Readonly<Record<string, ConfigOption>> = Object.freeze({ threads: 'batchingThreads' });

/** `clipper start`'s own switches (not options of the cluster). */
const kSwitches = ['example', 'print-config', 'help'] as const;

export type OptionKind = 'integer' | 'number' | 'string' | 'enum' | 'list';

function wordsOf(option: string): string[] {
  return option.split(/(?=[A-Z])/).map((word) => word.toLowerCase());
}

/** cacheBytesMax → CLIPPER_CACHE_BYTES_MAX */
export function envNameOf(option: ConfigOption): string {
  return `CLIPPER_${wordsOf(option).join('_').toUpperCase()}`;
}

/** cacheBytesMax → cache-bytes-max (the flag is --cache-bytes-max) */
export function flagNameOf(option: ConfigOption): string {
  return wordsOf(option).join('-');
}

export function kindOf(option: ConfigOption): OptionKind {
  if (kConfigEnums[option] !== undefined) return 'enum';
  if (Array.isArray(kDefaultConfig[option])) return 'list';
  if (typeof kDefaultConfig[option] === 'string') return 'string';
  return kConfigFractional.has(option) ? 'number' : 'integer';
}

const kOptionOfFlag: ReadonlyMap<string, ConfigOption> = new Map<string, ConfigOption>([
  ...kConfigOptions.map((option): [string, ConfigOption] => [flagNameOf(option), option]),
  ...Object.entries(kFlagAliases),
]);

function refuse(message: string): never {
  throw new ClipperError('CLP_ERR_INVALID_ARG', message);
}

/** A value given as text (environment, flag), parsed by the option's type; `source` names where it came from. */
export function parseOptionText(option: ConfigOption, text: string, source: string): string | number | string[] {
  const kind = kindOf(option);
  // A list (modelDirs): separated by ',' or the path delimiter (':'), as in PATH.
  if (kind === 'list') return splitDirList(text);
  if (kind === 'string' || kind === 'enum') return text; // resolveConfig checks the enums' values
  const trimmed = text.trim().replace(/(?<=\d)_(?=\d)/g, '');
  const value = trimmed === '' ? Number.NaN : Number(trimmed);
  if (!Number.isFinite(value) || (kind === 'integer' && !Number.isInteger(value))) {
    refuse(`${source}: ${option} must be ${kind === 'integer' ? 'an integer' : 'a number'} (got ${JSON.stringify(text)})`);
  }
  return value;
}

export interface StartArgs {
  example: boolean;
  printConfig: boolean;
  help: boolean;
  configPath: string | null;
  /** In the order given; a later flag for the same option wins. */
  flags: Array<{ option: ConfigOption; flag: string; text: string }>;
}

/** `clipper start`'s argv: --flag VALUE or --flag=VALUE (a value may start with '-'), and the switches. */
export function parseStartArgv(argv: readonly string[]): StartArgs {
  const args: StartArgs = { example: false, printConfig: false, help: false, configPath: null, flags: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      args.help = true;
      continue;
    }
    if (!arg.startsWith('--')) refuse(`clipper start: unexpected argument '${arg}' (see clipper start --help)`);
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if ((kSwitches as readonly string[]).includes(name)) {
      if (eq >= 0) refuse(`clipper start: --${name} takes no value`);
      if (name === 'example') args.example = true;
      else if (name === 'print-config') args.printConfig = true;
      else args.help = true;
      continue;
    }
    const option = kOptionOfFlag.get(name);
    if (option === undefined && name !== 'config') refuse(`clipper start: unknown option --${name} (see clipper start --help)`);
    let text: string;
    if (eq >= 0) text = arg.slice(eq + 1);
    else if (i + 1 < argv.length) text = argv[++i]!;
    else refuse(`clipper start: --${name} needs a value`);
    if (option === undefined) args.configPath = text;
    else args.flags.push({ option, flag: `--${name}`, text });
  }
  return args;
}

/** The options set by environment variables CLIPPER_<OPTION_IN_UPPER_SNAKE>; empty ones count as unset. */
export function optionsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Array<{ option: ConfigOption; source: string; value: unknown }> {
  const out: Array<{ option: ConfigOption; source: string; value: unknown }> = [];
  for (const option of kConfigOptions) {
    const name = envNameOf(option);
    const text = env[name];
    if (text === undefined || text === '') continue;
    const source = `env ${name}`;
    out.push({ option, source, value: parseOptionText(option, text, source) });
  }
  return out;
}

/** A config name as written in a file: exact (camelCase), else a hint for kebab/snake/other case. */
function suggestionFor(key: string): string {
  const squashed = key.replace(/[-_]/g, '').toLowerCase();
  const match = kConfigOptions.find((option) => option.toLowerCase() === squashed);
  return match === undefined ? ` (options: ${kConfigOptions.join(', ')})` : ` (did you mean '${match}'?)`;
}

/** The options of a JSON config file: an object of option names (as in kDefaultConfig) to JSON values. */
export function optionsFromFile(filePath: string, text: string): Array<{ option: ConfigOption; source: string; value: unknown }> {
  const source = `file ${filePath}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    refuse(`config file ${filePath} is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    refuse(`config file ${filePath} must hold a JSON object of options, e.g. {"cacheBytesMax": 0}`);
  }
  return Object.entries(parsed as Record<string, unknown>).map(([key, value]) => {
    if (!Object.hasOwn(kDefaultConfig, key)) refuse(`config file ${filePath}: unknown option '${key}'${suggestionFor(key)}`);
    return { option: key as ConfigOption, source, value };
  });
}

export interface ConfigSourcesInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Reads the --config file (fs.readFileSync in the CLI, a stub in tests). */
  readText: (filePath: string) => string;
}

export interface StartConfig extends Omit<StartArgs, 'flags'> {
  config: Readonly<ClipperConfig>;
  /** Each option's source: 'default', 'file PATH', 'env CLIPPER_X' or 'flag --x'. */
  sources: Readonly<Record<ConfigOption, string>>;
}

/** Merges the sources (flags > environment > config file > defaults) and validates the result. */
export function configFromSources(input: ConfigSourcesInput): StartConfig {
  const { flags, ...args } = parseStartArgv(input.argv);
  let fileOptions: ReturnType<typeof optionsFromFile> = [];
  if (args.configPath !== null) {
    const filePath = args.configPath;
    let text: string;
    try {
      text = input.readText(filePath);
    } catch (err) {
      refuse(`config file ${filePath} cannot be read: ${(err as Error).message}`);
    }
    fileOptions = optionsFromFile(filePath, text);
  }
  const layers = [
    ...fileOptions,
    ...optionsFromEnv(input.env),
    ...flags.map(({ option, flag, text }) => ({ option, source: `flag ${flag}`, value: parseOptionText(option, text, `flag ${flag}`) })),
  ];
  const overrides: Record<string, unknown> = {};
  const sources = Object.fromEntries(kConfigOptions.map((option) => [option, 'default'])) as Record<ConfigOption, string>;
  for (const { option, source, value } of layers) {
    overrides[option] = value;
    sources[option] = source;
  }
  let config: Readonly<ClipperConfig>;
  try {
    config = resolveConfig(overrides as Partial<ClipperConfig>);
  } catch (err) {
    const option = err instanceof ClipperError ? err.details?.option : undefined;
    if (typeof option !== 'string' || sources[option as ConfigOption] === undefined) throw err;
    const error = err as ClipperError;
    throw new ClipperError(error.code, `${error.message}, set by ${sources[option as ConfigOption]}`, error.details);
  }
  return { ...args, config, sources: Object.freeze(sources) };
}

/** `clipper start --print-config`: the effective options and, under "sources", where each came from. */
export function formatEffectiveConfig(start: StartConfig): string {
  // Secrets are not printed: the admin token only as set or not, a Redis URL without its password.
  const config = {
    ...start.config,
    adminToken: start.config.adminToken === '' ? '' : '(hidden)',
    state: redactRedisUrl(start.config.state),
  };
  return `${JSON.stringify({ config, sources: start.sources }, null, 2)}\n`;
}

/** `clipper start --help`: every option with its flag, variable and default. */
export function startOptionsUsage(): string {
  const rows = kConfigOptions.map((option) => {
    const alias = Object.entries(kFlagAliases).find(([, o]) => o === option)?.[0];
    const flag = `--${flagNameOf(option)}${alias === undefined ? '' : ` (--${alias})`}`;
    const kind = kindOf(option);
    const what = kind === 'enum' ? kConfigEnums[option]!.join('|') : kind;
    return `  ${flag.padEnd(40)} ${envNameOf(option).padEnd(38)} ${what.padEnd(18)} ${JSON.stringify(kDefaultConfig[option])}`;
  });
  return `usage: clipper start [--example] [--config FILE] [--print-config] [--<option> VALUE ...]

  --example        also deploy Clipper's quickstart (app hello-world → sum-model)
  --config FILE    a JSON object of options, e.g. {"cacheBytesMax": 0, "queryPort": 1400}
  --print-config   print the effective configuration and each value's source as JSON, then exit

Every option is a flag --<option-in-kebab-case> VALUE (or =VALUE), an environment variable
CLIPPER_<OPTION_IN_UPPER_SNAKE>, and a key of the config file. Precedence: flags > environment >
config file > defaults. An empty variable counts as unset. (README.md, "Configuration")

  ${'flag'.padEnd(40)} ${'environment variable'.padEnd(38)} ${'type'.padEnd(18)} default
${rows.join('\n')}
`;
}
