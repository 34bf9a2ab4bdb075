// The contract between the query core and the protocol codecs: what one query's answer carries.
// The core fills it; each codec (frontend/) encodes it, in one place per wire format.

/** Extra fields of an answer made by model selection or a pipeline. Without `confidence` or
 * `fallback` it is shared by many answers (one per model, or per list of models), so a codec may
 * memoize its encoding keyed by the object; with either it is built per query. */
export interface AnswerExtra {
  /** The models that served the answer (Clipper-ts's "models" field). */
  readonly models: readonly string[];
  /** Exp4's ensemble confidence, when outputs were combined. */
  readonly confidence?: number;
  /** A pipeline answered with its best answer so far: why, naming the stage (stage_run.ts); built per query. */
  readonly fallback?: string;
}

export interface Answer {
  readonly queryId: number;
  /** The output as JSON text (the model's, the cache's, or the app's default output). */
  readonly outputJson: string;
  readonly isDefault: boolean;
  /** Why a default output was given (Clipper's default_explanation); null when none. */
  readonly explanation: string | null;
  /** A default because an overloaded model queue refused the query: an app may answer 429 instead. */
  readonly shed: boolean;
  readonly extra: AnswerExtra | null;
}

/** Receives each query's answer, exactly once; one sink per request (HTTP) or connection (WebSocket).
 * `index` is the caller's own slot number for the query (its position in a batch, a stream slot). */
export interface QuerySink {
  onAnswer(index: number, answer: Answer): void;
}
