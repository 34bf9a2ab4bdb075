// src/admin/upload_store.ts through an in-memory file-system port that fails a chosen call with a
// chosen errno: a full disk (ENOSPC, EDQUOT) is a 507, a read-only or forbidden one (EROFS, EACCES,
// EPERM) a 503, anything else a 500; each names the directory and the cause, says what to do, and
// leaves nothing behind (no temporary file, no empty upload directory).

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { errorBody, type ClipperError } from '../../src/errors.js';
import { discardUpload, storeUpload, type UploadFs, uploadDirOf } from '../../src/admin/upload_store.js';

type Op = 'mkdir' | 'writeNew' | 'link' | 'remove';

function errnoError(code: string, op: string, target: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated failure, ${op} '${target}'`), { code });
}

/** A tree of directories and files in memory; `fault` fails the nth call of one operation. */
class MemoryFs implements UploadFs {
  readonly dirs = new Set<string>(['/']);
  readonly files = new Map<string, Uint8Array>();
  fault: { op: Op; code: string; nth?: number } | undefined;
  readonly ids: string[] = [];
  #calls = new Map<Op, number>();
  #idCounter = 0;

  #maybeFail(op: Op, target: string): void {
    const n = (this.#calls.get(op) ?? 0) + 1;
    this.#calls.set(op, n);
    if (this.fault?.op === op && (this.fault.nth ?? 1) === n) throw errnoError(this.fault.code, op, target);
  }

  async mkdir(dir: string, recursive: boolean): Promise<void> {
    this.#maybeFail('mkdir', dir);
    this.#mkdir(dir, recursive);
  }

  #mkdir(dir: string, recursive: boolean): void {
    if (this.dirs.has(dir)) {
      if (recursive) return;
      throw errnoError('EEXIST', 'mkdir', dir);
    }
    if (!this.dirs.has(path.dirname(dir))) {
      if (!recursive) throw errnoError('ENOENT', 'mkdir', dir);
      this.#mkdir(path.dirname(dir), true);
    }
    this.dirs.add(dir);
  }

  async writeNew(file: string, bytes: Uint8Array): Promise<void> {
    if (!this.dirs.has(path.dirname(file))) throw errnoError('ENOENT', 'open', file);
    if (this.files.has(file)) throw errnoError('EEXIST', 'open', file);
    this.files.set(file, new Uint8Array(0)); // created, then the write fails or fills it
    this.#maybeFail('writeNew', file);
    this.files.set(file, bytes);
  }

  async link(existing: string, newPath: string): Promise<void> {
    this.#maybeFail('link', newPath);
    if (this.files.has(newPath)) throw errnoError('EEXIST', 'link', newPath);
    this.files.set(newPath, this.files.get(existing)!);
  }

  async remove(target: string): Promise<void> {
    this.#maybeFail('remove', target);
    for (const f of [...this.files.keys()]) if (f === target || f.startsWith(`${target}/`)) this.files.delete(f);
    for (const d of [...this.dirs]) if (d === target || d.startsWith(`${target}/`)) this.dirs.delete(d);
  }

  async isDirectory(target: string): Promise<boolean> {
    return this.dirs.has(target);
  }

  randomHex(): string {
    const id = this.ids.shift();
    return id ?? (this.#idCounter++).toString(16).padStart(16, '0');
  }

  /** Everything under `dir`, relative to it. */
  under(dir: string): string[] {
    return [...this.dirs, ...this.files.keys()]
      .filter((p) => p.startsWith(`${dir}/`))
      .map((p) => path.relative(dir, p))
      .sort();
  }
}

const kVersionDir = '/models/sum/1';
const kBytes = new Uint8Array([1, 2, 3]);

async function refused(fs: MemoryFs, uploadId?: string): Promise<ClipperError> {
  const target = { versionDir: kVersionDir, fileName: 'func.pkl', ...(uploadId === undefined ? {} : { uploadId }) };
  return (await storeUpload(fs, target, kBytes).then(
    () => assert.fail('the upload should fail'),
    (err: unknown) => err,
  )) as ClipperError;
}

describe('storeUpload', () => {
  it('writes into a new upload directory and leaves only the file', async () => {
    const fs = new MemoryFs();
    const file = await storeUpload(fs, { versionDir: kVersionDir, fileName: 'func.pkl' }, kBytes);
    assert.equal(file, `${kVersionDir}/upload-0000000000000000/func.pkl`);
    assert.deepEqual(fs.files.get(file), kBytes);
    assert.deepEqual(fs.under(kVersionDir), ['upload-0000000000000000', 'upload-0000000000000000/func.pkl']);
  });

  it('never reuses a directory: an id that exists is skipped for a fresh one', async () => {
    const fs = new MemoryFs();
    fs.dirs.add('/models').add('/models/sum').add(kVersionDir).add(`${kVersionDir}/upload-aaaaaaaaaaaaaaaa`);
    fs.files.set(`${kVersionDir}/upload-aaaaaaaaaaaaaaaa/func.pkl`, new Uint8Array([9]));
    fs.ids.push('aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb');
    const file = await storeUpload(fs, { versionDir: kVersionDir, fileName: 'func.pkl' }, kBytes);
    assert.equal(file, `${kVersionDir}/upload-bbbbbbbbbbbbbbbb/func.pkl`);
    assert.deepEqual(fs.files.get(`${kVersionDir}/upload-aaaaaaaaaaaaaaaa/func.pkl`), new Uint8Array([9]), 'untouched');
  });

  for (const code of ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO']) {
    const expected =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? { status: 507, code: 'CLP_ERR_STORAGE_FULL', advice: /the file system is full.*Free space or raise the quota/ }
        : code === 'EIO'
          ? { status: 500, code: 'CLP_ERR_INTERNAL', advice: /could not store/ }
          : { status: 503, code: 'CLP_ERR_STORAGE_UNWRITABLE', advice: /not writable.*Remount that file system read-write/ };
    for (const op of ['mkdir', 'writeNew', 'link'] as const) {
      it(`${code} in ${op}: ${expected.status} ${expected.code}, naming the directory and cause; nothing is left`, async () => {
        const fs = new MemoryFs();
        // mkdir's first call makes the version directory, its second the upload directory.
        fs.fault = { op, code, nth: op === 'mkdir' ? 2 : 1 };
        const err = await refused(fs);
        assert.equal(err.status, expected.status, err.message);
        assert.equal(err.code, expected.code);
        const body = JSON.parse(errorBody(err)) as { cause: string; code: string };
        assert.equal(body.code, expected.code);
        assert.match(body.cause, expected.advice);
        assert.match(body.cause, new RegExp(`${code}: simulated failure`), 'the cause is quoted');
        const dir = op === 'mkdir' ? kVersionDir : `${kVersionDir}/upload-0000000000000000`;
        assert.ok(body.cause.includes(`under ${dir}`), body.cause);
        assert.deepEqual(err.details, { directory: dir, errno: code });
        assert.deepEqual(fs.under(kVersionDir), [], 'no temporary file, no upload directory');
      });
    }
  }

  it('a failure adding a file to an earlier upload removes only the temporary file', async () => {
    const fs = new MemoryFs();
    const first = await storeUpload(fs, { versionDir: kVersionDir, fileName: 'func.pkl' }, kBytes);
    fs.fault = { op: 'writeNew', code: 'ENOSPC', nth: 2 };
    const err = await refused(fs, 'upload-0000000000000000');
    assert.equal(err.status, 507);
    assert.deepEqual(fs.under(kVersionDir), ['upload-0000000000000000', 'upload-0000000000000000/func.pkl']);
    assert.deepEqual(fs.files.get(first), kBytes);
  });

  it('a file already in the upload is never replaced (409-style conflict), and the temporary file goes', async () => {
    const fs = new MemoryFs();
    await storeUpload(fs, { versionDir: kVersionDir, fileName: 'func.pkl' }, kBytes);
    const err = await refused(fs, 'upload-0000000000000000');
    assert.equal(err.code, 'CLP_ERR_CONFLICT');
    assert.match(err.message, /func\.pkl was already uploaded to \/models\/sum\/1\/upload-0000000000000000/);
    assert.deepEqual(fs.under(kVersionDir), ['upload-0000000000000000', 'upload-0000000000000000/func.pkl']);
  });
});

describe('discardUpload', () => {
  it('removes an upload directory, and says so; a second call finds none', async () => {
    const fs = new MemoryFs();
    const file = await storeUpload(fs, { versionDir: kVersionDir, fileName: 'func.pkl' }, kBytes);
    const dir = uploadDirOf(kVersionDir, file);
    assert.equal(dir, `${kVersionDir}/upload-0000000000000000`);
    assert.equal(await discardUpload(fs, dir), true);
    assert.deepEqual(fs.under(kVersionDir), []);
    assert.equal(await discardUpload(fs, dir), false);
  });

  it('accepts only paths inside an upload directory of the version', () => {
    for (const file of ['/models/sum/1', '/models/sum/1/func.pkl', '/models/sum/2/upload-0000000000000000/f', '/etc/passwd', 'x']) {
      assert.throws(() => uploadDirOf(kVersionDir, file), /is not inside an upload directory of this model version/, file);
    }
  });

  it('a read-only disk while discarding is a 503 naming the directory', async () => {
    const fs = new MemoryFs();
    const file = await storeUpload(fs, { versionDir: kVersionDir, fileName: 'func.pkl' }, kBytes);
    fs.fault = { op: 'remove', code: 'EROFS', nth: 2 };
    const err = (await discardUpload(fs, uploadDirOf(kVersionDir, file)).catch((e: unknown) => e)) as ClipperError;
    assert.equal(err.status, 503);
    assert.match(err.message, /upload-0000000000000000: the directory is not writable \(EROFS/);
  });
});
