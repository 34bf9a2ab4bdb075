// One rule for stage outputs (src/pipeline_output.ts): the profiler's sample flow
// (src/planner/sample_flow.ts) feeds the next model and combines outputs exactly as the executor
// (src/query/stage_run.ts, stage_step.ts on test/helpers/fake_pipeline.ts) does.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InputType } from '../../src/input_types.js';
import { combinedOutput, feedInput, fieldOf, parseOutput, StageFeedError } from '../../src/pipeline_output.js';
import type { PipelineSpec } from '../../src/pipeline_spec.js';
import { asModelInput, flowSamples } from '../../src/planner/sample_flow.js';
import { PipelineHarness } from '../helpers/fake_pipeline.js';

const mapSpec = (type: InputType): PipelineSpec => ({
  output: 'm',
  stages: [{ name: 'm', kind: 'map', models: ['feat', 'pred'], feature_type: type }],
});

/** What the executor sends the predictor when the featurizer answers `output` (null: the stage failed). */
function executorFeeds(output: unknown, type: InputType): unknown {
  const h = new PipelineHarness(mapSpec(type), { models: { feat: 'doubles', pred: type } });
  h.start([1]);
  h.reply('feat', output);
  if (h.writtenFor('pred').length === 0) return null;
  const input = h.openFor('pred').input;
  return Buffer.isBuffer(input) ? input.toString('base64') : input;
}

/** What the profiler sweeps the predictor with (null: it refused the output). */
async function profilerFeeds(output: unknown, type: InputType): Promise<unknown> {
  const run = async (model: string, inputs: readonly unknown[]): Promise<unknown[]> => inputs.map((x) => (model === 'feat' ? output : x));
  const types = new Map<string, InputType>([
    ['feat', 'doubles'],
    ['pred', type],
  ]);
  try {
    const flow = await flowSamples(mapSpec(type), types, [[1]], run);
    return flow.modelInputs.get('pred')![0];
  } catch (err) {
    assert.match(String(err), /pipeline stage 'm': on the samples its output does not fit a \w+ model/);
    return null;
  }
}

test('the profiler feeds the next model what the executor feeds it, and refuses what it refuses', async () => {
  const b64 = (text: string): string => Buffer.from(text).toString('base64');
  const cases: Array<[unknown, InputType, unknown]> = [
    [[1, 2], 'integers', [1, 2]],
    [{ output: [3, 4] }, 'integers', [3, 4]],
    [[1.5], 'integers', null], // not an integer: refused by both
    [[2 ** 31], 'integers', null],
    [[1e39], 'floats', null],
    [[0.25], 'floats', [0.25]],
    [{ label: 1 }, 'doubles', null],
    [{ a: 1 }, 'strings', '{"a":1}'],
    ['text', 'strings', 'text'],
    [{ a: 1 }, 'bytes', b64('{"a":1}')], // a non-string: its JSON text's bytes
    [[1, 2], 'bytes', b64('[1,2]')],
    ['AQI=', 'bytes', 'AQI='],
    ['not base64!', 'bytes', null],
  ];
  for (const [output, type, want] of cases) {
    const label = `${JSON.stringify(output)} for a ${type} model`;
    assert.deepEqual(executorFeeds(output, type), want, `executor: ${label}`);
    assert.deepEqual(await profilerFeeds(output, type), want, `profiler: ${label}`);
  }
});

test('a combined output over a field: the same value, confidence rounded to 1e-6, on both sides', async () => {
  const spec: PipelineSpec = {
    output: 'e',
    stages: [{ name: 'e', kind: 'ensemble', models: ['m1', 'm2', 'm3'], combine: 'vote', field: 'label' }],
  };
  const outputs: Record<string, unknown> = {
    m1: { label: 'cat', confidence: 0.9 },
    m2: { label: 'cat', confidence: 0.8 },
    m3: { label: 'dog', confidence: 0.7 },
  };
  const h = new PipelineHarness(spec, { models: { m1: 'doubles', m2: 'doubles', m3: 'doubles' } });
  h.start([1]);
  for (const m of ['m1', 'm2', 'm3']) h.reply(m, outputs[m]);
  const served = JSON.parse(h.sink.only(0).answer.outputJson) as { label: string; confidence: number };
  assert.equal(served.label, 'cat');
  assert.equal(served.confidence, Math.round(served.confidence * 1e6) / 1e6);
  // The profiler's ensemble output feeds a strings model: its JSON text is what the server's would be.
  const chain: PipelineSpec = {
    output: 'n',
    stages: [...spec.stages, { name: 'n', kind: 'model', model: 'next', input: 'e' }],
  };
  const types = new Map<string, InputType>([...['m1', 'm2', 'm3'].map((m): [string, InputType] => [m, 'doubles']), ['next', 'strings']]);
  const run = async (model: string, inputs: readonly unknown[]): Promise<unknown[]> => inputs.map(() => outputs[model] ?? null);
  const flow = await flowSamples(chain, types, [[1]], run);
  assert.deepEqual(flow.modelInputs.get('next'), [JSON.stringify(served)]);
});

test('the shared helpers: parse, field, combined form, feed errors', () => {
  assert.deepEqual(parseOutput('{"a":1}'), { a: 1 });
  assert.equal(parseOutput('not json'), 'not json');
  assert.equal(fieldOf({ a: 2 }, 'a'), 2);
  assert.equal(fieldOf([1], 'a'), undefined);
  assert.deepEqual(fieldOf([1], null), [1]);
  assert.deepEqual(combinedOutput(3, 0.123456789, 'label'), { label: 3, confidence: 0.123457 });
  assert.equal(combinedOutput(3, 0.5, null), 3);
  assert.throws(
    () => feedInput([0.5], '[0.5]', 'integers'),
    (e: unknown) => e instanceof StageFeedError && /element 0/.test(e.message),
  );
  assert.throws(() => asModelInput([0.5], 'integers', 'feat'), /pipeline stage 'feat': .*32-bit integer/);
});
