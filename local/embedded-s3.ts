import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
// s3rver ships no type declarations; the few members used here are typed below.
// @ts-expect-error -- untyped CommonJS module
import S3rver from 's3rver';

/** An S3 ObjectCreated notification, as S3 sends it to SQS/Lambda. */
export interface S3EventRecord {
  readonly eventName: string;
  readonly s3: { readonly bucket: { readonly name: string }; readonly object: { readonly key: string; readonly size?: number; readonly eTag?: string } };
}

export interface EmbeddedS3 {
  /** http://127.0.0.1:<port>, for `aws s3 --endpoint-url` and SDK clients. */
  readonly endpoint: string;
  /** An SDK client configured for it (path-style, dummy credentials). */
  readonly client: S3Client;
  /** Subscribes to object notifications (ObjectCreated:Put, …). */
  onEvent(listener: (record: S3EventRecord) => void): void;
  close(): Promise<void>;
}

/** Credentials the embedded S3 accepts (it does not check signatures). */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * A real S3 API on localhost (s3rver), with its objects kept in `directory` so they survive
 * restarts. The buckets are created when missing. Conditional writes (`IfNoneMatch: '*'`)
 * behave as on S3, which s3rver alone does not do (see {@link conditionalWrites}).
 */
export async function startEmbeddedS3(options: { directory: string; port: number; buckets: readonly string[] }): Promise<EmbeddedS3> {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port,
    directory: options.directory,
    silent: true,
    allowMismatchedSignatures: true,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  atomicPuts(server.store as S3rverStore);
  // Koa composes its middleware when the server starts: inserted here, this runs before s3rver's router.
  (server.middleware as KoaMiddleware[]).unshift(
    conditionalWrites(async (bucket, key) => {
      if (!(await server.store.existsObject(bucket, key))) return null;
      return ((await server.store.getMetadata(bucket, key)) as { etag: string }).etag;
    }),
  );
  const address = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = createEmbeddedS3Client(endpoint);
  return {
    endpoint,
    client,
    onEvent: (listener) => server.on('event', (event: { Records: S3EventRecord[] }) => event.Records.forEach(listener)),
    close: async () => {
      client.destroy();
      await server.close();
    },
  };
}

/** An SDK client for the embedded S3 at `endpoint`. */
export function createEmbeddedS3Client(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: EMBEDDED_S3_CREDENTIALS });
}

/** The members of s3rver's filesystem store that {@link atomicPuts} uses. */
interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: { bucket: string; key: string; metadata: unknown; content: Buffer | Readable }): Promise<{ size: number; md5: string }>;
  getMetadata(bucket: string, key: string): Promise<Record<string, unknown>>;
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<unknown>;
}

// s3rver's object model, to answer GETs the way its own store does.
const S3Object = createRequire(import.meta.url)('s3rver/lib/models/object') as new (bucket: string, key: string, content: Readable | null, metadata: Record<string, unknown>) => { range?: unknown };

/**
 * S3 replaces an object atomically: a reader sees the old object or the new one. s3rver 3.7 writes
 * in place, so a read during a write returns part of the new body (seen as torn registry.json
 * reads under concurrent updates). Its put is replaced here by write-to-a-temporary-file-then-
 * rename. The ETag (s3rver's md5 file) is written after the rename: a reader may briefly get the
 * new body with the old ETag, which makes its conditional write fail and retry — never the
 * reverse, which would let a stale read pass an If-Match check. For that, a GET reads the ETag
 * first and then opens the file once, taking the length from the open file: s3rver's own GET
 * stats the path and opens it again, and cuts a body replaced in between to the old length.
 */
function atomicPuts(store: S3rverStore): void {
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
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(path), { recursive: true });
    // Same folder, so rename() is atomic; the suffix keeps it out of listings (object files end in "._S3rver_object").
    const temporary = `${path}.${randomUUID()}.partial`;
    const md5 = createHash('md5');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    await pipeline(Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content, measure, createWriteStream(temporary));
    await rename(temporary, path);
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

/** The part of a Koa context the conditional-write check reads and answers through. */
interface KoaContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  get(header: string): string;
  status: number;
  type: string;
  body: unknown;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

/**
 * S3's conditional writes: a PutObject or CompleteMultipartUpload with `If-None-Match: *` fails
 * with 412 PreconditionFailed when the key exists, and one with `If-Match: <ETag>` fails with 412
 * when the object has another ETag (404 NoSuchKey when there is none). s3rver 3.7 ignores both on
 * writes, and locks, version claims and the registry's read-modify-write rely on them, so they are
 * added here. Such writes to one key are serialized so that the check and the write are atomic, as
 * S3 guarantees.
 */
function conditionalWrites(etagOf: (bucket: string, key: string) => Promise<string | null>): KoaMiddleware {
  const queues = new Map<string, Promise<void>>();
  return async (ctx, next) => {
    const write = (ctx.method === 'PUT' && !ctx.get('x-amz-copy-source')) || (ctx.method === 'POST' && 'uploadId' in ctx.query);
    const noneMatch = ctx.get('if-none-match');
    const match = ctx.get('if-match');
    if (!write || (noneMatch !== '*' && !match)) return next();
    const [bucket = '', ...parts] = ctx.path.slice(1).split('/');
    const key = decodeURIComponent(parts.join('/'));
    const id = `${bucket}/${key}`;
    const previous = queues.get(id) ?? Promise.resolve();
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const queued = previous.then(() => turn);
    queues.set(id, queued);
    await previous;
    try {
      const etag = await etagOf(bucket, key);
      const refusal =
        noneMatch === '*' && etag !== null
          ? { status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions you specified did not hold', condition: 'If-None-Match' }
          : match && etag === null
            ? { status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.', condition: undefined }
            : match && etag !== match
              ? { status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions you specified did not hold', condition: 'If-Match' }
              : null;
      if (refusal) {
        ctx.status = refusal.status;
        ctx.type = 'application/xml';
        ctx.body =
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${refusal.message}</Message>` +
          `${refusal.condition ? `<Condition>${refusal.condition}</Condition>` : ''}</Error>`;
        return;
      }
      await next();
    } finally {
      release();
      if (queues.get(id) === queued) queues.delete(id);
    }
  };
}
