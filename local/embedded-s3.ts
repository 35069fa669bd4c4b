import { mkdir } from 'node:fs/promises';
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
  // Koa composes its middleware when the server starts: inserted here, this runs before s3rver's router.
  (server.middleware as KoaMiddleware[]).unshift(conditionalWrites((bucket, key) => server.store.existsObject(bucket, key)));
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
 * with 412 PreconditionFailed when the key exists. s3rver 3.7 ignores the header on writes, and
 * locks and version claims rely on it, so it is added here. Such writes to one key are serialized
 * so that the check and the write are atomic, as S3 guarantees.
 */
function conditionalWrites(exists: (bucket: string, key: string) => Promise<boolean>): KoaMiddleware {
  const queues = new Map<string, Promise<void>>();
  return async (ctx, next) => {
    const write = (ctx.method === 'PUT' && !ctx.get('x-amz-copy-source')) || (ctx.method === 'POST' && 'uploadId' in ctx.query);
    if (!write || ctx.get('if-none-match') !== '*') return next();
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
      if (await exists(bucket, key)) {
        ctx.status = 412;
        ctx.type = 'application/xml';
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>' +
          '<Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>';
        return;
      }
      await next();
    } finally {
      release();
      if (queues.get(id) === queued) queues.delete(id);
    }
  };
}
