// `clipper` subcommands for pipeline apps (docs/pipelines.md): set-pipeline and get-pipeline-stats,
// and the --pipeline argument of register-app (alias add-app, cli/admin.ts): a JSON file or the JSON
// text itself. The server validates the pipeline and names the stage at fault.

import { readFileSync } from 'node:fs';
import { parse, say } from './admin_args.js';
import { ClipperError } from '../errors.js';
import type { PipelineSpec } from '../pipeline_spec.js';

export const kPipelineUsage = `  set-pipeline  set an application's pipeline of models: APP FILE|JSON (a JSON file, or the
            JSON itself, e.g. '{"stages":[...],"output":"s"}'; null makes it a plain app again)
  get-pipeline-stats  per-stage counters of a pipeline application, as JSON: APP
`;

function invalid(message: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', message);
}

/**
 * A pipeline given on the command line: JSON text when it starts with '{' (or is null), else the
 * name of a JSON file. `what` names the argument in errors.
 */
export function readPipelineArg(what: string, value: string): PipelineSpec | null {
  const trimmed = value.trim();
  const inline = trimmed.startsWith('{') || trimmed === 'null';
  let text = trimmed;
  if (!inline) {
    try {
      text = readFileSync(value, 'utf8');
    } catch (err) {
      throw invalid(`${what}: cannot read ${value}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(`${what}: ${inline ? 'the text' : value} is not JSON: ${(err as Error).message}`);
  }
  if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
    throw invalid(`${what} must be a JSON object {"stages": [...], "output": <stage>} (docs/pipelines.md)`);
  }
  return parsed as PipelineSpec | null;
}

/** APP and one more positional argument at most, as the usage says. */
function positionals(command: string, got: string[], names: readonly string[]): string[] {
  if (got.length !== names.length) throw invalid(`usage: clipper ${command} ${names.join(' ')}`);
  return got;
}

async function setPipeline(argv: string[]): Promise<void> {
  const { positionals: args, connection } = parse(argv, {}, true);
  const [app, source] = positionals('set-pipeline', args, ['APP', 'FILE|JSON']);
  say(await connection.setAppPipeline(app!, readPipelineArg('the pipeline', source!)));
}

async function getPipelineStats(argv: string[]): Promise<void> {
  const { positionals: args, connection } = parse(argv, {}, true);
  const [app] = positionals('get-pipeline-stats', args, ['APP']);
  say(JSON.stringify(await connection.getPipelineStats(app!), null, 2));
}

export const kPipelineCommands: Readonly<Record<string, (argv: string[]) => Promise<void>>> = {
  'set-pipeline': setPipeline,
  'get-pipeline-stats': getPipelineStats,
};
