// The images a Docker deployment of Clipper runs (containers/compose.yaml), built from this
// machine's own files; nothing is pulled:
//   clipper-ts/server:<version> (and :local)  the compiled server (dist/src, dist/containers,
//       dist/tools), bin/, package.json, containers/ and the production node_modules, on the node base;
//   clipper-ts/redis:local                    this machine's redis-server and redis-cli with their
//       shared libraries, in an otherwise empty root;
//   sum-model:1                               the quickstart model (containers/node/examples/sum_model.mjs).

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { ClipperError } from '../../errors.js';
import { kExamplesDir, kRepoRoot } from '../../paths.js';
import { ensureBaseImage } from './base_images.js';
import { buildContext, buildModelImage, tagImage } from './images.js';
import { assembleRootfs, closureOf, importDirectory, kMinimalEtc, rootfsHash, type LogFn } from './rootfs.js';

export const kServerImageLocal = 'clipper-ts/server:local';
export const kRedisImage = 'clipper-ts/redis:local';
export const kExampleModelImage = 'sum-model:1';
/** Label on the images built here: server, redis. */
export const kLabelSystemImage = 'ai.clipper.system-image';
/** Label on the Redis image: a hash of its files, so an unchanged one is not imported again. */
export const kLabelRecipe = 'ai.clipper.recipe';

export const kServerHome = '/opt/clipper';
export const kRedisServerBinary = '/usr/bin/redis-server';
export const kRedisCliBinary = '/usr/bin/redis-cli';

/** One image built by buildSystemImages: its tags, size and how long the step took. */
export interface BuiltImage {
  tags: string[];
  imageId: string;
  sizeBytes: number;
  buildMs: number;
}

export interface SystemImagesOptions {
  /** Also build the Python base image (mmdebstrap; minutes on the first build). */
  python?: boolean;
  log?: LogFn;
}

/** The package.json version of this checkout: the server image's tag. */
export async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await fs.readFile(path.join(kRepoRoot, 'package.json'), 'utf8')) as { version?: string };
  if (typeof pkg.version !== 'string' || pkg.version === '') throw new ClipperError('CLP_ERR_INTERNAL', 'package.json has no version');
  return pkg.version;
}

/** Builds the node base (and the python base when asked), then the server, Redis and example model images, in that order. */
export async function buildSystemImages(docker: Docker, options: SystemImagesOptions = {}): Promise<BuiltImage[]> {
  const log = options.log ?? (() => {});
  const steps: Array<() => Promise<string[]>> = [
    async () => [await ensureBaseImage(docker, 'node', log)],
    ...(options.python === true ? [async () => [await ensureBaseImage(docker, 'python', log)]] : []),
    () => buildServerImage(docker, log),
    async () => [await buildRedisImage(docker, log)],
    async () => [await buildExampleModelImage(docker, log)],
  ];
  const built: BuiltImage[] = [];
  for (const step of steps) {
    const startMs = Date.now();
    const tags = await step();
    const info = await docker.getImage(tags[0]!).inspect();
    built.push({ tags, imageId: info.Id, sizeBytes: info.Size, buildMs: Date.now() - startMs });
  }
  return built;
}

/** The server image, tagged `clipper-ts/server:<package version>` and `clipper-ts/server:local`; resolves with both tags. */
export async function buildServerImage(docker: Docker, log: LogFn = () => {}): Promise<string[]> {
  const baseTag = await ensureBaseImage(docker, 'node', log);
  const version = await packageVersion();
  const tags = [`clipper-ts/server:${version}`, kServerImageLocal];
  const previousId = await docker
    .getImage(tags[0]!)
    .inspect()
    .then(
      (i) => i.Id,
      () => null,
    );
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clipper-server-image-'));
  try {
    await assembleServerTree(path.join(dir, 'clipper'));
    await fs.writeFile(path.join(dir, 'Dockerfile'), serverDockerfile(baseTag, version));
    await buildContext(docker, dir, tags[0]!, log);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  await tagImage(docker, tags[0]!, kServerImageLocal);
  // A rebuild leaves the previous image untagged: remove it unless a container still uses it.
  const currentId = (await docker.getImage(tags[0]!).inspect()).Id;
  if (previousId !== null && previousId !== currentId)
    await docker
      .getImage(previousId)
      .remove()
      .catch(() => {});
  return tags;
}

/** The node program a HEALTHCHECK runs: GET the admin API's /healthz on `port` (default $CLIPPER_ADMIN_PORT, else 1338). */
export function healthProbeScript(port?: number): string {
  const where = port === undefined ? '(process.env.CLIPPER_ADMIN_PORT||1338)' : String(port);
  return `fetch('http://127.0.0.1:'+${where}+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`;
}

export function serverDockerfile(baseTag: string, version: string): string {
  const health = JSON.stringify(['node', '-e', healthProbeScript()]);
  return [
    `FROM ${baseTag}`,
    `COPY clipper ${kServerHome}`,
    `WORKDIR ${kServerHome}`,
    'ENV NODE_ENV=production',
    `LABEL ${kLabelSystemImage}=server ai.clipper.server-version=${version}`,
    'EXPOSE 1337 1338',
    `HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ${health}`,
    `ENTRYPOINT ["node", "${kServerHome}/bin/clipper.js"]`,
    'CMD ["start", "--host", "127.0.0.1"]',
    '',
  ].join('\n');
}

/** What the server image holds under /opt/clipper, copied from this checkout (dist/ must be built). */
export async function assembleServerTree(dest: string): Promise<void> {
  const skip = (src: string): boolean => /\.(map|d\.ts)$/.test(src) || path.basename(src) === '__pycache__';
  for (const part of ['dist/src', 'dist/containers', 'dist/tools']) {
    const from = path.join(kRepoRoot, part);
    const present = await fs.stat(from).then(
      () => true,
      () => false,
    );
    if (!present && part !== 'dist/tools') {
      throw new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `${from} is missing: build the project first (npm run build)`);
    }
    if (present) await fs.cp(from, path.join(dest, part), { recursive: true, filter: (src) => !skip(src) });
  }
  for (const part of ['bin', 'containers', 'package.json']) {
    await fs.cp(path.join(kRepoRoot, part), path.join(dest, part), { recursive: true, filter: (src) => !skip(src) });
  }
  await fs.access(path.join(dest, 'containers', 'node', 'examples', 'sum_model.mjs'));
  for (const pkg of await productionPackages(kRepoRoot)) {
    await fs.cp(path.join(kRepoRoot, pkg), path.join(dest, pkg), { recursive: true, filter: keepPackageFile });
  }
}

/**
 * The top-level package folders (`node_modules/x`, `node_modules/@s/x`) of the production
 * dependencies, per package-lock.json: not dev-only, not @types/*, not in devDependencies, and
 * present on disk (optional packages of other platforms are not). Nested folders come with their parent.
 */
export async function productionPackages(root: string): Promise<string[]> {
  let lock: { packages?: Record<string, { dev?: boolean }> };
  try {
    lock = JSON.parse(await fs.readFile(path.join(root, 'package-lock.json'), 'utf8')) as typeof lock;
  } catch (err) {
    throw new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `cannot read package-lock.json: ${(err as Error).message}`);
  }
  const pkg = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
  const devNames = new Set(Object.keys(pkg.devDependencies ?? {}));
  const out: string[] = [];
  for (const [where, entry] of Object.entries(lock.packages ?? {})) {
    const name = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(where)?.[1];
    if (name === undefined || entry.dev === true || name.startsWith('@types/') || devNames.has(name)) continue;
    if (
      await fs.stat(path.join(root, where)).then(
        () => true,
        () => false,
      )
    )
      out.push(where);
  }
  return out.sort();
}

/** Drops the uWebSockets.js addons built for other platforms and Node ABIs (~125 MB of 133). */
function keepPackageFile(src: string): boolean {
  const addon = /^uws_([a-z0-9]+)_([a-z0-9]+)_(\d+)\.node$/.exec(path.basename(src));
  if (addon === null) return true;
  return addon[1] === process.platform && addon[2] === process.arch && addon[3] === process.versions.modules;
}

/**
 * The Redis image `clipper-ts/redis:local`: redis-server and redis-cli (for a healthcheck) with
 * their shared libraries. Imported again only when the files changed (label ai.clipper.recipe).
 */
export async function buildRedisImage(docker: Docker, log: LogFn = () => {}): Promise<string> {
  for (const binary of [kRedisServerBinary, kRedisCliBinary]) {
    if (
      !(await fs.stat(binary).then(
        () => true,
        () => false,
      ))
    ) {
      throw new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `${binary} is missing (install it with \`apt-get install -y redis-server\`)`);
    }
  }
  const files = await closureOf([
    { src: kRedisServerBinary, dest: kRedisServerBinary },
    { src: kRedisCliBinary, dest: kRedisCliBinary },
  ]);
  const hash = await rootfsHash(['redis 1'], files, kMinimalEtc);
  const existing = await docker
    .getImage(kRedisImage)
    .inspect()
    .catch(() => null);
  if (existing?.Config?.Labels?.[kLabelRecipe] === hash) return kRedisImage;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clipper-redis-image-'));
  try {
    await assembleRootfs(dir, files, kMinimalEtc, [
      { dest: '/tmp', mode: 0o1777 },
      { dest: '/data', mode: 0o755 },
    ]);
    log(`redis: ${files.length} files, importing`);
    await importDirectory(
      docker,
      dir,
      kRedisImage,
      [
        'ENV PATH=/usr/bin:/bin',
        'WORKDIR /data',
        'EXPOSE 6379',
        `LABEL ${kLabelSystemImage}=redis ${kLabelRecipe}=${hash}`,
        'ENTRYPOINT ["redis-server"]',
      ],
      log,
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return kRedisImage;
}

/** The quickstart model image `sum-model:1` (doubles → their sum), on the node base. */
export async function buildExampleModelImage(docker: Docker, log: LogFn = () => {}): Promise<string> {
  const { tag } = await buildModelImage(
    docker,
    {
      model: 'sum-model',
      version: '1',
      runtime: 'node',
      inputType: 'doubles',
      entry: path.join(kExamplesDir, 'sum_model.mjs'),
    },
    log,
  );
  return tag;
}
