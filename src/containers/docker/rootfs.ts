// Root file systems assembled from this machine's own files, imported as Docker images. Nothing is
// pulled from a registry: a binary plus the shared libraries `ldd` lists for it (its "closure") is
// enough for a self-contained program such as node or the registry, and a tar from mmdebstrap
// serves for a full Debian.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { ClipperError } from '../../errors.js';
import { dockerErrorText, dockerStatusCode } from './engine.js';

/** One file of a root file system: copied from `src` on this machine to `dest` inside it. */
export interface RootfsFile {
  src: string;
  dest: string;
}

/** A file written from text, e.g. /etc/passwd. */
export interface RootfsText {
  dest: string;
  content: string;
  mode?: number;
}

export type LogFn = (line: string) => void;

export const kDefaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The files a minimal root file system needs besides its programs: users, groups, name service. */
export const kMinimalEtc: readonly RootfsText[] = [
  { dest: '/etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
  { dest: '/etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
  { dest: '/etc/nsswitch.conf', content: 'passwd: files\ngroup: files\nhosts: files dns\n' },
];

/** Runs a program, resolving with its stdout; rejects with its stderr when it exits non-zero. */
export function runProgram(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${file} ${args.join(' ')} exited with ${code}: ${err.trim()}`));
    });
  });
}

/** The shared libraries and the dynamic loader `ldd` lists for `binary` (absolute paths, as linked). */
export async function sharedLibrariesOf(binary: string): Promise<string[]> {
  const out = await runProgram('ldd', [binary]);
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    if (/not a dynamic executable|statically linked/.test(line)) continue;
    const linked = /=>\s*(\/\S+)/.exec(line);
    const loader = /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (linked !== null) libs.add(linked[1]!);
    else if (loader !== null) libs.add(loader[1]!);
    else if (/=>\s*not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return [...libs];
}

/** The programs plus every library they load, each library at the path it is linked under. */
export async function closureOf(programs: readonly RootfsFile[]): Promise<RootfsFile[]> {
  const files = new Map<string, RootfsFile>();
  for (const program of programs) {
    files.set(program.dest, program);
    for (const lib of await sharedLibrariesOf(program.src)) files.set(lib, { src: lib, dest: lib });
  }
  return [...files.values()].sort((a, b) => a.dest.localeCompare(b.dest));
}

/** A hash of what a root file system holds: `parts` (versions, recipe text) and each file's place and size. */
export async function rootfsHash(parts: readonly string[], files: readonly RootfsFile[], texts: readonly RootfsText[]): Promise<string> {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part}\n`);
  for (const file of files) hash.update(`${file.dest} ${(await fs.stat(file.src)).size}\n`);
  for (const text of texts) hash.update(`${text.dest} ${text.mode ?? 0o644} ${text.content}\n`);
  return hash.digest('hex').slice(0, 12);
}

/** Writes the files (dereferenced: a library link becomes the file), texts and empty dirs under `dir`. */
export async function assembleRootfs(
  dir: string,
  files: readonly RootfsFile[],
  texts: readonly RootfsText[],
  emptyDirs: ReadonlyArray<{ dest: string; mode: number }>,
): Promise<void> {
  for (const file of files) {
    const target = path.join(dir, file.dest);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(await fs.realpath(file.src), target);
    await fs.chmod(target, (await fs.stat(file.src)).mode & 0o7777);
  }
  for (const text of texts) {
    const target = path.join(dir, text.dest);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, text.content, { mode: text.mode ?? 0o644 });
  }
  for (const { dest, mode } of emptyDirs) {
    const target = path.join(dir, dest);
    await fs.mkdir(target, { recursive: true });
    await fs.chmod(target, mode);
  }
}

/** Splits `[registry/]repo[:version]` into repo (with any registry) and version ('latest' when absent). */
export function splitTag(tag: string): { repo: string; version: string } {
  const colon = tag.lastIndexOf(':');
  if (colon > tag.lastIndexOf('/')) return { repo: tag.slice(0, colon), version: tag.slice(colon + 1) };
  return { repo: tag, version: 'latest' };
}

/** Whether the engine has an image with this tag. */
export async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch (err) {
    if (dockerStatusCode(err) === 404) return false;
    throw err;
  }
}

/** One event of an engine's JSON progress stream (build, import, push, pull). */
export interface ProgressEvent {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/**
 * Reads a progress stream to its end. Resolves with the events; rejects with the first error event's
 * text (or the stream's error). `onEvent` sees each event as it comes.
 */
export function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onEvent?: (e: ProgressEvent) => void,
): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    let failure: string | null = null;
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: ProgressEvent[]) => {
        if (err !== null && err !== undefined) reject(new Error(dockerErrorText(err)));
        else if (failure !== null) reject(new Error(failure));
        else resolve(events);
      },
      (event: ProgressEvent) => {
        if (failure === null && (event.error !== undefined || event.errorDetail !== undefined)) {
          failure = event.errorDetail?.message ?? event.error ?? 'unknown error';
        }
        onEvent?.(event);
      },
    );
  });
}

/** Calls `log` with each line of `stream`, trimmed, skipping empty ones. */
export function pipeLines(stream: Readable, log: LogFn): void {
  readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
    const text = line.trim();
    if (text !== '') log(text);
  });
}

/**
 * Imports a tar stream as image `tag` (POST /images/create?fromSrc=-), with Dockerfile-style
 * `changes` (ENV, CMD, WORKDIR, ...). Rejects with CLP_ERR_IMAGE_BUILD_FAILED on an engine error.
 */
export async function importTar(docker: Docker, tar: Readable, tag: string, changes: readonly string[], log?: LogFn): Promise<void> {
  const { repo, version } = splitTag(tag);
  const options = { repo, tag: version, changes: [...changes] };
  try {
    const stream = await docker.importImage(tar, options);
    await followProgress(docker, stream, (e) => {
      if (e.status !== undefined && log !== undefined) log(`import: ${e.status}`);
    });
  } catch (err) {
    throw new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `importing ${tag} failed: ${dockerErrorText(err)}`);
  }
}

/** Tars `dir` (owned by root, numeric ids) and imports it as `tag`. */
export async function importDirectory(docker: Docker, dir: string, tag: string, changes: readonly string[], log?: LogFn): Promise<void> {
  const tar = spawn('tar', ['-C', dir, '--owner=0', '--group=0', '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    tar.on('error', reject);
    tar.on('close', resolve);
  });
  await importTar(docker, tar.stdout, tag, changes, log);
  const code = await exited;
  if (code !== 0) {
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => undefined);
    throw new ClipperError('CLP_ERR_IMAGE_BUILD_FAILED', `tar of ${dir} failed (exit ${code}): ${stderr.trim()}`);
  }
}
