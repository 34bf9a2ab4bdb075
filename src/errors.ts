// The one registry of coded errors. Every error a user can see has a stable code here, and the
// HTTP status and the Clipper-compatible `error` name it maps to. `http/reply.ts` is the only place
// that turns these into HTTP replies (the WebSocket stream sends the same errorBody() as a frame);
// errors cross threads as `WireError` plain data (custom Error fields do not survive postMessage).

export interface ErrorSpec {
  readonly status: number;
  /** The `error` field of the JSON body (Clipper's names where Clipper had one). */
  readonly name: string;
}

export const kErrors = {
  CLP_ERR_JSON_PARSE: { status: 400, name: 'Json error' },
  CLP_ERR_JSON_SCHEMA: { status: 400, name: 'Json error' },
  CLP_ERR_BODY_TOO_LARGE: { status: 413, name: 'Request entity too large' },
  CLP_ERR_APP_NOT_FOUND: { status: 404, name: 'Application not found' },
  CLP_ERR_ROUTE_NOT_FOUND: { status: 404, name: 'Not found' },
  CLP_ERR_METHOD_NOT_ALLOWED: { status: 405, name: 'Method not allowed' },
  // The management API's bearer token (admin/admin_auth.ts): none or malformed → 401, wrong → 403.
  CLP_ERR_UNAUTHORIZED: { status: 401, name: 'Unauthorized' },
  CLP_ERR_FORBIDDEN: { status: 403, name: 'Forbidden' },
  CLP_ERR_QUERY_PROCESSING: { status: 400, name: 'Query processing error' },
  CLP_ERR_OVERLOADED: { status: 503, name: 'Overloaded' },
  CLP_ERR_SHED: { status: 429, name: 'Too many requests' },
  CLP_ERR_INVALID_ARG: { status: 400, name: 'Invalid argument' },
  CLP_ERR_NOT_FOUND: { status: 400, name: 'Not found' },
  CLP_ERR_CONFLICT: { status: 400, name: 'Conflict' },
  CLP_ERR_STATE_UNAVAILABLE: { status: 503, name: 'State store unavailable' },
  // A record read back from the state store that is corrupt or of the wrong shape (state/record_check.ts).
  CLP_ERR_STATE_CORRUPT: { status: 500, name: 'State store record corrupt' },
  CLP_ERR_DEPLOY_FAILED: { status: 400, name: 'Deploy failed' },
  CLP_ERR_DOCKER_UNAVAILABLE: { status: 503, name: 'Docker engine unavailable' },
  CLP_ERR_IMAGE_BUILD_FAILED: { status: 400, name: 'Image build failed' },
  CLP_ERR_INTERNAL: { status: 500, name: 'Internal error' },
  // A model upload the server's disk cannot take: full (ENOSPC, EDQUOT) → 507; read-only or not
  // permitted (EROFS, EACCES, EPERM) → 503, a server-side condition an operator fixes, then a retry works.
  CLP_ERR_STORAGE_FULL: { status: 507, name: 'Insufficient storage' },
  CLP_ERR_STORAGE_UNWRITABLE: { status: 503, name: 'Storage not writable' },
  // The Open Inference Protocol's (frontend/oip/): its body is {"error": message}, the status is here.
  CLP_ERR_OIP_INVALID: { status: 400, name: 'Invalid inference request' },
  CLP_ERR_OIP_MODEL_NOT_FOUND: { status: 404, name: 'Model not found' },
  CLP_ERR_OIP_NOT_READY: { status: 400, name: 'Not ready' },
  CLP_ERR_OIP_TIMEOUT: { status: 504, name: 'Deadline exceeded' },
  CLP_ERR_OIP_UNAVAILABLE: { status: 503, name: 'Unavailable' },
  CLP_ERR_OIP_MODEL_FAILED: { status: 500, name: 'Model error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof kErrors;

export class ClipperError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ClipperError';
    this.code = code;
    this.status = kErrors[code].status;
    this.details = details;
  }
}

/** Any thrown value as a ClipperError: itself, or a CLP_ERR_INTERNAL that quotes it. */
export function asClipperError(err: unknown): ClipperError {
  if (err instanceof ClipperError) return err;
  return new ClipperError('CLP_ERR_INTERNAL', `unexpected error: ${err instanceof Error ? err.message : String(err)}`, undefined, {
    cause: err,
  });
}

/** An error as plain data, safe to postMessage. */
export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof ClipperError) {
    return err.details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: { ...err.details } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'CLP_ERR_INTERNAL', message };
}

export function fromWireError(wire: WireError): ClipperError {
  const code: ErrorCode = wire.code in kErrors ? wire.code : 'CLP_ERR_INTERNAL';
  return new ClipperError(code, wire.message, wire.details);
}

/** The JSON body of an error response: `{"error","cause"}` as Clipper sent, plus our stable code. */
export function errorBody(err: ClipperError): string {
  return JSON.stringify({ error: kErrors[err.code].name, cause: err.message, code: err.code });
}
