// Reading one stage of a pipeline spec (src/pipeline_spec.ts): the fields each kind takes, their
// types and ranges, as a clean copy (input types canonical, unknown fields refused). Every error is
// a ClipperError CLP_ERR_INVALID_ARG naming the stage and the field. The checks across stages
// (references, cycles, types along edges) are pipeline_spec.ts's.

import { ClipperError } from './errors.js';
import { parseInputType, type InputType } from './input_types.js';
import type { StageKind, StageSpec } from './pipeline_spec.js';

export const kStageKinds: readonly StageKind[] = ['model', 'ensemble', 'cascade', 'map', 'combine'];

/** The name a stage uses to read the query's own input. */
export const kPipelineInput = '$input';

const kStageNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const kCombineModes = ['auto', 'mean', 'vote'] as const;
const kCommonFields = ['name', 'kind', 'output_type', 'budget_micros'];
/** The fields each kind takes besides kCommonFields (any other field is refused). */
const kKindFields: Readonly<Record<StageKind, readonly string[]>> = {
  model: ['input', 'model'],
  ensemble: ['input', 'models', 'combine', 'field', 'weights'],
  cascade: ['input', 'models', 'threshold', 'confidence_field'],
  map: ['input', 'models', 'feature_type'],
  combine: ['inputs', 'combine', 'field', 'weights'],
};

type Fields = Record<string, unknown>;

/** A 400 naming the stage (or the pipeline as a whole when `stage` is null). */
export function invalid(stage: string | null, message: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', stage === null ? `pipeline: ${message}` : `pipeline stage '${stage}': ${message}`);
}

export function isObject(value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function quoted(names: readonly string[]): string {
  return names.map((n) => `'${n}'`).join(', ');
}

/** A list of distinct non-empty strings with at least `min` (and at most `max`) entries. */
function distinctNames(stage: string, o: Fields, key: string, what: string, min: number, max = Number.POSITIVE_INFINITY): string[] {
  const v = o[key];
  const count = max === min ? `exactly ${min}` : `at least ${min}`;
  if (!Array.isArray(v) || v.length < min || v.length > max || v.some((x) => typeof x !== 'string' || x === '')) {
    throw invalid(stage, `'${key}' must list ${count} ${what} (got ${JSON.stringify(v) ?? 'nothing'})`);
  }
  const seen = new Set<string>();
  for (const x of v as string[]) {
    if (seen.has(x)) throw invalid(stage, `'${key}' lists '${x}' more than once`);
    seen.add(x);
  }
  return [...(v as string[])];
}

function optionalString(stage: string, o: Fields, key: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw invalid(stage, `'${key}' must be a non-empty string`);
  return v;
}

function optionalType(stage: string, o: Fields, key: string): InputType | undefined {
  if (o[key] === undefined) return undefined;
  const type = parseInputType(o[key]);
  if (type === undefined)
    throw invalid(stage, `'${key}' must be an input type (integers, floats, doubles, strings, bytes), not ${JSON.stringify(o[key])}`);
  return type;
}

function optionalWeights(stage: string, o: Fields, members: number): number[] | undefined {
  const v = o.weights;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== members || v.some((w) => typeof w !== 'number' || !Number.isFinite(w) || w < 0)) {
    throw invalid(stage, `'weights' must be ${members} non-negative numbers, one per member (got ${JSON.stringify(v)})`);
  }
  if (!v.some((w) => w > 0)) throw invalid(stage, "'weights' must not all be 0");
  return [...(v as number[])];
}

function stageName(raw: unknown, index: number): string {
  if (!isObject(raw)) throw invalid(null, `stages[${index}] must be a JSON object`);
  const name = raw.name;
  if (typeof name !== 'string' || name === kPipelineInput || !kStageNamePattern.test(name)) {
    throw invalid(
      null,
      `stages[${index}] needs a 'name' of letters, digits, '_', '.' or '-' (at most 64, starting with a letter or digit), ` +
        `not ${JSON.stringify(name) ?? 'nothing'}`,
    );
  }
  return name;
}

/** The members (models) of a stage of kind `kind`, read from its fields. */
function readMembers(name: string, kind: StageKind, o: Fields, stage: StageSpec): void {
  if (kind === 'model') {
    if (typeof o.model !== 'string' || o.model === '') throw invalid(name, "a model stage needs 'model', the model's name");
    stage.model = o.model;
  } else if (kind === 'map') {
    stage.models = distinctNames(name, o, 'models', 'model names ([featurizer, predictor])', 2, 2);
    const featureType = optionalType(name, o, 'feature_type');
    if (featureType === undefined) throw invalid(name, "a map stage needs 'feature_type', the type its featurizer outputs");
    stage.feature_type = featureType;
  } else if (kind === 'combine') {
    stage.inputs = distinctNames(name, o, 'inputs', 'stage names', 2);
    if (stage.inputs.includes(kPipelineInput)) throw invalid(name, `'inputs' names stages; '${kPipelineInput}' is not one`);
  } else {
    stage.models = distinctNames(name, o, 'models', kind === 'cascade' ? 'model names, cheapest first' : 'model names', 2);
  }
  if (kind === 'cascade') {
    const t = o.threshold;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > 1) throw invalid(name, "cascade needs 'threshold' in [0, 1]");
    stage.threshold = t;
  }
}

function readCombining(name: string, o: Fields, stage: StageSpec): void {
  const mode = o.combine;
  if (mode !== undefined) {
    if (!(kCombineModes as readonly unknown[]).includes(mode)) throw invalid(name, `'combine' must be one of ${quoted(kCombineModes)}`);
    stage.combine = mode as StageSpec['combine'] & string;
  }
  const field = optionalString(name, o, 'field');
  if (field !== undefined) stage.field = field;
  const weights = optionalWeights(name, o, (stage.models ?? stage.inputs ?? []).length);
  if (weights !== undefined) stage.weights = weights;
}

/** One stage's fields, checked for its kind (a clean copy: input types canonical, unknown fields refused). */
export function readStage(raw: unknown, index: number): StageSpec {
  const name = stageName(raw, index);
  const o = raw as Fields;
  const kind = o.kind;
  if (!(kStageKinds as readonly unknown[]).includes(kind)) {
    throw invalid(name, `'kind' must be one of ${quoted(kStageKinds)} (got ${JSON.stringify(kind) ?? 'nothing'})`);
  }
  const k = kind as StageKind;
  if (k === 'ensemble' && o.confidence_field !== undefined) {
    throw invalid(
      name,
      "an ensemble stage takes no 'confidence_field': only a cascade reads one (an ensemble's confidence is its combine's)",
    );
  }
  const allowed = [...kCommonFields, ...kKindFields[k]];
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw invalid(name, `a ${k} stage has no field '${key}' (it takes ${quoted(allowed)})`);
  }
  const stage: StageSpec = { name, kind: k };
  if (k !== 'combine' && o.input !== undefined) {
    if (typeof o.input !== 'string' || o.input === '') throw invalid(name, `'input' must be '${kPipelineInput}' or a stage's name`);
    stage.input = o.input;
  }
  readMembers(name, k, o, stage);
  if (k === 'ensemble' || k === 'combine') readCombining(name, o, stage);
  const confidenceField = optionalString(name, o, 'confidence_field');
  if (confidenceField !== undefined) stage.confidence_field = confidenceField;
  const outputType = optionalType(name, o, 'output_type');
  if (outputType !== undefined) stage.output_type = outputType;
  const budget = o.budget_micros;
  if (budget !== undefined) {
    if (typeof budget !== 'number' || !Number.isFinite(budget) || budget <= 0) throw invalid(name, "'budget_micros' must be a number > 0");
    stage.budget_micros = budget;
  }
  return stage;
}
