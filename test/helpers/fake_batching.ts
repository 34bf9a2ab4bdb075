// Fakes for unit tests of the query core: a BatchingPort that records what the core writes (and can
// refuse it, like a full ring), a sink that records answers with the (simulated) time they came, and
// an app route.

import type { Placement } from '../../src/batching/protocol.js';
import { inputTypeCode, type InputTypeCode } from '../../src/input_types.js';
import type { Clock } from '../../src/lib/clock.js';
import type { Answer, QuerySink } from '../../src/query/answer.js';
import { newAppStats, type AppRoute } from '../../src/query/app_route.js';
import type { BatchingPort } from '../../src/query/ports.js';

export interface WrittenQuery {
  placement: Placement;
  token: number;
  deadlineMs: number;
  priority: number;
  type: InputTypeCode;
  input: readonly number[] | string | Buffer;
}

export class FakeBatchingPort implements BatchingPort {
  inputBytesMax = 1024;
  /** While true every write is refused, as by a full ring. */
  full = false;
  readonly written: WrittenQuery[] = [];
  readonly cancelled: { placement: Placement; token: number }[] = [];

  submitNumeric(
    placement: Placement,
    token: number,
    deadlineMs: number,
    priority: number,
    type: InputTypeCode,
    values: readonly number[],
  ): boolean {
    if (this.full) return false;
    this.written.push({ placement, token, deadlineMs, priority, type, input: [...values] });
    return true;
  }

  submitBytes(
    placement: Placement,
    token: number,
    deadlineMs: number,
    priority: number,
    type: InputTypeCode,
    value: string | Buffer,
  ): boolean {
    if (this.full) return false;
    this.written.push({ placement, token, deadlineMs, priority, type, input: value });
    return true;
  }

  cancel(placement: Placement, token: number): void {
    this.cancelled.push({ placement, token });
  }

  /** The last query written (throws when none was). */
  last(): WrittenQuery {
    const q = this.written.at(-1);
    if (q === undefined) throw new Error('no query was written');
    return q;
  }
}

export interface Received {
  index: number;
  answer: Answer;
  atMs: number;
}

export class RecordingSink implements QuerySink {
  readonly answers: Received[] = [];

  constructor(private readonly clock: Clock) {}

  onAnswer(index: number, answer: Answer): void {
    this.answers.push({ index, answer, atMs: this.clock.nowMs() });
  }

  /** The only answer for `index` (throws when there is none or more than one). */
  only(index: number): Received {
    const found = this.answers.filter((a) => a.index === index);
    if (found.length !== 1) throw new Error(`index ${index} has ${found.length} answers`);
    return found[0]!;
  }
}

export const kPlacementA: Placement = Object.freeze({ workerIndex: 0, modelIndex: 1 });
export const kPlacementB: Placement = Object.freeze({ workerIndex: 1, modelIndex: 2 });

/** A route for tests: app `name` on kPlacementA with a 100 ms SLO, unless overridden. */
export function testRoute(overrides: Partial<AppRoute> = {}): AppRoute {
  const inputType = overrides.inputType ?? 'doubles';
  return {
    name: 'app',
    stats: newAppStats(),
    inputType,
    typeCode: inputTypeCode(inputType),
    defaultJson: '"dflt"',
    sloMs: 100,
    modelName: 'm',
    placement: kPlacementA,
    versions: new Map(),
    overloadResponse: 'default_output',
    selection: null,
    ...overrides,
  };
}
