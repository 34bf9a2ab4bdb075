// Binding a uWS app, the same way for both servers: one listen, a coded error when the address is
// taken or not ours, and the port actually bound (0 picks a free one).

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
