// Binding a uWS app, the same way for both servers: one listen, a coded error when the address is
// taken or not ours, and the port actually bound (0 picks a free one).
//
// uWS listens with SO_REUSEPORT on a given port (it has no LIBUS_LISTEN_EXCLUSIVE_PORT), but not on
// port 0: frontend threads sharing a port (config frontendAccept 'reuseport') use listenShared.

import { us_listen_socket_close, us_socket_local_port, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { ClipperError } from '../errors.js';

export interface Listening {
  readonly port: number;
  /** Stops accepting connections (idempotent); open connections are the caller's to end. */
  stopListening(): void;
}

/** Listens on host:port; `what` names the server in the error ("admin server", "query frontend"). */
export function listenApp(app: TemplatedApp, host: string, port: number, what: string): Promise<Listening> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (token: us_listen_socket | false) => {
      if (token === false) {
        reject(new ClipperError('CLP_ERR_INVALID_ARG', `${what} cannot listen on ${host}:${port}`));
        return;
      }
      let listening = true;
      resolve({
        port: us_socket_local_port(token),
        stopListening(): void {
          if (!listening) return;
          listening = false;
          us_listen_socket_close(token);
        },
      });
    });
  });
}

/** How often listenShared tries another free port when the one it found was taken meanwhile. */
const kSharedPortTries = 5;

/**
 * Listens on host:port so that other apps (other threads) can listen on the same port too
 * (SO_REUSEPORT); with port 0 it finds a free port first, then listens on it by number.
 */
export async function listenShared(app: TemplatedApp, host: string, port: number, what: string): Promise<Listening> {
  if (port !== 0) return listenApp(app, host, port, what);
  let lastError: unknown = null;
  for (let i = 0; i < kSharedPortTries; i++) {
    const probe = await listenApp(app, host, 0, what);
    probe.stopListening();
    try {
      return await listenApp(app, host, probe.port, what);
    } catch (err) {
      lastError = err; // taken between the probe and the listen: another free port
    }
  }
  throw lastError;
}
