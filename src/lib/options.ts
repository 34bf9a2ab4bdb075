// Option validation, one rule for every options object (cluster config, scheduler, AIMD, latency
// model, cache): a refused value is a ClipperError CLP_ERR_INVALID_ARG whose message names the
// option as `<scope>.<option> <rule> (got <value>)`, and whose `details.option` is the bare option
// name, so a caller can add where the value came from (config_sources.ts names the flag or file).

import { ClipperError } from '../errors.js';

/** Which ends of a numeric range are included: '[]' both, '(]' only the upper, and so on. */
export type RangeEnds = '[]' | '(]' | '[)' | '()';

export class OptionChecks {
  readonly #scope: string;

  /** `scope` prefixes every option name in messages ('config', 'scheduler', 'aimd', ...). */
  constructor(scope: string) {
    this.#scope = scope;
  }

  /** Refuses `option`: `<scope>.<option> <rule> (got <value>)`. */
  fail(option: string, rule: string, got: unknown): never {
    // JSON would show NaN and Infinity as null
    const shown = got === undefined ? 'nothing' : typeof got === 'number' ? String(got) : (JSON.stringify(got) ?? String(got));
    throw new ClipperError('CLP_ERR_INVALID_ARG', `${this.#scope}.${option} ${rule} (got ${shown})`, { option });
  }

  /** Refuses every key of `overrides` that `defaults` does not have. */
  known(overrides: object, defaults: object): void {
    for (const [key, value] of Object.entries(overrides)) {
      if (!Object.hasOwn(defaults, key)) this.fail(key, 'is not a known option', value);
    }
  }

  /** An integer in [min, max]; max omitted: any integer >= min. */
  int(option: string, value: unknown, min: number, max = Number.POSITIVE_INFINITY): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(
        option,
        max === Number.POSITIVE_INFINITY ? `must be an integer >= ${min}` : `must be an integer in [${min}, ${max}]`,
        value,
      );
    }
  }

  /** A number between min and max, ends included as `ends` says; max omitted: only the lower bound. */
  number(option: string, value: unknown, min: number, max = Number.POSITIVE_INFINITY, ends: RangeEnds = '[]'): void {
    const lowOk = ends[0] === '[' ? (v: number) => v >= min : (v: number) => v > min;
    // No upper bound: every number above min passes, Infinity included ("never time out").
    const highOk = ends[1] === ']' || max === Number.POSITIVE_INFINITY ? (v: number) => v <= max : (v: number) => v < max;
    if (typeof value !== 'number' || Number.isNaN(value) || !lowOk(value) || !highOk(value)) {
      const rule =
        max === Number.POSITIVE_INFINITY
          ? `must be a number ${ends[0] === '[' ? '>=' : '>'} ${min}`
          : `must be a number in ${ends[0]}${min}, ${max}${ends[1]}`;
      this.fail(option, rule, value);
    }
  }

  /** One of a few strings. */
  oneOf(option: string, value: unknown, allowed: readonly string[]): void {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      const words = allowed.map((a) => `'${a}'`);
      this.fail(option, `must be ${words.length > 1 ? `${words.slice(0, -1).join(', ')} or ` : ''}${words.at(-1) ?? "''"}`, value);
    }
  }
}

/**
 * Defaults overlaid with the overrides that are not undefined, unknown keys refused: the first step
 * of resolving any options object (each resolver then checks the values).
 */
export function withDefaults<T extends object>(checks: OptionChecks, defaults: Readonly<T>, overrides: Partial<T>): T {
  checks.known(overrides, defaults);
  const out = { ...defaults } as T;
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}
