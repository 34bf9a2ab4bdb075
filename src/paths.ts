// Locations of the project's own files, from the compiled module's place (dist/src/paths.js).

import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const kRepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const kNodeRunnerPath = path.join(kRepoRoot, 'dist', 'containers', 'node', 'runner.js');
export const kPythonRunnerPath = path.join(kRepoRoot, 'containers', 'python', 'clipper_container', 'runner.py');
export const kPythonInterpreter = process.env.CLIPPER_PYTHON ?? '/usr/bin/python3';
export const kExamplesDir = path.join(kRepoRoot, 'containers', 'node', 'examples');
/** The load generator (`clipper bench`): a tool of its own, run as a child process, never imported. */
export const kLoadgenPath = path.join(kRepoRoot, 'dist', 'tools', 'loadgen', 'main.js');
