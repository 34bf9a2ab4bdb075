// A container spec's runtime options (`container.options`): each becomes the runner flag
// `--<name> <value>`, passed as two argv elements (local processes: child_process.spawn with an
// argv array; Docker: the image's exec-form CMD), never through a shell. Only the options a runner
// understands are accepted, each with a value pattern, so that a spec can neither override the
// flags the manager sets (--model, --host, --port, ...) nor smuggle another flag in a value.
// docs/reliability.md, "Model directories and runtime options".

import { ClipperError } from './errors.js';
import type { Framework } from './frameworks.js';

export type RuntimeOptionValue = string | number | boolean;

interface RuntimeOptionRule {
  /** The runtimes whose runner reads it (others accept and ignore it: one spec may name either). */
  readonly runtimes: readonly ('node' | 'python')[];
  /** The frameworks it applies to (container.framework); absent: any. A spec naming it otherwise is refused. */
  readonly frameworks?: readonly Framework[];
  /** The value, as the runner gets it (String(value)). */
  readonly pattern: RegExp;
  readonly describe: string;
}

/** The allowlist: option name → its values. */
export const kRuntimeOptions: Readonly<Record<string, RuntimeOptionRule>> = Object.freeze({
  // containers/node/runner.ts: predict on a worker thread (default) or on the runner's own thread.
  isolate: { runtimes: ['node', 'python'], pattern: /^(thread|inline)$/, describe: "'thread' or 'inline'" },
  // Where a model runs: 'auto' is cuda when the replica's machine has one (and, for ONNX, the CUDA provider), else cpu.
  device: {
    runtimes: ['node', 'python'],
    frameworks: ['pytorch', 'onnx'],
    pattern: /^(cpu|cuda|auto)$/,
    describe: "'cpu', 'cuda' or 'auto'",
  },
  // Intra-op threads of one replica; the runners' default is 1 (a replica is the unit of parallelism).
  threads: {
    runtimes: ['node', 'python'],
    frameworks: ['pytorch', 'xgboost', 'onnx'],
    pattern: /^([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-6])$/,
    describe: 'an integer from 1 to 256',
  },
});

/** Debian package names (Dockerfile RUN apt-get install ...): Debian policy §5.6.1. */
export const kDebianPackagePattern = /^[a-z0-9][a-z0-9+.-]+$/;

function invalid(message: string, option: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', message, { option });
}

/** Checks one option against the allowlist; a 400 that names the option and what it accepts. */
export function checkRuntimeOption(name: string, value: unknown): RuntimeOptionValue {
  const rule = Object.hasOwn(kRuntimeOptions, name) ? kRuntimeOptions[name] : undefined;
  if (rule === undefined) {
    throw invalid(
      `container.options.${name} is not a runtime option (known: ${Object.keys(kRuntimeOptions).join(', ')}); ` +
        'the manager sets the model, function, name, version, input type, host and port itself',
      name,
    );
  }
  if (typeof value !== 'string' && typeof value !== 'boolean' && !(typeof value === 'number' && Number.isFinite(value))) {
    throw invalid(`container.options.${name} must be ${rule.describe} (got ${JSON.stringify(value) ?? typeof value})`, name);
  }
  if (!rule.pattern.test(String(value))) {
    throw invalid(`container.options.${name} must be ${rule.describe} (got ${JSON.stringify(value)})`, name);
  }
  return value;
}

/** Checks every option of a spec; returns a copy. */
export function checkRuntimeOptions(options: Readonly<Record<string, unknown>>): Record<string, RuntimeOptionValue> {
  const out: Record<string, RuntimeOptionValue> = {};
  for (const [name, value] of Object.entries(options)) out[name] = checkRuntimeOption(name, value);
  return out;
}

/**
 * Options that belong to some frameworks only (device, threads) are refused on a spec of another
 * framework, or of none, so that a typo never runs a model silently without them.
 */
export function checkOptionsApply(options: Readonly<Record<string, unknown>> | undefined, framework: Framework | undefined): void {
  for (const name of Object.keys(options ?? {})) {
    const frameworks = Object.hasOwn(kRuntimeOptions, name) ? kRuntimeOptions[name]!.frameworks : undefined;
    if (frameworks === undefined || (framework !== undefined && frameworks.includes(framework))) continue;
    const list = frameworks.length === 1 ? frameworks[0] : `${frameworks.slice(0, -1).join(', ')} or ${frameworks.at(-1)}`;
    throw invalid(
      `container.options.${name} applies to framework ${list} only ` +
        `(this spec's framework is ${framework ?? 'not given: add container.framework'})`,
      name,
    );
  }
}

/** The runner flags of a spec's options: ['--isolate', 'inline', ...], each option checked again. */
export function runtimeOptionArgs(options: Readonly<Record<string, unknown>> | undefined): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries(checkRuntimeOptions(options ?? {}))) args.push(`--${name}`, String(value));
  return args;
}
