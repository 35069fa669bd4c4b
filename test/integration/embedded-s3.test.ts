import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, S3ServiceException, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { useTempDir } from '../helpers/tmp';

const tmp = useTempDir();
const Bucket = 'conditional';
let s3: EmbeddedS3;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: [Bucket] });
});
afterAll(() => s3.close());

const putIfAbsent = (Key: string, Body: string) => s3.client.send(new PutObjectCommand({ Bucket, Key, Body, IfNoneMatch: '*' }));
const read = async (Key: string) => (await s3.client.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString();
const statusOf = (error: unknown) => (error instanceof S3ServiceException ? error.$metadata.httpStatusCode : error);

describe('conditional writes on the embedded S3 (If-None-Match: *)', () => {
  it('writes a key that does not exist', async () => {
    await putIfAbsent('fresh', 'first');

    expect(await read('fresh')).toBe('first');
  });

  it('refuses with 412 to overwrite a key that exists, and keeps the first body', async () => {
    await putIfAbsent('taken', 'first');

    const error = await putIfAbsent('taken', 'second').catch((e: unknown) => e);

    expect(statusOf(error)).toBe(412);
    expect(await read('taken')).toBe('first');
  });

  it('lets exactly one of many concurrent writers of the same key win', async () => {
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => putIfAbsent('race', `writer ${i}`)));

    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => statusOf((r as PromiseRejectedResult).reason))).toEqual(Array(7).fill(412));
    expect(await read('race')).toBe(`writer ${winners[0]}`);
  });

  it('refuses to complete a multipart upload over a key that exists', async () => {
    await putIfAbsent('multipart', 'first');
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key: 'multipart' }));
    const { ETag } = await s3.client.send(new UploadPartCommand({ Bucket, Key: 'multipart', UploadId, PartNumber: 1, Body: 'second' }));

    const error = await s3.client
      .send(new CompleteMultipartUploadCommand({ Bucket, Key: 'multipart', UploadId, IfNoneMatch: '*', MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] } }))
      .catch((e: unknown) => e);

    expect(statusOf(error)).toBe(412);
    expect(await read('multipart')).toBe('first');
  });

  it('still overwrites unconditionally without the header', async () => {
    await putIfAbsent('plain', 'first');

    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'plain', Body: 'second' }));

    expect(await read('plain')).toBe('second');
  });
});
