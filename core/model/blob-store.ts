import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, lstat, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

/** Raised by a BlobStore when a key does not exist. */
export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`${key}: not found`);
    this.name = 'BlobNotFoundError';
  }
}

/**
 * Where model packages live: a folder on disk or an S3 prefix. The domain only needs
 * whole-object reads and writes, so S3 and the file system fit behind the same two calls.
 */
export interface BlobStore {
  /** Human-readable location of a key, for error messages and manifests. */
  describe(key: string): string;
  read(key: string): Promise<Uint8Array>;
  /**
   * Reads a key after `accept` has seen what it is and how large (learnt before a byte is read:
   * lstat of a file, Content-Length of an object), so a reader can refuse a symbolic link, a
   * device or an oversized object without reading it; `accept` throws to refuse. Only a regular
   * file's bytes are ever returned, and no more of them than the size `accept` saw.
   */
  readChecked(key: string, accept: (info: BlobInfo) => void): Promise<Uint8Array>;
  write(key: string, body: Uint8Array | string): Promise<void>;
  /**
   * Writes a key only if it does not exist yet, atomically: of two concurrent creates of the
   * same key exactly one returns true. The basis of claims (version numbers, locks).
   */
  create(key: string, body: Uint8Array | string): Promise<boolean>;
  /** The object and a tag of its current content (S3: its ETag), or null when the key does not exist. */
  readVersioned(key: string): Promise<Versioned | null>;
  /**
   * Writes a key only if it still holds the content tagged `version` (null: only if it does not
   * exist), atomically; false when someone else wrote it since. Read-modify-write without lost
   * updates: read with readVersioned, change, replace, and start again on false.
   */
  replace(key: string, body: Uint8Array | string, version: string | null): Promise<boolean>;
  /** Keys under a prefix, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
}

/** What an object is, as far as its store can tell before reading it (S3 holds only files). */
export interface BlobInfo {
  readonly kind: 'file' | 'directory' | 'symlink' | 'device' | 'other';
  /** Its size; Infinity when the store cannot tell. */
  readonly bytes: number;
}

/** An object's content and the tag of that content. */
export interface Versioned {
  readonly body: Uint8Array;
  readonly version: string;
}

/** A view of a store under a key prefix (a package inside a bucket, a model's folder). */
export class PrefixedStore implements BlobStore {
  private readonly prefix: string;

  constructor(
    private readonly inner: BlobStore,
    prefix: string,
  ) {
    this.prefix = prefix.endsWith('/') || prefix === '' ? prefix : `${prefix}/`;
  }

  describe(key: string): string {
    return this.inner.describe(this.prefix + key);
  }

  read(key: string): Promise<Uint8Array> {
    return this.inner.read(this.prefix + key).catch((error) => {
      throw error instanceof BlobNotFoundError ? new BlobNotFoundError(key) : error;
    });
  }

  readChecked(key: string, accept: (info: BlobInfo) => void): Promise<Uint8Array> {
    return this.inner.readChecked(this.prefix + key, accept).catch((error) => {
      throw error instanceof BlobNotFoundError ? new BlobNotFoundError(key) : error;
    });
  }

  write(key: string, body: Uint8Array | string): Promise<void> {
    return this.inner.write(this.prefix + key, body);
  }

  create(key: string, body: Uint8Array | string): Promise<boolean> {
    return this.inner.create(this.prefix + key, body);
  }

  readVersioned(key: string): Promise<Versioned | null> {
    return this.inner.readVersioned(this.prefix + key);
  }

  replace(key: string, body: Uint8Array | string, version: string | null): Promise<boolean> {
    return this.inner.replace(this.prefix + key, body, version);
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.inner.list(this.prefix + prefix)).map((key) => key.slice(this.prefix.length));
  }
}

/** A BlobStore over a local folder; writes go to a temporary file first so readers never see half a file. */
export class DirectoryStore implements BlobStore {
  constructor(readonly root: string) {}

  describe(key: string): string {
    return join(this.root, key);
  }

  async read(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(join(this.root, key)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async readChecked(key: string, accept: (info: BlobInfo) => void): Promise<Uint8Array> {
    const path = join(this.root, key);
    const outside = relative(this.root, path);
    if (outside === '' || outside === '..' || outside.startsWith(`..${sep}`) || isAbsolute(outside)) throw new Error(`${key}: not a key inside ${this.root}`);
    // lstat first, so a symbolic link, a device or a FIFO is refused without being opened
    // (opening some devices has effects of its own; reading /dev/zero never ends).
    const seen = await lstat(path).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? new BlobNotFoundError(key) : error;
    });
    accept(infoOf(seen));
    if (!seen.isFile()) throw new Error(`${path}: not a regular file`);
    // O_NOFOLLOW and the same-inode check close the gap between lstat and open: a file swapped
    // for a link or another file meanwhile is refused instead of read.
    const handle = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
    try {
      const opened = await handle.stat();
      if (!opened.isFile() || opened.ino !== seen.ino || opened.dev !== seen.dev) throw new Error(`${path}: changed while it was being opened`);
      // At most the size accepted: a file that grows meanwhile is read no further (its hash then
      // tells it changed); one that shrinks ends early.
      const bytes = new Uint8Array(Math.min(seen.size, opened.size));
      let filled = 0;
      while (filled < bytes.length) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === bytes.length ? bytes : bytes.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  async write(key: string, body: Uint8Array | string): Promise<void> {
    const path = join(this.root, key);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, body);
    await rename(temporary, path);
  }

  async create(key: string, body: Uint8Array | string): Promise<boolean> {
    const path = join(this.root, key);
    await mkdir(dirname(path), { recursive: true });
    // link() fails with EEXIST atomically, and the linked file is complete: readers never see
    // half of it (open(path, 'wx') would be atomic too, but exposes the file while it is written).
    const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(temporary, body);
    try {
      await link(temporary, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await unlink(temporary);
    }
  }

  async readVersioned(key: string): Promise<Versioned | null> {
    try {
      const body = await this.read(key);
      return { body, version: contentTag(body) };
    } catch (error) {
      if (error instanceof BlobNotFoundError) return null;
      throw error;
    }
  }

  async replace(key: string, body: Uint8Array | string, version: string | null): Promise<boolean> {
    const path = join(this.root, key);
    await mkdir(dirname(path), { recursive: true });
    // A folder has no compare-and-swap: a lock file, created exclusively, makes the check and the
    // write one step. Named *.tmp so listings skip it; one left by a crashed writer expires.
    const lock = `${path}.lock.tmp`;
    for (let attempt = 0; ; attempt++) {
      try {
        await (await open(lock, 'wx')).close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
        if (age > STALE_LOCK_MS) await unlink(lock).catch(() => {});
        else if (attempt > 1000) throw new Error(`${path}: locked by another writer for ${Math.round(age)} ms`);
        else await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 10));
      }
    }
    try {
      const current = await this.readVersioned(key);
      if ((current?.version ?? null) !== version) return false;
      await this.write(key, body);
      return true;
    } finally {
      await unlink(lock).catch(() => {});
    }
  }

  async list(prefix: string): Promise<string[]> {
    // Walk only the deepest folder the prefix names, then filter by the rest of it.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    let entries: string[];
    try {
      entries = (await readdir(join(this.root, folder), { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile() && !e.name.endsWith('.tmp'))
        .map((e) => relative(this.root, join(e.parentPath, e.name)).split(sep).join('/'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return entries.filter((key) => key.startsWith(prefix)).sort();
  }
}

/** What a file system entry is, for {@link BlobStore.readChecked}. */
function infoOf(stats: Stats): BlobInfo {
  const kind = stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : stats.isSymbolicLink() ? 'symlink' : stats.isCharacterDevice() || stats.isBlockDevice() ? 'device' : 'other';
  return { kind, bytes: stats.size };
}

/** A lock file older than this was left by a writer that died: its read-modify-write takes milliseconds. */
const STALE_LOCK_MS = 10_000;

/** The version tag of a folder store's object: a hash of its content, like S3's ETag of a single-part object. */
function contentTag(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}
