import { link, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

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
  write(key: string, body: Uint8Array | string): Promise<void>;
  /**
   * Writes a key only if it does not exist yet, atomically: of two concurrent creates of the
   * same key exactly one returns true. The basis of claims (version numbers, locks).
   */
  create(key: string, body: Uint8Array | string): Promise<boolean>;
  /** Keys under a prefix, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
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

  write(key: string, body: Uint8Array | string): Promise<void> {
    return this.inner.write(this.prefix + key, body);
  }

  create(key: string, body: Uint8Array | string): Promise<boolean> {
    return this.inner.create(this.prefix + key, body);
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
