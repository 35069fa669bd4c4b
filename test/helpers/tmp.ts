import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** A temporary folder that exists for the tests of the enclosing file or describe block. */
export interface TempDir {
  /** The folder; available from the first beforeAll on. */
  readonly path: string;
  /** A path inside the folder. */
  file(...parts: string[]): string;
}

/** Makes a fresh folder under the OS temp dir. */
export function makeTempDir(prefix = 'mlops-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Removes a folder made by makeTempDir, with everything in it. */
export function removeTempDir(path: string): Promise<void> {
  return rm(path, { recursive: true, force: true });
}

/**
 * Registers a beforeAll that creates a temp folder and an afterAll that deletes it.
 * Call it before the beforeAll hooks that write into the folder: hooks run in order.
 */
export function useTempDir(prefix = 'mlops-test-'): TempDir {
  let path: string | undefined;
  beforeAll(async () => {
    path = await makeTempDir(prefix);
  });
  afterAll(async () => {
    if (path) await removeTempDir(path);
  });
  const dir: TempDir = {
    get path() {
      if (!path) throw new Error('the temp folder is created in beforeAll; use it inside hooks and tests');
      return path;
    },
    file: (...parts) => join(dir.path, ...parts),
  };
  return dir;
}
