// A bare uWebSockets.js server: the ceiling for any HTTP predict path. Any POST reads its body
// and answers {"query_id":N,"output":1,"default":false}. A WebSocket on any path answers each
// {"id":N,"input":[...]} frame with {"id":N,"output":1,"default":false} (the bench's ws shape).
// Standalone: node dist/bench/echo_server.js [port]   (or ECHO_PORT; default 8080; 127.0.0.1)

import { pathToFileURL } from 'node:url';
import { App, us_listen_socket_close, us_socket_local_port, type us_listen_socket } from 'uWebSockets.js';

export interface EchoServerOptions {
  /** Answer `"default":true` on every n-th response (0 = never); lets tests check default counting. */
  defaultEvery?: number;
}

export interface EchoServer {
  port: number;
  close(): void;
}

export function startEchoServer(port: number, options: EchoServerOptions = {}): Promise<EchoServer> {
  const defaultEvery = options.defaultEvery ?? 0;
  let n = 0;
  const answer = (): string => {
    n++;
    return `"output":1,"default":${defaultEvery > 0 && n % defaultEvery === 0}}`;
  };
  const app = App()
    .post('/*', (res) => {
      const state = { aborted: false };
      res.onAborted(() => {
        state.aborted = true;
      });
      res.onData((_chunk, isLast) => {
        if (!isLast || state.aborted) return;
        const body = `{"query_id":${n},${answer()}`;
        res.cork(() => {
          res.writeHeader('Content-Type', 'application/json').end(body);
        });
      });
    })
    .ws('/*', {
      message: (ws, message) => {
        const text = Buffer.from(message).toString('utf8');
        let id: unknown = null;
        try {
          id = (JSON.parse(text) as { id?: unknown }).id ?? null;
        } catch {
          /* answer id null */
        }
        ws.send(`{"id":${JSON.stringify(id)},${answer()}`, false);
      },
    });
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', port, (socket: us_listen_socket | false) => {
      if (socket === false) {
        reject(new Error(`echo server: cannot listen on 127.0.0.1:${port}`));
        return;
      }
      resolve({
        port: us_socket_local_port(socket),
        close: () => {
          us_listen_socket_close(socket);
          app.close();
        },
      });
    });
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.argv[2] ?? process.env['ECHO_PORT'] ?? 8080);
  startEchoServer(port).then(
    (s) => {
      process.stdout.write(`echo server listening on 127.0.0.1:${s.port}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
