// Why a sub-query's default answer was one (docs/pipelines.md, "Execution, budgets and fallbacks").
// How an output is parsed and feeds the next model, and the field a stage combines:
// pipeline_output.ts (one rule, shared with the profiler).

import type { Answer } from './answer.js';
import { DefaultKind } from './app_route.js';
import {
  kExplainModelErrorPrefix,
  kExplainNoModel,
  kExplainReplicaFailedPrefix,
  kExplainShutdown,
  kExplainSlo,
  kExplainSloInfeasible,
} from './explanations.js';

/** Why a sub-query's answer was a default output, as counted per app (AppStats.defaultKinds). */
export function defaultKindOfAnswer(answer: Answer): DefaultKind {
  if (answer.shed) return DefaultKind.Shed;
  const e = answer.explanation ?? '';
  if (e === kExplainSlo) return DefaultKind.Slo;
  if (e === kExplainSloInfeasible) return DefaultKind.SloInfeasible;
  if (e === kExplainNoModel) return DefaultKind.NoModel;
  if (e === kExplainShutdown) return DefaultKind.Shutdown;
  if (e.startsWith(kExplainModelErrorPrefix)) return DefaultKind.ModelError;
  if (e.startsWith(kExplainReplicaFailedPrefix)) return DefaultKind.ReplicaFailed;
  return DefaultKind.Other;
}
