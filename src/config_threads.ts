// The thread counts a cluster starts with when the configuration does not set them (config.ts): query
// frontend threads and batching threads, from the cores and, for frontend threads, the environment
// variable CLIPPER_FRONTEND_THREADS (so a whole test run, whose clusters set no count, can run in
// either mode: `CLIPPER_FRONTEND_THREADS=2 npm test`).

import { OptionChecks } from './lib/options.js';

export const kFrontendThreadsMax = 32;
/** The variable whose value is frontendThreads' default (it is also the option's own variable, config_sources.ts). */
export const kFrontendThreadsEnv = 'CLIPPER_FRONTEND_THREADS';

const checks = new OptionChecks('config');

/**
 * frontendThreads when not set: the variable when set (not empty), else 1 below 4 cores (the main
 * thread serves queries itself, as a frontend thread would only add a hand-off), else half the cores,
 * at most 8 (the other half batches).
 */
export function defaultFrontendThreads(envText: string | undefined, cores: number): number {
  if (envText !== undefined && envText.trim() !== '') {
    const value = Number(envText.trim());
    if (!Number.isInteger(value) || value < 1 || value > kFrontendThreadsMax) {
      checks.fail('frontendThreads', `must be an integer in [1, ${kFrontendThreadsMax}], set by env ${kFrontendThreadsEnv}`, envText);
    }
    return value;
  }
  return cores < 4 ? 1 : Math.min(8, Math.floor(cores / 2));
}

/**
 * batchingThreads when not set: cores − 1 with one frontend (the main thread); with N frontend threads
 * cores − N, so frontend and batching threads together stay within the cores (the main thread then only
 * runs the admin server and control, mostly idle); at least 1 either way.
 */
export function defaultBatchingThreads(cores: number, frontendThreads: number): number {
  return Math.max(1, cores - Math.max(1, frontendThreads));
}

/**
 * frontendThreads' default as the process starts (kDefaultConfig, --help, --print-config), from the
 * variable as it is then; a bad value is left to resolveConfig to report, not thrown at import.
 */
export function startupFrontendThreads(cores: number): number {
  try {
    return defaultFrontendThreads(process.env[kFrontendThreadsEnv], cores);
  } catch {
    return defaultFrontendThreads(undefined, cores);
  }
}

/** resolveConfig's step for the thread counts the overrides leave unset (the variable as it is now). */
export function fillThreadDefaults(
  config: { frontendThreads: number; batchingThreads: number },
  overrides: { frontendThreads?: number | undefined; batchingThreads?: number | undefined },
  cores: number,
): void {
  if (overrides.frontendThreads === undefined) config.frontendThreads = defaultFrontendThreads(process.env[kFrontendThreadsEnv], cores);
  if (overrides.batchingThreads === undefined) config.batchingThreads = defaultBatchingThreads(cores, config.frontendThreads);
}
