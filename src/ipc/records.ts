// Record layouts carried by the rings (the ring itself is ring_buffer.ts).
//
// Query ring, main → batching worker. Record tag = QueryTag.
//   Query body (8-aligned):
//     +0  u32 token          frontend's id for this query (reply correlation)
//     +4  u32 modelIndex     which model-version actor in the worker
//     +8  f64 deadlineMs     absolute (performance.timeOrigin + performance.now())
//     +16 u32 inputType      InputTypeCode
//     +20 u32 count          element count (numeric) or byte length (strings, bytes)
//     +24 payload            f64/f32/i32 little-endian elements, or raw bytes
//   Cancel body: +0 u32 token, +4 u32 modelIndex   (the client went away)
//
// Reply ring, batching worker → main. Record tag = ReplyStatus.
//     +0  u32 token
//     +4  u32 reason         DefaultReason (0 when status is Ok)
//     +8  utf8 text          Ok: the output as JSON text; Default: an optional detail message

export const enum QueryTag {
  Query = 1,
  Cancel = 2,
}

export const kQueryHeaderBytes = 24;
export const kReplyHeaderBytes = 8;

export const enum ReplyStatus {
  Ok = 0,
  Default = 1,
}

/** Why a query was answered with the app's default output. */
export const enum DefaultReason {
  None = 0,
  NoReplica = 1,
  ModelError = 2,
  QueueFull = 3,
  UnknownModel = 4,
  DeadlineUnreachable = 5,
  ReplicaFailed = 6,
}
