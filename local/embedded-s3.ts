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
 * restarts. The buckets are created when missing.
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
