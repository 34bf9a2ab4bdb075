// Model images: a model's file(s) and the runner for its runtime, on a locally built base image
// (base_images.ts), built by the engine's classic builder; and pushing them to a registry.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { ClipperError } from '../../errors.js';
import { ensureBaseImage } from './base_images.js';
import { dockerErrorText, kLabelModel, kLabelVersion } from './engine.js';
import { assembleContext, resolveModelFiles, validateContextSpec, type ModelContextSpec } from './model_context.js';
import { followProgress, splitTag, type LogFn, type ProgressEvent } from './rootfs.js';

export { ensureBaseImage, type ModelRuntime } from './base_images.js';

export const kLabelRuntime = 'ai.clipper.runtime';
const kBuildTailLines = 40;

/** What to build (see ModelContextSpec for the model's part) and how to tag it. */
export interface ModelImageSpec extends ModelContextSpec {
  /** Also tag the image `<registry>/<model>:<version>`. */
  registry?: string;
  /** Overrides the tag `<model>:<version>`. */
  tag?: string;
}

/**
 * Builds the image for a model on its runtime's base image (built first when missing). Rejects with
 * CLP_ERR_INVALID_ARG for a bad spec (before building) and CLP_ERR_IMAGE_BUILD_FAILED when the build
 * fails, with the end of the build output.
 */
export async function buildModelImage(
  docker: Docker,
  spec: ModelImageSpec,
  log: LogFn = () => {},
): Promise<{ tag: string; imageId: string }> {
  validateContextSpec(spec);
  await resolveModelFiles(spec);
  const tag = spec.tag ?? `${spec.model}:${spec.version}`;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clipper-image-'));
  try {
    const baseTag = await ensureBaseImage(docker, spec.runtime, log);
    await assembleContext(dir, spec, baseTag, {
      [kLabelRuntime]: spec.runtime,
      [kLabelModel]: spec.model,
      [kLabelVersion]: spec.version,
    });
    await buildContext(docker, dir, tag, log);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  const imageId = (await docker.getImage(tag).inspect()).Id;
  if (spec.registry !== undefined) await tagImage(docker, tag, registryTagOf(tag, spec.registry));
  return { tag, imageId };
}

/**
 * `docker build` of a context folder with the engine's classic builder; CLP_ERR_IMAGE_BUILD_FAILED
 * with the end of the build output (and the packages apt could not find) on failure.
 */
export async function buildContext(docker: Docker, dir: string, tag: string, log: LogFn): Promise<void> {
  const tail: string[] = [];
  const onEvent = (event: ProgressEvent): void => {
    const text = event.stream ?? event.status ?? event.errorDetail?.message ?? event.error;
    if (text === undefined) return;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > kBuildTailLines) tail.shift();
      log(line);
    }
  };
  const src = await fs.readdir(dir);
  try {
    const stream = await docker.buildImage({ context: dir, src }, { t: tag, dockerfile: 'Dockerfile', rm: true, forcerm: true });
    await followProgress(docker, stream, onEvent);
  } catch (err) {
    const missing = missingPackagesIn(tail);
    const lead = missing.length > 0 ? `apt-get could not install package(s): ${missing.join(', ')}. ` : '';
    throw new ClipperError(
      'CLP_ERR_IMAGE_BUILD_FAILED',
      `${lead}building image ${tag} failed: ${dockerErrorText(err)}\n--- build output (last ${kBuildTailLines} lines) ---\n${tail.join('\n')}`,
    );
  }
}

/** Package names apt reported it cannot install. */
export function missingPackagesIn(lines: readonly string[]): string[] {
  const names = new Set<string>();
  for (const line of lines) {
    const located = /Unable to locate package (\S+)/.exec(line);
    const candidate = /Package '?([^'\s]+)'? has no installation candidate/.exec(line);
    if (located !== null) names.add(located[1]!);
    if (candidate !== null) names.add(candidate[1]!);
  }
  return [...names];
}

/** `tag` under `registry` (`host:port`): `sum:1` → `127.0.0.1:5000/sum:1`; a registry already in `tag` is replaced. */
export function registryTagOf(tag: string, registry: string): string {
  const { repo, version } = splitTag(tag);
  const first = repo.split('/')[0]!;
  const hasRegistry = repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const bare = hasRegistry ? repo.slice(first.length + 1) : repo;
  return `${registry.replace(/\/+$/, '')}/${bare}:${version}`;
}

/** Tags image `source` as `target` ([registry/]repo[:version]). */
export async function tagImage(docker: Docker, source: string, target: string): Promise<void> {
  const { repo, version } = splitTag(target);
  try {
    await docker.getImage(source).tag({ repo, tag: version });
  } catch (err) {
    throw new ClipperError('CLP_ERR_DEPLOY_FAILED', `tagging ${source} as ${target} failed: ${dockerErrorText(err)}`);
  }
}

/** Tags `tag` as `<registry>/<repo>:<version>` and pushes it; resolves with the pushed tag. */
export async function pushImage(docker: Docker, tag: string, registry: string, log: LogFn = () => {}): Promise<string> {
  const target = registryTagOf(tag, registry);
  await tagImage(docker, tag, target);
  const { repo, version } = splitTag(target);
  try {
    const stream = await docker.getImage(repo).push({ tag: version });
    await followProgress(docker, stream, (e) => {
      if (e.status !== undefined) log(`push: ${e.id !== undefined ? `${e.id}: ` : ''}${e.status}`);
    });
  } catch (err) {
    throw new ClipperError('CLP_ERR_DEPLOY_FAILED', `pushing ${target} failed: ${dockerErrorText(err)}`);
  }
  return target;
}
