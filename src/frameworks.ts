// The model frameworks a container spec may name (`container.framework`, `clipper deploy
// --framework`). A framework implies the runtime whose runner loads it (containers/node/runner.ts or
// containers/python/clipper_container/runner.py, told with `--framework NAME`) and the kinds of file
// that runner can load. The admin API, the store's reader, the CLI and the managers all read this
// one table, so a deploy is refused with a 400 naming the field before any replica is started.

import { ClipperError } from './errors.js';

export const kFrameworks = ['python', 'node', 'sklearn', 'pytorch', 'xgboost', 'onnx'] as const;
export type Framework = (typeof kFrameworks)[number];
export type Runtime = 'node' | 'python';

interface FrameworkRule {
  readonly runtime: Runtime;
  /** The entry file's name endings (lower case) the runner loads; null: any (a folder's module may be named freely). */
  readonly entryEndings: readonly string[] | null;
  readonly entryDescribe: string;
  /** What the replica's machine needs besides the runner (README, "Deploy from your framework"). */
  readonly needs: string;
  /** Debian packages a Docker image of this framework installs (added to pkgs_to_install). */
  readonly debianPackages: readonly string[];
}

const kPickles = ['.pkl', '.pickle', '.cloudpickle'];

export const kFrameworkRules: Readonly<Record<Framework, FrameworkRule>> = Object.freeze({
  python: {
    runtime: 'python',
    entryEndings: ['.py', ...kPickles],
    entryDescribe: 'a .py file or a pickle (.pkl, .pickle, .cloudpickle)',
    needs: 'Debian packages python3-msgpack, python3-numpy (python3-cloudpickle for pickles)',
    debianPackages: [],
  },
  node: {
    runtime: 'node',
    entryEndings: ['.js', '.mjs', '.cjs'],
    entryDescribe: 'an ES module (.mjs, .js, .cjs)',
    needs: 'nothing beyond Node',
    debianPackages: [],
  },
  sklearn: {
    runtime: 'python',
    entryEndings: kPickles,
    entryDescribe: 'a pickled estimator (.pkl, .pickle, .cloudpickle)',
    needs: 'Debian package python3-sklearn',
    debianPackages: [],
  },
  pytorch: {
    runtime: 'python',
    entryEndings: ['.pt', '.pth', ...kPickles],
    entryDescribe: 'a TorchScript file (.pt, .pth) or a bundle pickled by the Python deployer (.pkl)',
    needs: 'Debian package python3-torch',
    debianPackages: ['python3-torch'],
  },
  xgboost: {
    runtime: 'python',
    entryEndings: ['.json', '.ubj', '.model', '.bst', ...kPickles],
    entryDescribe: 'a Booster file (.json, .ubj, .model, .bst) or a pickled XGBClassifier/XGBRegressor (.pkl)',
    needs: 'Debian package python3-xgboost',
    debianPackages: ['python3-xgboost'],
  },
  onnx: {
    runtime: 'node',
    entryEndings: ['.onnx'],
    entryDescribe: 'an ONNX model file (.onnx)',
    needs: 'npm package onnxruntime-node (a dependency of clipper-ts)',
    debianPackages: [],
  },
});

function invalid(message: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', message);
}

export function isFramework(value: unknown): value is Framework {
  return typeof value === 'string' && (kFrameworks as readonly string[]).includes(value);
}

/** The runtime a framework runs in. */
export function runtimeOfFramework(framework: Framework): Runtime {
  return kFrameworkRules[framework].runtime;
}

export interface RuntimeChoice {
  runtime?: Runtime;
  framework?: Framework;
}

/**
 * `container.runtime` and `container.framework` of a spec: the framework implies the runtime (which
 * may then be omitted); both given must agree. `needsRuntime`: the spec runs a file (no image), so
 * one of the two is required. A 400 names the field, what it got and what it accepts.
 */
export function checkRuntimeAndFramework(runtime: unknown, framework: unknown, needsRuntime: boolean, docker = false): RuntimeChoice {
  const out: RuntimeChoice = {};
  if (framework !== undefined) {
    if (!isFramework(framework)) {
      throw invalid(`container.framework must be one of ${kFrameworks.join(', ')} (got ${JSON.stringify(framework)})`);
    }
    out.framework = framework;
    out.runtime = runtimeOfFramework(framework);
  }
  if (runtime === undefined && (out.runtime !== undefined || !needsRuntime)) return out;
  if (runtime !== 'node' && runtime !== 'python') {
    throw invalid(
      `container.runtime must be 'node' or 'python' (got ${JSON.stringify(runtime) ?? 'nothing'})` +
        `${docker ? ', or give container.image' : ''}; or give container.framework (${kFrameworks.join(', ')})`,
    );
  }
  if (out.runtime !== undefined && out.runtime !== runtime) {
    throw invalid(
      `container.runtime '${runtime}' cannot run container.framework '${framework as string}', which runs in the ` +
        `${out.runtime} runtime: give "runtime": "${out.runtime}" or leave runtime out`,
    );
  }
  out.runtime = runtime;
  return out;
}

/** A framework's entry must be a file its runner loads (by name: the runner reports a bad file's content). */
export function checkFrameworkEntry(framework: Framework, entry: string, field = 'container.entry'): void {
  const rule = kFrameworkRules[framework];
  const lower = entry.toLowerCase();
  if (rule.entryEndings !== null && !rule.entryEndings.some((ending) => lower.endsWith(ending))) {
    throw invalid(`${field} ${JSON.stringify(entry)} is not a file framework ${framework} loads: give ${rule.entryDescribe}`);
  }
}

/** The runner flag of a framework: ['--framework', name], or none when the spec names no framework. */
export function frameworkArgs(framework: unknown): string[] {
  if (framework === undefined) return [];
  // A record may come from a shared store: checked again before it becomes an argv element.
  if (!isFramework(framework)) throw invalid(`container.framework must be one of ${kFrameworks.join(', ')} (got ${String(framework)})`);
  return ['--framework', framework];
}
