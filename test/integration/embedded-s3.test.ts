import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3ServiceException, UploadPartCommand } from '@aws-sdk/client-s3';
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

describe('conditional creates on the embedded S3 (If-None-Match: *)', () => {
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

describe('conditional replaces on the embedded S3 (If-Match: <ETag>)', () => {
  const etagOf = async (Key: string) => (await s3.client.send(new HeadObjectCommand({ Bucket, Key }))).ETag!;
  const putIfMatch = (Key: string, Body: string, IfMatch: string) => s3.client.send(new PutObjectCommand({ Bucket, Key, Body, IfMatch }));

  it('replaces an object whose ETag is the one given', async () => {
    await putIfAbsent('cas', 'first');

    await putIfMatch('cas', 'second', await etagOf('cas'));

    expect(await read('cas')).toBe('second');
  });

  it('refuses with 412 when the object changed since its ETag was read, and keeps the newer body', async () => {
    await putIfAbsent('stale', 'first');
    const seen = await etagOf('stale');
    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'stale', Body: 'by someone else' }));

    const error = await putIfMatch('stale', 'mine', seen).catch((e: unknown) => e);

    expect(statusOf(error)).toBe(412);
    expect(await read('stale')).toBe('by someone else');
  });

  it('refuses with 404 when the object is gone', async () => {
    const error = await putIfMatch('never-written', 'mine', '"0123456789abcdef0123456789abcdef"').catch((e: unknown) => e);

    expect(statusOf(error)).toBe(404);
  });

  it('lets exactly one of many concurrent writers holding the same ETag win', async () => {
    await putIfAbsent('cas-race', 'first');
    const seen = await etagOf('cas-race');

    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => putIfMatch('cas-race', `writer ${i}`, seen)));

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });
});

describe('atomic replaces on the embedded S3', () => {
  it('lets a read during overwrites see one whole body, never part of one', async () => {
    const body = (c: string) => c.repeat(1 << 20);
    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'whole', Body: body('a') }));

    const writes = ['b', 'c', 'd', 'e', 'f', 'g'].map((c) => s3.client.send(new PutObjectCommand({ Bucket, Key: 'whole', Body: body(c) })));
    const reads = Array.from({ length: 24 }, () => read('whole'));
    const seen = await Promise.all(reads);
    await Promise.all(writes);

    for (const text of seen) {
      expect(text.length).toBe(1 << 20);
      expect(text).toBe(body(text[0]!));
    }
  });
});
