// POST /v2/models/{m}[/versions/{v}]/infer: the Open Inference Protocol's codec over the query
// pipeline. Parse the request (JSON, or a JSON header and binary tensors), turn the one input
// tensor's rows into queries of the target's input type, and submit them through the pipeline like
// any other protocol's (batched, cached, deadline-bounded); OipSink answers when all rows are in.
//
// Deadline: `parameters.timeout` (µs, at most config sloMicrosMax), else the app's SLO, else (a model
// addressed directly) config oipTimeoutMsDefault. Priority: `parameters.priority` as Triton counts it
// (1 the highest, 0 the default), mapped by priorityFromTriton.

import { randomUUID } from 'node:crypto';
import type { HttpResponse } from 'uWebSockets.js';
import type { ModelRoute } from '../../control/model_routes.js';
import { ClipperError } from '../../errors.js';
import { parseJsonBody, type ResponseState } from '../../http/http_util.js';
import type { QueryPipeline } from '../../query/pipeline.js';
import { priorityFromTriton } from '../../query/priority.js';
import { splitInferBody } from './binary_body.js';
import { readInferRequest, type InferRequest } from './infer_request.js';
import type { ResponseHead } from './infer_response.js';
import { oipInvalid, sendOipError } from './oip_errors.js';
import { OipSink, sendInferResponse } from './oip_sink.js';
import { resolveTarget, servingVersion, targetTensorSpec, type OipTarget } from './oip_target.js';
import { tensorRows } from './tensor_rows.js';

export interface InferDeps {
  readonly pipeline: QueryPipeline;
  readonly models: ReadonlyMap<string, ModelRoute>;
}

/**
 * One infer request whose body has arrived (valid only during this call: it is uWS's buffer);
 * `arrivalMs`: when its handler started (the processor's clock), where its deadline counts from.
 */
export function infer(
  deps: InferDeps,
  res: HttpResponse,
  state: ResponseState,
  name: string,
  version: string | null,
  headerLength: string,
  body: Buffer,
  arrivalMs: number,
): void {
  const pipeline = deps.pipeline;
  let sink: OipSink;
  try {
    const target = resolveTarget(pipeline, deps.models, name, version);
    const split = splitInferBody(body, headerLength);
    const request = readInferRequest(parseJsonBody(split.header), split.binary, pipeline.sloMicrosMax);
    const spec = targetTensorSpec(target);
    if (request.inputs.length !== 1) {
      throw oipInvalid(`inputs: '${name}' takes one input tensor (each row one query), got ${request.inputs.length}`);
    }
    const input = request.inputs[0]!;
    const declared = spec.inputsDeclared ? spec.inputs[0]! : null;
    const inputs = tensorRows(input, { name, inputType: target.route.inputType, declared }, `inputs[0] ('${input.name}')`);
    const output = spec.outputs[0]!;
    const head: ResponseHead = {
      modelName: name,
      modelVersion: servingVersion(target),
      id: request.id ?? randomUUID(),
      outputName: output.name,
      declared: spec.outputsDeclared ? output.datatype : null,
      binary: binaryOutput(request, output.name),
    };
    assertDeployed(target);
    sink = new OipSink(res, state, pipeline, head, request.timeoutMicros ?? target.route.sloMs * 1000);
    const priority = request.priority === null ? 0 : priorityFromTriton(request.priority);
    const query = { inputs, version: target.version, sloMicros: request.timeoutMicros, uid: null, priority, arrivalMs };
    if (pipeline.predict(target.route, query, sink, sink.tokens) === 0) {
      sendInferResponse(res, state, head, []);
      return;
    }
  } catch (err) {
    sendOipError(res, state, err);
    return;
  }
  if (sink.tokens.length > 0 && !state.aborted) state.abortListener = sink;
}

/** Whether the output goes binary; a 400 for an output the model does not have. */
function binaryOutput(request: InferRequest, outputName: string): boolean {
  let binary = request.binaryOutput;
  const outputs = request.outputs ?? [];
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i]!;
    if (o.name !== outputName) throw oipInvalid(`outputs[${i}].name '${o.name}' is not an output of the model (it has '${outputName}')`);
    if (o.binary !== null) binary = o.binary;
  }
  return binary;
}

/** A pinned version that is registered but has no placement cannot serve (a 503, not a 400). */
function assertDeployed(target: OipTarget): void {
  const version = target.version;
  if (version !== null && !target.route.versions.has(version)) {
    throw new ClipperError(
      'CLP_ERR_OIP_UNAVAILABLE',
      `version '${version}' of model '${target.model?.name}' is registered but not deployed`,
    );
  }
}
