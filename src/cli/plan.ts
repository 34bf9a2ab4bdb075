// `clipper plan APP --rate R ...` (docs/pipelines.md, "clipper plan"): fetch the pipeline app, profile
// each of its models on a real replica (src/planner/profiler.ts) or read a saved profile, search the
// per-model batch sizes and replica counts that meet the SLO with the fewest replicas under the
// workload (src/planner/search.ts, simulated), print the plan, and with --apply (refused for a plan
// that misses its SLO, unless --force) clear the app's stored plan, set each model's batch size and
// replicas and store the new plan on the app.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClipperClientError, type ClipperConnection, type ModelInfo } from '../client/admin_client.js';
import { ClipperError } from '../errors.js';
import { parseInputType, type InputType } from '../input_types.js';
import { systemClock } from '../lib/clock.js';
import { kRepoRoot } from '../paths.js';
import { pipelineModels, validatePlan, type PipelinePlan, type PipelineSpec } from '../pipeline_spec.js';
import { oipRoundTripUs, oipServerTotals } from '../planner/hop_probe.js';
import { profileFromJson, profileToJson, type PipelineProfile } from '../planner/profile.js';
import { kProfilerDefaults, profilePipeline, type ProfiledModel, type ProfilerPorts } from '../planner/profiler.js';
import { connectReplica, startProfilingReplica, type ReplicaPort, type RunnableModel } from '../planner/profiler_replica.js';
import { fallthroughLines, formatPlanTable } from '../planner/plan_table.js';
import { planMeetsSlo, planPipelineReport } from '../planner/search.js';
import { kMissRatioMax } from '../planner/search_steps.js';
import { parse, say, stringValue } from './admin_args.js';
import { kPlanOptions, parseSamples, planWorkload, randomSamples, readFlagFile, readPlanArgs, type PlanArgs } from './plan_args.js';

/** How long a profiling replica may take to start and answer its handshake. */
const kReplicaStartTimeoutMs = 60_000;

interface PipelineApp {
  name: string;
  inputType: InputType;
  sloMicros: number;
  spec: PipelineSpec;
}

/** The app, refused with 404 when there is none and 400 when it is not a pipeline app. */
async function pipelineApp(connection: ClipperConnection, name: string): Promise<PipelineApp> {
  const info = await connection.getAppInfo(name);
  if (info === null) throw new ClipperError('CLP_ERR_APP_NOT_FOUND', `no application named '${name}'`);
  if (info.pipeline === undefined) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `application '${name}' has no pipeline: clipper plan plans pipeline apps (docs/pipelines.md; add one with clipper set-pipeline)`,
    );
  }
  const inputType = parseInputType(info.input_type);
  if (inputType === undefined) throw new ClipperError('CLP_ERR_INTERNAL', `application '${name}' has input type ${info.input_type}`);
  return { name, inputType, sloMicros: info.latency_slo_micros, spec: info.pipeline };
}

/** The current version of every model the pipeline calls. */
async function currentModels(connection: ClipperConnection, names: readonly string[]): Promise<Map<string, ModelInfo>> {
  const all = await connection.getAllModels(true);
  const out = new Map<string, ModelInfo>();
  for (const name of names) {
    const current = all.find((m) => m.model_name === name && m.is_current_version);
    if (current === undefined) throw new ClipperError('CLP_ERR_NOT_FOUND', `the pipeline's model '${name}' has no current version`);
    out.set(name, current);
  }
  return out;
}

function profiledModel(info: ModelInfo): ProfiledModel {
  const inputType = parseInputType(info.input_type);
  if (inputType === undefined) throw new ClipperError('CLP_ERR_INTERNAL', `model '${info.model_name}' has input type ${info.input_type}`);
  return { model: info.model_name, version: info.model_version, inputType };
}

/**
 * A replica to measure on: a dedicated one started here from the model's record when its runner can
 * run on this machine (a runtime or framework, and an entry file that exists here), else one of the
 * model's running replicas, dialled (profiler_replica.ts says why).
 */
async function openReplica(connection: ClipperConnection, info: ModelInfo): Promise<ReplicaPort> {
  const container = info.container ?? null;
  const runnable = container !== null && container.image === undefined && container.entry !== undefined;
  if (runnable && existsSync(path.resolve(kRepoRoot, container.entry!))) {
    const record: RunnableModel = { ...info, container, num_replicas: 1, batch_size: info.batch_size ?? -1 } as RunnableModel;
    return startProfilingReplica(record, kReplicaStartTimeoutMs);
  }
  const replicas = (await connection.getAllContainers(true)).filter(
    (c) => c.model_name === info.model_name && c.model_version === info.model_version && c.connected === true && c.port !== undefined,
  );
  const replica = replicas[0];
  if (replica === undefined) {
    throw new ClipperError(
      'CLP_ERR_NOT_FOUND',
      `model ${info.model_name}:${info.model_version} cannot run on this machine and has no connected replica to measure on`,
    );
  }
  const host = replica.host === undefined || replica.host === '' ? '127.0.0.1' : replica.host;
  return connectReplica(profiledModel(info), host, replica.port!, replica.model_replica_id, kReplicaStartTimeoutMs);
}

/** A saved profile that covers the pipeline's models at their current versions, and the fall-through shares of its cascades. */
function savedProfile(file: string, models: ReadonlyMap<string, ModelInfo>, spec: PipelineSpec): PipelineProfile {
  const text = readFlagFile('profile', file, (f) => readFileSync(f, 'utf8'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `--profile ${file} is not JSON: ${(err as Error).message}`);
  }
  let profile: PipelineProfile;
  const notes: string[] = [];
  try {
    profile = profileFromJson(json, notes);
    for (const note of notes) process.stderr.write(`clipper plan: --profile ${file}: ${note}\n`);
  } catch (err) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `--profile ${file}: ${(err as Error).message}`);
  }
  for (const [name, info] of models) {
    const p = profile.models.get(name);
    if (p === undefined) throw new ClipperError('CLP_ERR_INVALID_ARG', `--profile ${file} has no profile of model '${name}'`);
    if (p.version !== info.model_version) {
      throw new ClipperError(
        'CLP_ERR_INVALID_ARG',
        `--profile ${file} measured ${name}:${p.version}, but its current version is ${info.model_version}: profile it again`,
      );
    }
  }
  for (const stage of spec.stages) {
    if (stage.kind !== 'cascade') continue;
    const want = stage.models!.length - 1;
    const shares = profile.fallthrough.get(stage.name);
    if (shares?.length !== want) {
      throw new ClipperError(
        'CLP_ERR_INVALID_ARG',
        `--profile ${file}: fallthrough of cascade stage '${stage.name}' must list ${want} share(s), one per model but the last ` +
          `(got ${shares === undefined ? 'none' : shares.length}): profile it again`,
      );
    }
  }
  return profile;
}

/** Profiles the pipeline on replicas; notes (a hop overhead that fell back to its default) go to stderr. */
async function measure(args: PlanArgs, app: PipelineApp, models: Map<string, ModelInfo>, connection: ClipperConnection, queryUrl: string) {
  const samples =
    args.samplesPath === null
      ? randomSamples(app.inputType, args.sampleCount, args.inputSize, args.seed)
      : parseSamples(
          readFlagFile('samples', args.samplesPath, (f) => readFileSync(f, 'utf8')),
          args.samplesPath,
        );
  const ports: ProfilerPorts = {
    open: (m) => openReplica(connection, models.get(m.model)!),
    frontendRoundTripUs: (m, input) => oipRoundTripUs(queryUrl, m, input),
    serverTotals: (m) => oipServerTotals(queryUrl, m),
    clock: systemClock,
  };
  const profiled = new Map([...models].map(([name, info]) => [name, profiledModel(info)]));
  const options = { ...kProfilerDefaults, batchMax: args.batchMax, reps: args.reps, seed: args.seed };
  const { profile, notes } = await profilePipeline(app.spec, profiled, samples, ports, options);
  for (const note of notes) process.stderr.write(`clipper plan: ${note}\n`);
  return profile;
}

const ms = (us: number): string => `${(us / 1000).toFixed(2)} ms`;

/** Refuses (before any write) a plan that misses its SLO, saying by how much; --force applies it anyway, with a warning. */
export function checkApplicable(plan: PipelinePlan, spec: PipelineSpec, force: boolean): void {
  validatePlan(plan, spec); // what set_pipeline_plan checks, so that the server cannot refuse it half-applied
  if (planMeetsSlo(plan)) return;
  const p = plan.predicted;
  const misses: string[] = [];
  if (p.p99_micros > plan.slo_micros) misses.push(`predicted p99 ${ms(p.p99_micros)} > SLO ${ms(plan.slo_micros)}`);
  if (p.slo_miss_ratio > kMissRatioMax)
    misses.push(`${(p.slo_miss_ratio * 100).toFixed(2)}% of queries miss it (at most ${kMissRatioMax * 100}%)`);
  const most = `at most ${plan.replicas_max} replica${plan.replicas_max === 1 ? '' : 's'} per model`;
  const why = `the plan does not meet its SLO with ${most}: ${misses.join(', ')}`;
  if (force) {
    process.stderr.write(`clipper plan: --force: applying it although ${why}\n`);
    return;
  }
  throw new ClipperError(
    'CLP_ERR_INVALID_ARG',
    `--apply: nothing was applied: ${why}. Raise --replicas-max, relax --slo-micros, or add --force to apply it anyway`,
  );
}

/**
 * Clears the app's stored plan first (so that the reactive tuner stops acting on the old one while
 * the new counts are written), sets each model's batch size and replica count, then stores the plan.
 */
export async function applyPlan(
  connection: Pick<ClipperConnection, 'setPipelinePlan' | 'setModelBatchSize' | 'setNumReplicas'>,
  app: string,
  plan: PipelinePlan,
): Promise<void> {
  await connection.setPipelinePlan(app, null);
  let done = 0;
  try {
    for (const m of plan.models) {
      await connection.setModelBatchSize(m.model, m.version, m.batch_size);
      await connection.setNumReplicas(m.model, m.replicas, m.version);
      done++;
    }
    await connection.setPipelinePlan(app, plan);
  } catch (err) {
    process.stderr.write(
      `clipper plan: --apply stopped after ${done} of ${plan.models.length} model(s); the app's old plan was cleared and the new one is not stored\n`,
    );
    throw err;
  }
}

async function plan(argv: string[]): Promise<void> {
  const { values, positionals, connection } = parse(argv, kPlanOptions, true);
  const args = readPlanArgs(values, positionals);
  const workload = planWorkload(args.workload, (f) => readFileSync(f, 'utf8'));
  const app = await pipelineApp(connection, args.app);
  const models = await currentModels(connection, pipelineModels(app.spec));
  const queryUrl = stringValue(values['query-url'])!;
  const profile =
    args.profilePath === null ? await measure(args, app, models, connection, queryUrl) : savedProfile(args.profilePath, models, app.spec);
  if (args.saveProfilePath !== null) writeFileSync(args.saveProfilePath, `${JSON.stringify(profileToJson(profile), null, 2)}\n`);
  const report = planPipelineReport({
    spec: app.spec,
    profile,
    workload,
    sloUs: args.sloMicros ?? app.sloMicros,
    seed: args.seed,
    replicasMax: args.replicasMax,
    reactive: args.reactive,
    ...(args.durationMs === null ? {} : { durationMs: args.durationMs }),
  });
  const result = report.plan;
  const { plan: _, ...verification } = report;
  if (args.json) {
    say(JSON.stringify({ plan: result, profile: profileToJson(profile), verification }, null, 2));
    for (const warning of fallthroughLines(profile, app.spec).warnings) process.stderr.write(`clipper plan: ${warning}\n`);
  } else say(formatPlanTable(result, app.spec, { profile, report }));
  if (args.apply) {
    checkApplicable(result, app.spec, args.force);
    await applyPlan(connection, app.name, result);
    if (!args.json) say(`applied: ${result.models.map((m) => `${m.model} batch ${m.batch_size}, ${m.replicas} replicas`).join('; ')}`);
  }
}

/** `clipper plan`: 0 on success, 1 (after printing why, naming the flag or the server's cause) on failure. */
export async function runPlanCommand(argv: string[]): Promise<number> {
  try {
    await plan(argv);
    return 0;
  } catch (err) {
    let text: string;
    if (err instanceof ClipperClientError) {
      text = `failed${err.status === 0 ? '' : ` (HTTP ${err.status}${err.code === null ? '' : `, ${err.code}`})`}: ${err.cause}`;
    } else if (err instanceof ClipperError) {
      text = err.status === 400 ? err.message : `${err.message} (${err.status}, ${err.code})`;
    } else {
      text = err instanceof Error ? err.message : String(err);
    }
    process.stderr.write(`clipper plan: ${text}\n`);
    return 1;
  }
}
