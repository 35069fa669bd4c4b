import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedS3, type S3EventRecord, startEmbeddedS3 } from '../../local/embedded-s3';
import { useTempDir } from '../helpers/tmp';

/** Keys with characters that URLs treat specially are stored, answered and announced as S3 does. */

const tmp = useTempDir();
const Bucket = 'keys';
let s3: EmbeddedS3;
const events: S3EventRecord[] = [];

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: [Bucket] });
  s3.onEvent((record) => events.push(record));
});
afterAll(() => s3.close());

/** Each key, and how S3 writes it in an event notification: form-encoded, a space as '+', '/' kept. */
const awkward: [key: string, inEvent: string][] = [
  ['in/a b.csv', 'in/a+b.csv'],
  ['in/100%.csv', 'in/100%25.csv'],
  ['in/x+y.csv', 'in/x%2By.csv'],
  ['in/50%25 off.csv', 'in/50%2525+off.csv'],
  ['in/données/é 数据.csv', 'in/donn%C3%A9es/%C3%A9+%E6%95%B0%E6%8D%AE.csv'],
];

const read = async (Key: string) => (await s3.client.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString();
const listed = async (Prefix: string) => ((await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix }))).Contents ?? []).map((o) => o.Key);
const statusOf = (error: unknown) => (error instanceof S3ServiceException ? error.$metadata.httpStatusCode : error);
/** What BatchWatcher.watch() does with an event's key. */
const decodeEventKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

describe.each(awkward)('the key %j', (key, inEvent) => {
  const renamed = key.replace('in/', 'copies/');

  it('round-trips through PUT, GET, HEAD and LIST', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket, Key: key, Body: `body of ${key}` }));

    expect(await read(key)).toBe(`body of ${key}`);
    expect((await s3.client.send(new HeadObjectCommand({ Bucket, Key: key }))).ContentLength).toBe(Buffer.byteLength(`body of ${key}`));
    expect(await listed(key)).toEqual([key]);
  });

  it('is announced URL-encoded in its ObjectCreated:Put event, decoding back to the key', async () => {
    events.length = 0;

    await s3.client.send(new PutObjectCommand({ Bucket, Key: key, Body: 'announced' }));

    expect(events.map((e) => [e.eventName, e.s3.object.key])).toEqual([['ObjectCreated:Put', inEvent]]);
    expect(decodeEventKey(events[0]!.s3.object.key)).toBe(key);
  });

  it('is copied with CopyObject to a key of the same kind', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket, Key: key, Body: 'original' }));

    await s3.client.send(new CopyObjectCommand({ Bucket, Key: renamed, CopySource: `${Bucket}/${encodeURIComponent(key)}` }));

    expect(await read(renamed)).toBe('original');
  });

  it('is written by a multipart upload', async () => {
    const Key = key.replace('in/', 'parts/');
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const { ETag } = await s3.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'in one part' }));

    await s3.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] } }));

    expect(await read(Key)).toBe('in one part');
    expect(decodeEventKey(events.at(-1)!.s3.object.key)).toBe(Key);
  });

  it('is deleted by DeleteObject and by DeleteObjects', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket, Key: key, Body: 'doomed' }));
    await s3.client.send(new PutObjectCommand({ Bucket, Key: renamed, Body: 'doomed' }));

    await s3.client.send(new DeleteObjectCommand({ Bucket, Key: key }));
    await s3.client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: renamed }] } }));

    expect(statusOf(await s3.client.send(new HeadObjectCommand({ Bucket, Key: key })).catch((e: unknown) => e))).toBe(404);
    expect(await listed(renamed)).toEqual([]);
  });
});

describe('event listeners', () => {
  it('cannot fail a write that S3 has stored: a listener that throws leaves the PUT a success', async () => {
    s3.onEvent(() => {
      throw new URIError('URI malformed');
    });

    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'listener/throws.csv', Body: 'stored' }));

    expect(await read('listener/throws.csv')).toBe('stored');
  });
});
