import { createHash, randomUUID } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Object, type S3rverStore, uploadsPath } from './s3rver-internals';

/**
 * S3 replaces an object atomically: a reader sees the old object or the new one. s3rver 3.7 writes
 * in place, so a read during a write returns part of the new body (seen as torn registry.json
 * reads under concurrent updates). Its put is replaced here by write-to-a-temporary-file-then-
 * rename. The ETag (s3rver's md5 file) is written after the rename: a reader may briefly get the
 * new body with the old ETag, which makes its conditional write fail and retry — never the
 * reverse, which would let a stale read pass an If-Match check. For that, a GET reads the ETag
 * first and then opens the file once, taking the length from the open file: s3rver's own GET
 * stats the path and opens it again, and cuts a body replaced in between to the old length.
 * A body stream that fails (a checksum that does not match, a cut connection) leaves nothing: the
 * temporary file is removed and the previous object stays. Parts of multipart uploads are written
 * the same way, since s3rver's putPart never settles when its body stream fails.
 */
export function atomicPuts(store: S3rverStore): void {
  store.getObject = async (bucket, key, options) => {
    let metadata: Record<string, unknown>;
    let handle: FileHandle;
    try {
      metadata = await store.getMetadata(bucket, key);
      handle = await open(store.getResourcePath(bucket, key, 'object'), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const { size } = await handle.stat();
    metadata = { ...metadata, 'content-length': size };
    const lastByte = Math.max(0, size - 1);
    const range = { start: options?.start ?? 0, end: Math.min(options?.end ?? Infinity, lastByte) };
    const ranged = options !== undefined && (options.start !== undefined || options.end !== undefined);
    const satisfiable = range.start >= 0 && range.end >= range.start;
    if (!satisfiable) await handle.close();
    const object = new S3Object(bucket, key, satisfiable ? handle.createReadStream(range) : null, metadata);
    if (ranged) object.range = range;
    return object;
  };
  store.putObject = async (object) => {
    const { size, md5 } = await writeAtomically(store.getResourcePath(object.bucket, object.key, 'object'), object.content);
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size, md5 };
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const path = join(uploadsPath(store, bucket), uploadId, String(partNumber));
    const written = await writeAtomically(path, content);
    await writeFile(`${path}.md5`, written.md5);
    return written;
  };
}

/** Writes `content` to a temporary file beside `path` and renames it over `path`; its size and md5 (hex). */
async function writeAtomically(path: string, content: Buffer | Readable): Promise<{ size: number; md5: string }> {
  // Same folder, so rename() is atomic; the suffix keeps it out of listings (object files end in "._S3rver_object").
  const temporary = `${path}.${randomUUID()}.partial`;
  const file = await createInFolder(temporary);
  const md5 = createHash('md5');
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, measure, file.createWriteStream());
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return { size, md5: md5.digest('hex') };
}

/**
 * Creates the file at `path` and the folders it needs. A delete of the last object of a folder
 * removes the folder (see concurrentDeletes), possibly between this mkdir and this open: the folder
 * is then made again. Once the file is in it, the folder is not empty and stays.
 */
async function createInFolder(path: string): Promise<FileHandle> {
  for (let attempt = 1; ; attempt++) {
    await mkdir(dirname(path), { recursive: true });
    try {
      return await open(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw error;
    }
  }
}
