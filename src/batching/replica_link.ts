// What a model actor needs from one replica: a link that sends batches and reports back. The real
// one is rpc/ReplicaConnection (a socket, handshake, heartbeats, reconnects); tests pass fakes.

import type { PredictMessage } from '../rpc/protocol.js';
import { ReplicaConnection, type ReplicaAddress, type ReplicaConnectionOptions } from '../rpc/replica_connection.js';

/** One replica, as the actor that owns it sees it. */
export interface ReplicaLink {
  /** Send one batch. False when the link is not ready (the batch was not sent). */
  send(message: PredictMessage): boolean;
  /** Drop the current connection (its batches are reported lost) and dial again. */
  reset(reason: string): void;
  /** Close for good; batches in flight are reported lost through onDown. */
  close(reason?: string): void;
}

/** What a link reports to its actor. */
export interface ReplicaLinkEvents {
  onReady(): void;
  /** The connection closed; every batch id in `lostBatchIds` got no answer. */
  onDown(reason: string, lostBatchIds: number[]): void;
  onResult(batchId: number, outputs: unknown[]): void;
  onBatchError(batchId: number, message: string): void;
}

/** Opens a link to a replica. */
export type ReplicaConnector = (address: ReplicaAddress, events: ReplicaLinkEvents) => ReplicaLink;

/** Links over real connections (rpc/replica_connection.ts). */
export function socketConnector(options: ReplicaConnectionOptions): ReplicaConnector {
  return (address, events) =>
    new ReplicaConnection(address, options, {
      onReady: () => events.onReady(),
      onDown: (_conn, reason, lostBatchIds) => events.onDown(reason, lostBatchIds),
      onResult: (_conn, batchId, outputs) => events.onResult(batchId, outputs),
      onBatchError: (_conn, batchId, message) => events.onBatchError(batchId, message),
    });
}
