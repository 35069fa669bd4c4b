import { PassThrough } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, NotFound, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import type { BatchObjectStore, StagedWriter } from '../../core/batch/job';

const isMissing = (error: unknown) => error instanceof NoSuchKey || error instanceof NotFound || ['NoSuchKey', 'NotFound'].includes((error as { name?: string }).name ?? '');

/**
 * Batch jobs' object storage on S3 (or the embedded S3): streaming reads, ranged reads for
 * Parquet, and outputs streamed by multipart upload to a staging key, then copied into place.
 */
export class S3BatchStore implements BatchObjectStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async head(key: string) {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { etag: (head.ETag ?? '').replaceAll('"', ''), size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async *read(key: string): AsyncIterable<Uint8Array> {
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    yield* response.Body as Readable;
  }

  async readRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }));
    return response.Body!.transformToByteArray();
  }

  async readText(key: string): Promise<string | null> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await response.Body!.transformToString();
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async writeText(key: string, text: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: text }));
  }

  async createIfAbsent(key: string, text: string): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: text, IfNoneMatch: '*' }));
      return true;
    } catch (error) {
      // 412: the key exists. 409: another conditional write of the key is in flight; S3 lets one win.
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || status === 409) return false;
      throw error;
    }
  }

  async remove(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async openWriter(key: string): Promise<StagedWriter> {
    const body = new PassThrough();
    // Small outputs become one PutObject sent when the body ends, large ones a multipart upload
    // completed then: either way the object appears at commit and never before.
    const upload = new Upload({ client: this.client, params: { Bucket: this.bucket, Key: key, Body: body }, queueSize: 2, partSize: 8 * 1024 * 1024 });
    const done = upload.done();
    // Surface upload errors at commit rather than as an unhandled rejection.
    done.catch(() => {});
    let failed: unknown;
    body.on('error', (error) => (failed = error));
    return {
      write: (data) =>
        new Promise<void>((resolve, reject) => {
          if (failed) return reject(failed);
          if (body.write(data)) resolve();
          else body.once('drain', resolve);
        }),
      commit: async () => {
        body.end();
        await done;
      },
      abort: async () => {
        // An error, not a plain end: the upload must fail rather than send what was written so far.
        body.destroy(new Error(`writing ${key} was aborted`));
        await upload.abort().catch(() => {});
        await done.catch(() => {});
      },
    };
  }
}
