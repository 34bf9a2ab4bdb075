// Reading and validating /admin/* request bodies. Messages follow Clipper's text where Clipper had
// one (spec §2.2): a missing key is "JSON object does not have required key: <k>", a wrong type
// "Type mismatch! JSON key <k> expected type <T> but found type <U>", both wrapped in
// "Error parsing JSON: <detail>. Expected JSON schema: <schema>". Value rules (names, ranges) are
// ours and name the field and the value they reject.

import { ClipperError } from '../errors.js';
import { checkFrameworkEntry, checkRuntimeAndFramework } from '../frameworks.js';
import { parseInputType, type InputType } from '../input_types.js';
import { checkOptionsApply, checkRuntimeOptions, kDebianPackagePattern } from '../runtime_options.js';
import type { ContainerSpec } from '../state/records.js';
import { isOipDatatype, kDatatypesByInputType, kOipDatatypes, kTensorRankMax, type TensorSpec } from '../tensor_spec.js';

/** App and model names: DNS-1123 labels (clipper_admin's rule for models, now for apps too). */
const kNamePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const kNameLengthMax = 63;
/** Versions: no ',' or ':' (Clipper's key delimiters), no leading punctuation, at most 64 chars. */
const kVersionPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const kLabelLengthMax = 255;
export const kSloMicrosMin = 1000;
export const kSloMicrosMax = 3_600_000_000;
export const kReplicasMax = 64;
const kBatchSizeMax = 1_000_000;

function jsonTypeName(value: unknown): string {
  if (value === null) return 'Null';
  if (Array.isArray(value)) return 'Array';
  switch (typeof value) {
    case 'string':
      return 'String';
    case 'number':
      return 'Number';
    case 'boolean':
      return 'Bool';
    case 'object':
      return 'Object';
    default:
      return typeof value;
  }
}

/** Reads one request body; every failure is a 400 that names the key and the expected schema. */
export class BodyReader {
  readonly #body: Record<string, unknown>;
  readonly #schema: string;

  constructor(body: unknown, schema: string) {
    this.#schema = schema;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw this.#schemaError(`the request body must be a JSON object, not ${jsonTypeName(body)}`);
    }
    this.#body = body as Record<string, unknown>;
  }

  has(key: string): boolean {
    return Object.hasOwn(this.#body, key) && this.#body[key] !== undefined;
  }

  string(key: string): string {
    return this.#typed(key, 'String', (v) => typeof v === 'string') as string;
  }

  bool(key: string): boolean {
    return this.#typed(key, 'Bool', (v) => typeof v === 'boolean') as boolean;
  }

  /** A JSON number without a fractional part (Clipper's get_int; we allow beyond int32). */
  int(key: string): number {
    return this.#typed(key, 'Int', (v) => typeof v === 'number' && Number.isSafeInteger(v)) as number;
  }

  stringArray(key: string): string[] {
    const value = this.#typed(key, 'Array', (v) => Array.isArray(v)) as unknown[];
    value.forEach((item, index) => {
      if (typeof item !== 'string') {
        throw this.#schemaError(`Type mismatch! JSON key ${key}[${index}] expected type String but found type ${jsonTypeName(item)}`);
      }
    });
    return value as string[];
  }

  object(key: string): Record<string, unknown> {
    return this.#typed(key, 'Object', (v) => v !== null && typeof v === 'object' && !Array.isArray(v)) as Record<string, unknown>;
  }

  /** The raw value of an optional key, or undefined when absent. */
  raw(key: string): unknown {
    return this.has(key) ? this.#body[key] : undefined;
  }

  #typed(key: string, typeName: string, ok: (value: unknown) => boolean): unknown {
    if (!this.has(key)) throw this.#schemaError(`JSON object does not have required key: ${key}`);
    const value = this.#body[key];
    if (!ok(value)) {
      throw this.#schemaError(`Type mismatch! JSON key ${key} expected type ${typeName} but found type ${jsonTypeName(value)}`);
    }
    return value;
  }

  #schemaError(detail: string): ClipperError {
    return new ClipperError('CLP_ERR_JSON_SCHEMA', `Error parsing JSON: ${detail}. Expected JSON schema: ${this.#schema}`);
  }
}

function invalid(message: string): ClipperError {
  return new ClipperError('CLP_ERR_INVALID_ARG', message);
}

export function checkName(field: string, value: string): string {
  if (value.length > kNameLengthMax || !kNamePattern.test(value)) {
    throw invalid(
      `Invalid ${field} supplied: '${value}'. It must consist of lower case alphanumeric characters or '-', ` +
        `start and end with an alphanumeric character, and be at most ${kNameLengthMax} characters long`,
    );
  }
  return value;
}

export function checkVersion(field: string, value: string): string {
  if (!kVersionPattern.test(value)) {
    throw invalid(
      `Invalid ${field} supplied: '${value}'. It must start with a letter or digit, contain only letters, ` +
        `digits, '.', '_' or '-' (not ',' or ':'), and be at most 64 characters long`,
    );
  }
  return value;
}

export function checkLabels(labels: string[]): string[] {
  for (const label of labels) {
    if (label.includes(',') || label.includes(':')) {
      throw invalid(`Invalid label supplied: ${label}. Contains one of: ',', ':'`);
    }
    if (label.length === 0 || label.length > kLabelLengthMax) {
      throw invalid(`Invalid label supplied: '${label}'. Labels must be 1 to ${kLabelLengthMax} characters long`);
    }
  }
  return labels;
}

export function checkInputType(value: string): InputType {
  const parsed = parseInputType(value);
  if (parsed === undefined) {
    throw invalid(
      `Invalid input_type supplied: '${value}'. Expected one of: integers (ints, integer, int, i), ` +
        'floats (float, f), doubles (double, d), strings (string, str, strs, s), bytes (byte, b)',
    );
  }
  return parsed;
}

export function checkIntRange(field: string, value: number, min: number, max: number): number {
  if (value < min || value > max) throw invalid(`${field} must be an integer in [${min}, ${max}] (got ${value})`);
  return value;
}

export function checkBatchSize(value: number): number {
  if (value === -1) return value;
  if (value <= 0) throw invalid('The batch size must be positive or DEFAULT_BATCH_SIZE, which is -1');
  if (value > kBatchSizeMax) throw invalid(`batch_size must be at most ${kBatchSizeMax} (got ${value})`);
  return value;
}

const kDockerOnlyFields = ['image', 'folder', 'pkgs_to_install', 'cpus', 'memory_mb'];
const kContainerFields = ['manager', 'runtime', 'framework', 'entry', 'function', 'options', ...kDockerOnlyFields];
/** Docker image references: [registry[:port]/]repo[/repo...][:tag] or @digest, lower-case repository. */
const kImagePattern = /^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(\/[a-z0-9][a-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[a-f0-9]{64})?$/;

function checkPath(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096 || value.includes('\0')) {
    throw invalid(`container.${field} must be a non-empty path string of at most 4096 characters`);
  }
  return value;
}

/** The Docker-only fields of a container spec (image, folder, pkgs_to_install, limits). */
function checkDockerFields(raw: Record<string, unknown>, spec: ContainerSpec): void {
  if (raw.image !== undefined) {
    if (typeof raw.image !== 'string' || raw.image.length > 512 || !kImagePattern.test(raw.image)) {
      throw invalid(`container.image must be a Docker image reference such as "sum-model:1" (got ${JSON.stringify(raw.image)})`);
    }
    spec.image = raw.image;
  }
  if (raw.folder !== undefined) spec.folder = checkPath('folder', raw.folder);
  if (raw.pkgs_to_install !== undefined) {
    if (!Array.isArray(raw.pkgs_to_install) || raw.pkgs_to_install.length > 256) {
      throw invalid('container.pkgs_to_install must be an array of Debian package names');
    }
    for (const pkg of raw.pkgs_to_install) {
      if (typeof pkg !== 'string' || pkg.length > 128 || !kDebianPackagePattern.test(pkg)) {
        throw invalid(`container.pkgs_to_install: ${JSON.stringify(pkg)} is not a Debian package name`);
      }
    }
    spec.pkgs_to_install = [...(raw.pkgs_to_install as string[])];
  }
  if (raw.cpus !== undefined) {
    if (typeof raw.cpus !== 'number' || !(raw.cpus >= 0.01 && raw.cpus <= 1024)) {
      throw invalid(`container.cpus must be a number of cores in [0.01, 1024] (got ${JSON.stringify(raw.cpus)})`);
    }
    spec.cpus = raw.cpus;
  }
  if (raw.memory_mb !== undefined) {
    if (typeof raw.memory_mb !== 'number' || !Number.isInteger(raw.memory_mb) || raw.memory_mb < 6 || raw.memory_mb > 4_194_304) {
      throw invalid(`container.memory_mb must be an integer in [6, 4194304] (got ${JSON.stringify(raw.memory_mb)})`);
    }
    spec.memory_mb = raw.memory_mb;
  }
}

/**
 * A Kubernetes spec runs an image as it is built (its Deployment passes no arguments): the fields
 * that build an image, and those that say how a model runs, are refused with what to do instead.
 */
function checkKubernetesFields(raw: Record<string, unknown>): void {
  const then = 'then give "image" (or start the frontends with --kubernetes-registry HOST:PORT)';
  for (const key of ['folder', 'pkgs_to_install']) {
    if (raw[key] !== undefined) {
      throw invalid(
        `container.${key} builds an image, which "manager": "kubernetes" does not: build and push it first with ` +
          `\`clipper build --registry HOST:PORT ...\`, ${then}`,
      );
    }
  }
  for (const key of ['runtime', 'entry', 'function', 'framework', 'options']) {
    if (raw[key] !== undefined) {
      throw invalid(
        `container.${key} says how the model runs, which for "manager": "kubernetes" the image decides (its pods run it ` +
          'as built, with no arguments): build and push it with `clipper build --name M --version V --runtime node|python ' +
          `--entry FILE [--framework F] [--function FN] --registry HOST:PORT\`, ${then}`,
      );
    }
  }
}

/**
 * The optional `container` object of add_model: which manager runs the replicas and how.
 * `defaultManager`: where the cluster runs replicas when a spec names no manager (config.containers).
 */
export function checkContainerSpec(value: unknown, defaultManager: NonNullable<ContainerSpec['manager']> = 'local'): ContainerSpec | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`container must be an object {"runtime","entry","function"?,"options"?} (got ${jsonTypeName(value)})`);
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!kContainerFields.includes(key)) {
      throw invalid(`container.${key} is not a known field (expected ${kContainerFields.join(', ')})`);
    }
  }
  if (raw.manager !== undefined && raw.manager !== 'local' && raw.manager !== 'docker' && raw.manager !== 'kubernetes') {
    throw invalid(`container.manager must be 'local', 'docker' or 'kubernetes' (got ${JSON.stringify(raw.manager)})`);
  }
  const manager = raw.manager ?? defaultManager;
  const kubernetes = manager === 'kubernetes';
  if (kubernetes) checkKubernetesFields(raw);
  const docker = manager === 'docker' || kubernetes;
  const spec: ContainerSpec = {};
  if (raw.manager !== undefined) spec.manager = raw.manager;
  if (docker) {
    checkDockerFields(raw, spec);
  } else {
    for (const key of kDockerOnlyFields) {
      if (raw[key] !== undefined)
        throw invalid(`container.${key} needs "manager": "docker" or "kubernetes" (local processes run on this machine as they are)`);
    }
  }
  // A Kubernetes model without an image runs <kubernetesRegistry>/<model>:<version> (its manager refuses it without one).
  const needsRuntime = spec.image === undefined && !kubernetes;
  if (!needsRuntime && raw.framework !== undefined) throw invalid('container.framework loads container.entry; an image runs as it is');
  // The framework implies the runtime, stored too so that every manager finds it (frameworks.ts).
  Object.assign(spec, checkRuntimeAndFramework(raw.runtime, raw.framework, needsRuntime, docker));
  if (raw.entry !== undefined || needsRuntime) spec.entry = checkPath('entry', raw.entry);
  if (spec.framework !== undefined && spec.entry !== undefined) checkFrameworkEntry(spec.framework, spec.entry);
  if (spec.pkgs_to_install !== undefined && spec.runtime !== 'python') {
    throw invalid('container.pkgs_to_install installs Debian packages for python models; give "runtime": "python"');
  }
  if (raw.function !== undefined) {
    if (typeof raw.function !== 'string' || !/^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/.test(raw.function)) {
      throw invalid(`container.function must be an identifier (got ${JSON.stringify(raw.function)})`);
    }
    spec.function = raw.function;
  }
  if (raw.options !== undefined) {
    if (raw.options === null || typeof raw.options !== 'object' || Array.isArray(raw.options)) {
      throw invalid('container.options must be an object of string, number or boolean values');
    }
    // An allowlist of names and values (runtime_options.ts): they become runner flags.
    spec.options = checkRuntimeOptions(raw.options as Record<string, unknown>);
    checkOptionsApply(spec.options, spec.framework);
  }
  return spec;
}

const kTensorNameLengthMax = 256;

/** One declared tensor {name, datatype, shape}; `field` names it in errors (e.g. "inputs[0]"). */
function checkTensorSpec(field: string, value: unknown): TensorSpec {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`${field} must be an object {"name", "datatype", "shape"} (got ${jsonTypeName(value)})`);
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (key !== 'name' && key !== 'datatype' && key !== 'shape') {
      throw invalid(`${field}.${key} is not a known field (expected name, datatype, shape)`);
    }
  }
  const { name, datatype, shape } = raw;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  if (typeof name !== 'string' || name.length === 0 || name.length > kTensorNameLengthMax || /[\u0000-\u001f]/.test(name)) {
    throw invalid(`${field}.name must be a non-empty string of at most ${kTensorNameLengthMax} printable characters`);
  }
  if (!isOipDatatype(datatype)) {
    throw invalid(`${field}.datatype must be one of ${kOipDatatypes.join(', ')} (got ${JSON.stringify(datatype) ?? 'nothing'})`);
  }
  if (!Array.isArray(shape) || shape.length === 0 || shape.length > kTensorRankMax) {
    throw invalid(`${field}.shape must be an array of 1 to ${kTensorRankMax} dimensions, the batch first (-1: variable)`);
  }
  shape.forEach((dim, index) => {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < -1) {
      throw invalid(`${field}.shape[${index}] must be an integer >= -1 (-1: variable) (got ${JSON.stringify(dim)})`);
    }
  });
  return { name, datatype, shape: [...(shape as number[])] };
}

/**
 * The optional `inputs` or `outputs` of add_model: the tensor the Open Inference Protocol's model
 * metadata shows instead of the one inferred from input_type. A model takes one input and gives one
 * output per query, so each list has exactly one entry; a declared input's datatype must be one the
 * model's input_type accepts (tensor_spec.ts, kDatatypesByInputType).
 */
export function checkTensorSpecs(field: 'inputs' | 'outputs', value: unknown, inputType: InputType): TensorSpec[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length !== 1) {
    throw invalid(
      `${field} must be an array of one tensor {"name", "datatype", "shape"}: a model takes one input and gives one output per query ` +
        `(got ${Array.isArray(value) ? `${value.length} entries` : jsonTypeName(value)})`,
    );
  }
  const spec = checkTensorSpec(`${field}[0]`, value[0]);
  const accepted = kDatatypesByInputType[inputType];
  if (field === 'inputs' && !accepted.includes(spec.datatype)) {
    throw invalid(
      `inputs[0].datatype ${spec.datatype} cannot feed a model whose input_type is ${inputType} (it takes ${accepted.join(', ')})`,
    );
  }
  return [spec];
}
