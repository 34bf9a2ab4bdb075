// The error the TypeScript client (admin_client.ts) throws for a refused or failed request: the
// HTTP status, our stable CLP_ERR_* code when the server sent one, and the server's cause.

/** A non-200 answer (status 0: the request itself failed). Message as clipper_admin words it. */
export class ClipperClientError extends Error {
  readonly status: number;
  /** Our stable CLP_ERR_* code; null when the server sent none (e.g. Clipper's own frontend). */
  readonly code: string | null;
  /** The server's explanation (the `cause` field, or the raw body). */
  override readonly cause: string;

  constructor(status: number, code: string | null, cause: string, body: string) {
    super(status === 0 ? `Request failed: ${cause}` : `Received error status code: ${status} and message: ${body}`);
    this.name = 'ClipperClientError';
    this.status = status;
    this.code = code;
    this.cause = cause;
  }
}
