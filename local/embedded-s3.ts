/**
 * The embedded S3: s3rver 3.7.1 run in-process, made to behave as S3 where users and the platform
 * rely on it.
 *
 * Why s3rver, fixed through this wrapper, rather than another server: `npm start` and the tests
 * need an S3 API inside the Node process, with no Docker, Java or downloaded binary (MinIO,
 * LocalStack, S3Mock, moto are all one of those). s3rver is the in-process S3 on npm that is used
 * (unmaintained since 2021, but small and readable); its fork @20minutes/s3rver 5 needs Node 24
 * (this project supports Node 20), @push.rocks/smarts3 wraps s3rver 3.7.1 itself, and fauxqs needs
 * Node 22.5. So s3rver stays, and where it departs from S3 this wrapper replaces the part concerned
 * (a store method, a controller, or Koa middleware ahead of its router), in local/embedded-s3/:
 *
 * - listing.ts: ListObjectsV2 and ListObjects v1 (s3rver's DES continuation tokens fail on OpenSSL 3
 *   past 1,000 keys; its common prefixes and order were wrong; encoding-type was ignored);
 * - request-bodies.ts, aws-chunked.ts, checksums.ts: aws-chunked bodies decoded instead of stored
 *   with their framing, x-amz-checksum-* / Content-MD5 verified (400 BadDigest, nothing stored);
 * - confinement.ts, delete-objects.ts: no bucket, key, upload id, part number or copy source reaches
 *   a file outside its bucket's folder (s3rver joined them onto paths unchecked);
 * - key-encoding.ts: keys decoded once, copy sources read as S3 reads them, event keys form-encoded
 *   as S3 sends them (see {@link S3EventRecord});
 * - atomic-store.ts, deletes.ts: objects and parts replaced atomically (no torn reads, nothing left by
 *   a failed body), and concurrent deletes in one folder no longer failing with 500;
 * - conditional-writes.ts: If-None-Match / If-Match on writes.
 */
import { mkdir } from 'node:fs/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { atomicPuts } from './embedded-s3/atomic-store';
import { conditionalWrites } from './embedded-s3/conditional-writes';
import { confineStore, confineUploads } from './embedded-s3/confinement';
import { deleteObjects } from './embedded-s3/delete-objects';
import { concurrentDeletes } from './embedded-s3/deletes';
import { decodeCopySources, eventKey } from './embedded-s3/key-encoding';
import { listObjects } from './embedded-s3/listing';
import { decodeRequestBodies } from './embedded-s3/request-bodies';
import { S3rver, addBeforeRouter } from './embedded-s3/s3rver-internals';

/**
 * An S3 notification record (ObjectCreated:Put, ObjectRemoved:Delete, …), as S3 sends it to
 * SQS/Lambda. Its key is form-encoded as on S3 (a space is `+`, a `+` is `%2B`): decode it with
 * `decodeURIComponent(key.replace(/\+/g, ' '))`.
 */
export interface S3EventRecord {
  readonly eventName: string;
  readonly s3: { readonly bucket: { readonly name: string }; readonly object: { readonly key: string; readonly size?: number; readonly eTag?: string } };
}

export interface EmbeddedS3 {
  /** http://127.0.0.1:<port>, for `aws s3 --endpoint-url` and SDK clients. */
  readonly endpoint: string;
  /** An SDK client configured for it (path-style, dummy credentials). */
  readonly client: S3Client;
  /** Subscribes to object notifications. A listener that throws is reported on stderr; the write it was told of stands. */
  onEvent(listener: (record: S3EventRecord) => void): void;
  close(): Promise<void>;
}

/** Credentials the embedded S3 accepts (it does not check signatures). */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** A real S3 API on localhost, with its objects kept in `directory` so they survive restarts. The buckets are created when missing. */
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
  const { store } = server;
  confineStore(store);
  atomicPuts(store);
  concurrentDeletes(store);
  // s3rver's controllers are shared by every server in the process; these replace them once (see replaceController).
  listObjects();
  deleteObjects();
  decodeCopySources();
  addBeforeRouter(
    server,
    confineUploads(store),
    conditionalWrites(async (bucket, key) => ((await store.existsObject(bucket, key)) ? (await store.getMetadata(bucket, key)).etag : null)),
    decodeRequestBodies(),
  );
  const listeners: ((record: S3EventRecord) => void)[] = [];
  // s3rver emits its event inside the request, so a listener's exception would fail a write that is stored.
  server.on('event', (event) => {
    for (const record of event.Records.map(asS3SendsIt)) {
      for (const listener of listeners) {
        try {
          listener(record);
        } catch (error) {
          console.error(`embedded S3: an event listener failed on ${record.eventName} s3://${record.s3.bucket.name}/${record.s3.object.key}: ${(error as Error).message}`);
        }
      }
    }
  });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = createEmbeddedS3Client(endpoint);
  return {
    endpoint,
    client,
    onEvent: (listener) => listeners.push(listener),
    close: async () => {
      client.destroy();
      await server.close();
    },
  };
}

/** s3rver's record with the key form-encoded, as S3 writes it. */
const asS3SendsIt = (record: S3EventRecord): S3EventRecord => ({ ...record, s3: { ...record.s3, object: { ...record.s3.object, key: eventKey(record.s3.object.key) } } });

/** An SDK client for the embedded S3 at `endpoint`. */
export function createEmbeddedS3Client(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: EMBEDDED_S3_CREDENTIALS });
}
