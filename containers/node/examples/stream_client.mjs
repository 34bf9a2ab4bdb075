// A WebSocket streaming client: pipelines many queries over one connection and prints the answers
// as they arrive (possibly out of order; each carries the id it was sent with).
//
//   node containers/node/examples/stream_client.mjs [ws://127.0.0.1:1337/hello-world/stream] [count]
//
// Try it against the quickstart (`npm start` serves the hello-world app, which takes doubles).
import http from 'node:http';
import { WebSocket } from 'undici';

const url = process.argv[2] ?? 'ws://127.0.0.1:1337/hello-world/stream';
const count = Number(process.argv[3] ?? 10);

const ws = new WebSocket(url);
const sentAt = new Map();
let answered = 0;

ws.addEventListener('open', () => {
  // Pipeline: send everything at once; the server answers each query as soon as it finishes.
  for (let id = 0; id < count; id++) {
    sentAt.set(id, performance.now());
    ws.send(JSON.stringify({ id, input: [id, id / 2] }));
  }
  // One message can also carry a batch; its answer comes back as one message.
  sentAt.set('batch', performance.now());
  ws.send(
    JSON.stringify({
      id: 'batch',
      input_batch: [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
    }),
  );
});

ws.addEventListener('message', (ev) => {
  const msg = JSON.parse(ev.data);
  const ms = (performance.now() - sentAt.get(msg.id)).toFixed(2);
  if (msg.error !== undefined) console.log(`id=${msg.id} error ${msg.code}: ${msg.cause}`);
  else if (msg.batch_predictions !== undefined)
    console.log(`id=${msg.id} batch ${JSON.stringify(msg.batch_predictions.map((p) => p.output))} (${ms} ms)`);
  else
    console.log(
      `id=${msg.id} output=${JSON.stringify(msg.output)}${msg.default ? ` (default: ${msg.default_explanation})` : ''} (${ms} ms)`,
    );
  if (++answered === count + 1) ws.close();
});

ws.addEventListener('close', (ev) => {
  if (answered < count + 1) console.error(`connection closed early: ${ev.code} ${ev.reason}`);
  process.exitCode = answered === count + 1 ? 0 : 1;
});
ws.addEventListener('error', () => {
  process.exitCode = 1;
  if (answered > 0) return; // the close handler says what happened
  // The WebSocket API hides why an upgrade failed: ask the server the same way and print its reason.
  whyRefused(url).then((why) => console.error(`cannot open ${url}: ${why}`));
});

/** The server's answer to the upgrade request (e.g. `HTTP 404: No application named ...`), or the connection error. */
function whyRefused(wsUrl) {
  const target = new URL(wsUrl.replace(/^ws/, 'http'));
  return new Promise((resolve) => {
    const req = http.get(
      target,
      {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': Buffer.from('clipper-ts-probe').toString('base64'),
        },
      },
      (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (chunk) => {
            body += chunk;
          })
          .on('end', () => {
            let cause = body;
            try {
              cause = JSON.parse(body).cause ?? body;
            } catch {
              /* not JSON */
            }
            resolve(`HTTP ${res.statusCode}: ${cause}`);
          });
      },
    );
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve('the server accepted the upgrade on a second try');
    });
    req.on('error', (err) => resolve(`${err.message} (is the server running?)`));
  });
}
