// The WebSocket stream's limits and close codes (docs/streaming.md).

export interface StreamLimits {
  /** Queries in flight per connection (a batch counts each input). */
  inFlightMax: number;
  /** Above this many bytes waiting to be sent, new queries are rejected with error frames. */
  highWaterBytes: number;
  /** Above this many bytes waiting to be sent, the connection is closed with 4008. */
  backpressureBytesMax: number;
  /** Largest incoming message; uWS closes the connection (1009) on a larger one. */
  messageBytesMax: number;
  /** Seconds without traffic before uWS closes the connection (it pings automatically); 0: never. */
  idleTimeoutS: number;
}

export const kStreamDefaults: Readonly<StreamLimits> = Object.freeze({
  inFlightMax: 4096,
  highWaterBytes: 1024 * 1024,
  backpressureBytesMax: 16 * 1024 * 1024,
  messageBytesMax: 16 * 1024 * 1024,
  idleTimeoutS: 120,
});

/** Close codes this endpoint uses (RFC 6455 private range 4000-4999). */
export const kCloseBackpressure = 4008;
export const kCloseShutdown = 1001;
