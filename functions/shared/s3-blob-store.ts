import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type BlobInfo, BlobNotFoundError, type BlobStore, type Versioned } from '../../core/model/blob-store';

/** A BlobStore over one S3 bucket (or the embedded S3 locally); PutObject is atomic, so no temporary keys are needed. */
export class S3BlobStore implements BlobStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  describe(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  read(key: string): Promise<Uint8Array> {
    return this.readChecked(key, () => {});
  }

  async readChecked(key: string, accept: (info: BlobInfo) => void): Promise<Uint8Array> {
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') throw new BlobNotFoundError(key);
      throw error;
    }
    // The size comes with the response headers, before the body: a refused object is never
    // downloaded, its connection is dropped instead. An S3 object is always a plain file.
    const body = response.Body!;
    try {
      accept({ kind: 'file', bytes: response.ContentLength ?? Number.POSITIVE_INFINITY });
    } catch (error) {
      (body as { destroy?: () => void }).destroy?.();
      throw error;
    }
    return body.transformToByteArray();
  }

  async write(key: string, body: Uint8Array | string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
  }

  async create(key: string, body: Uint8Array | string): Promise<boolean> {
    // S3 conditional write: If-None-Match: * fails with 412 when the key exists. Two concurrent
    // conditional writes of one key may also get 409 ConditionalRequestConflict: try again, and
    // the loser then sees the winner's object (412).
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, IfNoneMatch: '*' }));
        return true;
      } catch (error) {
        const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (name === 'PreconditionFailed' || $metadata?.httpStatusCode === 412) return false;
        if ((name === 'ConditionalRequestConflict' || $metadata?.httpStatusCode === 409) && attempt < 5) {
          await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
          continue;
        }
        throw error;
      }
    }
  }

  async readVersioned(key: string): Promise<Versioned | null> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { body: await response.Body!.transformToByteArray(), version: response.ETag! };
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  }

  async replace(key: string, body: Uint8Array | string, version: string | null): Promise<boolean> {
    if (version === null) return this.create(key, body);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, IfMatch: version }));
      return true;
    } catch (error) {
      const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      // 412: changed since; 404: deleted since; 409: another conditional write of the key at this moment.
      if ([412, 404, 409].includes($metadata?.httpStatusCode ?? 0) || name === 'PreconditionFailed' || name === 'NoSuchKey') return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }
}
