import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

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
}
