// A Docker registry on 127.0.0.1, for pushing model images without a remote one. Its image is made
// from Debian's `docker-registry` package installed on this machine (the Go binary and the libraries
// it loads), so nothing is pulled. The engine allows plain HTTP to 127.0.0.0/8 registries.

import { promises as fs, existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { ClipperError } from '../../errors.js';
import { dockerErrorText } from './engine.js';
import {
  assembleRootfs,
  closureOf,
  imageExists,
  importDirectory,
  kDefaultPath,
  kMinimalEtc,
  rootfsHash,
  type LogFn,
  type RootfsText,
} from './rootfs.js';

export const kRegistryBinary = '/usr/bin/docker-registry';
export const kLabelLocalRegistry = 'ai.clipper.local-registry';
const kRegistryConfig = '/etc/docker/registry/config.yml';

const kConfig: RootfsText = {
  dest: kRegistryConfig,
  content: [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    '    rootdirectory: /var/lib/registry',
    '  delete:',
    '    enabled: true',
    'http:',
    '  addr: :5000',
    '',
  ].join('\n'),
};

export interface LocalRegistry {
  /** `127.0.0.1:<port>`, usable as a registry prefix in image tags. */
  address: string;
  containerId: string;
  /** Removes the registry container and what was pushed to it. */
  stop: () => Promise<void>;
}

/** Why a local registry cannot be made here, or null when it can. */
export function localRegistryUnavailableReason(): string | null {
  return existsSync(kRegistryBinary)
    ? null
    : `${kRegistryBinary} is missing (install Debian's registry with \`apt-get install -y docker-registry\`)`;
}

/** The registry image's tag, building it (seconds) when missing. The image is kept, like base images. */
export async function ensureRegistryImage(docker: Docker, log: LogFn = () => {}): Promise<string> {
  const reason = localRegistryUnavailableReason();
  if (reason !== null) throw new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', reason);
  const files = await closureOf([{ src: kRegistryBinary, dest: kRegistryBinary }]);
  const texts = [...kMinimalEtc, kConfig];
  const tag = `clipper-ts/registry:${await rootfsHash(['registry 1'], files, texts)}`;
  if (await imageExists(docker, tag)) return tag;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clipper-registry-'));
  try {
    await assembleRootfs(dir, files, texts, [
      { dest: '/tmp', mode: 0o1777 },
      { dest: '/var/lib/registry', mode: 0o755 },
    ]);
    log(`building registry image ${tag}`);
    await importDirectory(
      docker,
      dir,
      tag,
      [
        `ENV PATH=${kDefaultPath}`,
        'EXPOSE 5000',
        'VOLUME /var/lib/registry',
        `CMD ${JSON.stringify([kRegistryBinary, 'serve', kRegistryConfig])}`,
      ],
      log,
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return tag;
}

/** Starts a registry on a free port of 127.0.0.1 and waits until it answers. */
export async function startLocalRegistry(docker: Docker, log: LogFn = () => {}, readyTimeoutMs = 20_000): Promise<LocalRegistry> {
  const image = await ensureRegistryImage(docker, log);
  const container = await docker.createContainer({
    Image: image,
    Labels: { [kLabelLocalRegistry]: 'true' },
    ExposedPorts: { '5000/tcp': {} },
    HostConfig: { PortBindings: { '5000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  const stop = async (): Promise<void> => {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  };
  try {
    await container.start();
    const info = await container.inspect();
    const hostPort = info.NetworkSettings.Ports['5000/tcp']?.[0]?.HostPort;
    if (hostPort === undefined) throw new Error('the engine published no port for 5000/tcp');
    const address = `127.0.0.1:${hostPort}`;
    await waitForRegistry(address, readyTimeoutMs);
    log(`local registry at ${address}`);
    return { address, containerId: container.id, stop };
  } catch (err) {
    await stop();
    throw new ClipperError('CLP_ERR_DEPLOY_FAILED', `starting the local registry failed: ${dockerErrorText(err)}`);
  }
}

async function waitForRegistry(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await probeRegistry(`http://${address}/v2/`);
    if (last === 'ok') return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no answer from http://${address}/v2/ within ${timeoutMs} ms (${last})`);
}

/** 'ok' when the registry answers 200, else what went wrong. (node:http: a socket the proxy holds
 * open without answering keeps the probe, and the process, waiting until its timeout.) */
function probeRegistry(url: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      req.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    const req = http.get(url, (res) => {
      res.resume();
      clearTimeout(timer);
      resolve(res.statusCode === 200 ? 'ok' : `HTTP ${res.statusCode}`);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      resolve(err.message);
    });
  });
}
