/**
 * A minimal POSIX ustar writer, for the one archive SageMaker needs (model.tar.gz): regular files
 * and folders with short names, written in memory. ~60 lines here instead of a dependency such
 * as tar-stream, whose streaming, long-name (pax) and link support this never uses; the format is
 * fixed by POSIX.1-1988 and GNU tar reads what this writes (see test/unit/triton-package.test.ts).
 */

/** One archive member. */
export interface TarEntry {
  /** Path inside the archive with `/` separators; a folder ends with `/`. */
  readonly name: string;
  /** File contents; absent for a folder. */
  readonly body?: Uint8Array;
  /** Modification time, in seconds since the epoch. @default 0 */
  readonly mtime?: number;
}

const BLOCK = 512;
/** Largest size an 11-digit octal size field holds: 8 GiB - 1. */
const MAX_SIZE = 0o77777777777;

/** A tar archive of the entries, in order, ending with the two zero blocks the format requires. */
export function tarArchive(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const isFolder = entry.name.endsWith('/');
    const body = entry.body ?? new Uint8Array(0);
    if (isFolder && body.length > 0) throw new Error(`tar entry ${entry.name} is a folder (it ends with /) but has contents`);
    parts.push(header(entry.name, isFolder, body.length, entry.mtime ?? 0));
    if (!isFolder) {
      parts.push(body);
      const padding = (BLOCK - (body.length % BLOCK)) % BLOCK;
      if (padding) parts.push(new Uint8Array(padding));
    }
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const archive = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    archive.set(part, offset);
    offset += part.length;
  }
  return archive;
}

/** One ustar header block. Field offsets and widths are the standard's. */
function header(name: string, isFolder: boolean, size: number, mtime: number): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  // Names up to 100 bytes fit the name field; the prefix field (for longer names) is not needed here.
  if (nameBytes.length > 100) throw new Error(`tar entry name is ${nameBytes.length} bytes; at most 100 are supported (received ${name})`);
  if (name.startsWith('/') || name.split('/').includes('..')) throw new Error(`tar entry name must be relative and stay inside the archive (received ${name})`);
  if (size > MAX_SIZE) throw new Error(`tar entry ${name} has ${size} bytes; ustar holds at most ${MAX_SIZE}`);
  const block = new Uint8Array(BLOCK);
  const put = (offset: number, text: string) => block.set(new TextEncoder().encode(text), offset);
  const octal = (offset: number, width: number, value: number) => put(offset, `${value.toString(8).padStart(width - 1, '0')}\0`);

  block.set(nameBytes, 0);
  octal(100, 8, isFolder ? 0o755 : 0o644); // mode
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, size);
  octal(136, 12, Math.max(0, Math.floor(mtime)));
  put(148, '        '); // checksum: counted as eight spaces while summing
  put(156, isFolder ? '5' : '0'); // typeflag
  put(257, 'ustar\0'); // magic
  put(263, '00'); // version
  const checksum = block.reduce((sum, byte) => sum + byte, 0);
  put(148, `${checksum.toString(8).padStart(6, '0')}\0 `);
  return block;
}
