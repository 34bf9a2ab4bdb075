// Running a pipeline's stages over sample inputs, as the profiler (profiler.ts) needs it: the inputs
// each model receives (a model fed by another stage gets that stage's outputs on the samples), and
// each cascade's fall-through share per level. Stages run in execution order, a whole stage's
// samples at once through `run` (the profiling replicas); ensembles and fan-ins merge with the
// selection layer's combine step (src/selection/policies/combine.ts), as the executor does. Outputs
// are taken as the server takes them (each as its JSON text, parsed), and an output feeds the next
// model, gives a combined field and a combined output by the executor's rules (src/pipeline_output.ts).

import { outputToJson } from '../batching/output_json.js';
import { ClipperError } from '../errors.js';
import type { InputType } from '../input_types.js';
import { combinedOutput, feedInput, fieldOf, parseOutput, StageFeedError } from '../pipeline_output.js';
import { kPipelineInput, outputConfidence, stageOrder, type PipelineSpec, type StageSpec } from '../pipeline_spec.js';
import { combine } from '../selection/policies/combine.js';

/** A model's outputs for `inputs`, one each, in order. */
export type RunModel = (model: string, inputs: readonly unknown[]) => Promise<unknown[]>;

export interface SampleFlow {
  /** The inputs each model got on the samples (in its first stage), for its latency sweep. */
  modelInputs: Map<string, unknown[]>;
  /** Per cascade stage: of the samples reaching each level but the last, the share that fell through it. */
  fallthrough: Map<string, number[]>;
  /** Per cascade stage: the samples that reached each level but the last (what each share rests on). */
  fallthroughSamples: Map<string, number[]>;
}

/** A model's output as the server holds it: its JSON text and that text parsed. */
interface Output {
  readonly json: string;
  readonly value: unknown;
}

/** A raw model output (as a replica returns it) as the server holds it (batching/output_json.ts). */
function served(raw: unknown): Output {
  const json = outputToJson(raw);
  return { json, value: parseOutput(json) };
}

/** An output in a whole stage's outputs (a combined or missing one: its value's JSON text, as the executor's). */
function outputOf(value: unknown): Output {
  return { json: JSON.stringify(value) ?? 'null', value };
}

/**
 * A stage's output `value` (parsed from its JSON text `json`) as the input of a model of `inputType`,
 * by the executor's rule (pipeline_output.ts), as the profiling replicas take it: numbers, a string,
 * or bytes as a base64 string.
 */
export function asModelInput(value: unknown, inputType: InputType, stage: string, json = JSON.stringify(value) ?? 'null'): unknown {
  try {
    const input = feedInput(value, json, inputType);
    return Buffer.isBuffer(input) ? input.toString('base64') : input;
  } catch (err) {
    if (!(err instanceof StageFeedError)) throw err;
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `pipeline stage '${stage}': on the samples its output does not fit a ${inputType} model: ${err.message}`,
    );
  }
}

/** Runs every stage over the samples; `inputTypes` gives each model's input type. */
export async function flowSamples(
  spec: PipelineSpec,
  inputTypes: ReadonlyMap<string, InputType>,
  samples: readonly unknown[],
  run: RunModel,
): Promise<SampleFlow> {
  const flow: SampleFlow = { modelInputs: new Map(), fallthrough: new Map(), fallthroughSamples: new Map() };
  const outputs = new Map<string, Output[]>();
  const typeOf = (model: string): InputType => {
    const type = inputTypes.get(model);
    if (type === undefined) throw new ClipperError('CLP_ERR_INVALID_ARG', `no input type known for model '${model}'`);
    return type;
  };
  /** The stage's input for its models: the samples, or the outputs of the stage it reads. */
  const inputsOf = (stage: StageSpec, model: string): unknown[] => {
    const from = stage.input ?? kPipelineInput;
    if (from === kPipelineInput) return [...samples];
    const upstream = outputs.get(from);
    if (upstream === undefined) throw new ClipperError('CLP_ERR_INTERNAL', `pipeline stage '${stage.name}' runs before '${from}'`);
    return upstream.map((o) => asModelInput(o.value, typeOf(model), from, o.json));
  };
  const note = (model: string, inputs: unknown[]): void => {
    if (!flow.modelInputs.has(model)) flow.modelInputs.set(model, inputs);
  };
  const call = async (model: string, inputs: unknown[]): Promise<Output[]> => {
    note(model, inputs);
    return (await run(model, inputs)).map(served);
  };
  const ctx: StageContext = { inputsOf, call, note, outputs, flow, typeOf };
  for (const stage of stageOrder(spec)) outputs.set(stage.name, await runStage(stage, ctx));
  return flow;
}

interface StageContext {
  inputsOf(stage: StageSpec, model: string): unknown[];
  /** Runs a model on inputs, noting them as its sweep inputs when they are its first. */
  call(model: string, inputs: unknown[]): Promise<Output[]>;
  /** Notes a model's sweep inputs without running it. */
  note(model: string, inputs: unknown[]): void;
  outputs: ReadonlyMap<string, Output[]>;
  flow: SampleFlow;
  typeOf(model: string): InputType;
}

async function runStage(stage: StageSpec, ctx: StageContext): Promise<Output[]> {
  const { inputsOf, call, outputs, flow, typeOf } = ctx;
  const models = stage.models ?? [];
  switch (stage.kind) {
    case 'model':
      return call(stage.model!, inputsOf(stage, stage.model!));
    case 'ensemble': {
      const rows: Output[][] = [];
      for (const model of models) rows.push(await call(model, inputsOf(stage, model)));
      return combineRows(stage, rows);
    }
    case 'map': {
      const [featurizer, predictor] = models as [string, string];
      const features = await call(featurizer, inputsOf(stage, featurizer));
      const type = typeOf(predictor);
      return call(
        predictor,
        features.map((f) => asModelInput(f.value, type, stage.name, f.json)),
      );
    }
    case 'cascade': {
      const inputs = inputsOf(stage, models[0]!);
      const { answers, shares, reached } = await runCascade(stage, inputs, ctx);
      flow.fallthrough.set(stage.name, shares);
      flow.fallthroughSamples.set(stage.name, reached);
      return answers;
    }
    case 'combine':
      return combineRows(
        stage,
        (stage.inputs ?? []).map((name) => outputs.get(name) ?? []),
      );
  }
}

/** A cascade over the samples: each level sees the samples every earlier level passed on. */
async function runCascade(
  stage: StageSpec,
  inputs: unknown[],
  ctx: StageContext,
): Promise<{ answers: Output[]; shares: number[]; reached: number[] }> {
  const models = stage.models ?? [];
  const threshold = stage.threshold ?? 1;
  const field = stage.confidence_field ?? 'confidence';
  const answers = new Array<Output>(inputs.length).fill(outputOf(null));
  const shares: number[] = [];
  const reached: number[] = [];
  let open = inputs.map((_, i) => i);
  for (let level = 0; level < models.length; level++) {
    const last = level === models.length - 1;
    // Every level's model is swept with the stage's inputs, also one that no sample reaches.
    ctx.note(models[level]!, inputs);
    const got =
      open.length === 0
        ? []
        : await ctx.call(
            models[level]!,
            open.map((i) => inputs[i]),
          );
    const next: number[] = [];
    open.forEach((sample, k) => {
      if (last || outputConfidence(got[k]!.value, field) >= threshold) answers[sample] = got[k]!;
      else next.push(sample);
    });
    if (!last) {
      shares.push(open.length === 0 ? 0 : next.length / open.length);
      reached.push(open.length);
    }
    open = next;
  }
  return { answers, shares, reached };
}

/** Ensemble and fan-in outputs merged per sample (combine.ts), over `field` of each when the stage names one. */
function combineRows(stage: StageSpec, rows: Output[][]): Output[] {
  const weights = Float64Array.from(stage.weights ?? rows.map(() => 1));
  const count = Math.min(...rows.map((r) => r.length));
  const field = stage.field ?? null;
  const merged: Output[] = [];
  for (let i = 0; i < count; i++) {
    const values = rows.map((r) => fieldOf(r[i]!.value, field));
    const result = combine(values, weights, { mode: stage.combine ?? 'auto', tolerance: 0, confidenceMin: 0 });
    merged.push(outputOf(result.kind === 'combined' ? combinedOutput(result.output, result.confidence, field) : null));
  }
  return merged;
}
