// A model container's output as the Docker manager reads it: stdout and stderr demultiplexed from one
// attach stream into the replica's OutputTail, and the runner's ready line (a JSON line with
// "clipper_ready":true, printed once it listens) awaited with a time limit.

import type Docker from 'dockerode';
import { PassThrough, type Duplex } from 'node:stream';
import { createInterface } from 'node:readline';
import { readyPort, type OutputTail } from '../container_manager.js';

export interface ReadyWatch {
  /** Resolves at the ready line; rejects when stdout ends first or after the time limit. */
  ready: Promise<void>;
  /** Stop watching: the timer and the attach stream (a failed start must not leave its attach behind). */
  stop(): void;
}

/** Attach to `container` (before starting it) and watch its output for the ready line. */
export async function watchForReady(
  docker: Docker,
  container: Docker.Container,
  output: OutputTail,
  timeoutMs: number,
): Promise<ReadyWatch> {
  const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Duplex;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  stream.on('end', () => {
    stdout.end();
    stderr.end();
  });
  stderr.setEncoding('utf8');
  stderr.on('data', (text: string) => output.push(text));
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`did not print its ready line within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: stdout }).on('line', (line) => {
      output.push(`${line}\n`);
      if (readyPort(line) !== null) {
        clearTimeout(timer);
        resolve();
      }
    });
    stdout.on('end', () => {
      clearTimeout(timer);
      reject(new Error('exited before it was ready'));
    });
  });
  ready.catch(() => {});
  return {
    ready,
    stop: () => {
      clearTimeout(timer);
      stream.destroy();
    },
  };
}
