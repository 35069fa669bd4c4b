import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  type ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { useTempDir } from '../helpers/tmp';

/**
 * Bodies sent with `content-encoding: aws-chunked` (SDK stream bodies, newer CLIs' trailing
 * checksums) are stored decoded, byte-exact, once their checksum is verified.
 */

const tmp = useTempDir();
const Bucket = 'chunked';
let s3: EmbeddedS3;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: [Bucket] });
});
afterAll(() => s3.close());

/** Binary pieces whose bytes include what chunk framing is made of ("\r\n", "0\r\n", ";"). */
const pieces = () => [Buffer.from('0\r\n\r\nx-amz-checksum-crc32:AAAAAA==\r\n'), randomBytes(100_000), Buffer.from(';chunk-signature=\r\n'), randomBytes(70_000)];
const bytesOf = async (Key: string) => Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray());
const statusOf = (error: unknown) => (error instanceof S3ServiceException ? error.$metadata.httpStatusCode : error);
const headStatus = (Key: string) =>
  s3.client.send(new HeadObjectCommand({ Bucket, Key })).then(
    () => 200,
    (e: unknown) => statusOf(e),
  );

/** Sends one request as written, for framings the SDK does not produce. */
function rawPut(path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${s3.endpoint}${path}`, { method: 'PUT', headers: { 'content-length': String(body.length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const crc32Base64 = (data: Buffer) => {
  const digest = Buffer.alloc(4);
  digest.writeUInt32BE(crc32(data));
  return digest.toString('base64');
};
/** An unsigned aws-chunked body (as SDK v3 sends a stream) with a trailer line. */
const unsignedChunked = (parts: Buffer[], trailer: string) => Buffer.concat([...parts.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]), Buffer.from(`0\r\n${trailer}\r\n\r\n`)]);
const sdkLikeHeaders = (decodedLength: number, trailer: string) => ({
  'content-encoding': 'aws-chunked',
  'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
  'x-amz-decoded-content-length': String(decodedLength),
  'x-amz-trailer': trailer,
  'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d+/g, ''),
  authorization: 'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00',
});

describe('aws-chunked uploads from the SDK', () => {
  it('stores a Readable stream body byte-exact, without the chunk framing', async () => {
    const body = pieces();
    const expected = Buffer.concat(body);

    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'stream.bin', Body: Readable.from(body), ContentLength: expected.length }));

    expect((await bytesOf('stream.bin')).equals(expected)).toBe(true);
  });

  it('does not keep aws-chunked as the stored Content-Encoding', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'encoding.txt', Body: Readable.from([Buffer.from('plain')]), ContentLength: 5 }));

    expect((await s3.client.send(new HeadObjectCommand({ Bucket, Key: 'encoding.txt' }))).ContentEncoding).toBeUndefined();
  });

  it.each<ChecksumAlgorithm>(['CRC32', 'CRC32C', 'SHA1', 'SHA256'])('verifies and stores a stream body with a trailing %s checksum', async (ChecksumAlgorithm) => {
    const expected = Buffer.concat(pieces());

    await s3.client.send(new PutObjectCommand({ Bucket, Key: `trailer-${ChecksumAlgorithm}.bin`, Body: Readable.from([expected]), ContentLength: expected.length, ChecksumAlgorithm }));

    expect((await bytesOf(`trailer-${ChecksumAlgorithm}.bin`)).equals(expected)).toBe(true);
  });

  it('verifies and stores a string body sent with ChecksumAlgorithm CRC32 (a checksum header)', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'header-crc32.txt', Body: 'checked', ChecksumAlgorithm: 'CRC32' }));

    expect((await bytesOf('header-crc32.txt')).toString()).toBe('checked');
  });

  it('stores a multipart upload whose parts are stream bodies byte-exact', async () => {
    const Key = 'parts.bin';
    const [first, second] = [randomBytes(1 << 20), Buffer.concat(pieces())];
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const parts = [];
    for (const [i, part] of [first, second].entries()) {
      const { ETag } = await s3.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: Readable.from([part]), ContentLength: part.length, ChecksumAlgorithm: 'CRC32' }));
      parts.push({ ETag, PartNumber: i + 1 });
    }

    await s3.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));

    expect((await bytesOf(Key)).equals(Buffer.concat([first, second]))).toBe(true);
  });
});

describe('aws-chunked uploads written by hand', () => {
  it('decodes a signed STREAMING-AWS4-HMAC-SHA256-PAYLOAD body (chunk signatures are not checked, like request signatures)', async () => {
    const data = [Buffer.from('first chunk,'), Buffer.from('second chunk')];
    const signature = (n: number) => createHash('sha256').update(String(n)).digest('hex');
    const body = Buffer.concat([...data.flatMap((d, i) => [Buffer.from(`${d.length.toString(16)};chunk-signature=${signature(i)}\r\n`), d, Buffer.from('\r\n')]), Buffer.from(`0;chunk-signature=${signature(9)}\r\n\r\n`)]);
    const { 'x-amz-trailer': _, ...headers } = sdkLikeHeaders(24, '');

    const response = await rawPut(`/${Bucket}/signed.txt`, { ...headers, 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' }, body);

    expect(response.status).toBe(200);
    expect((await bytesOf('signed.txt')).toString()).toBe('first chunk,second chunk');
  });

  it('decodes an unsigned body with a CRC32 trailer', async () => {
    const data = Buffer.from('trailer checked');

    const response = await rawPut(`/${Bucket}/unsigned.txt`, sdkLikeHeaders(data.length, 'x-amz-checksum-crc32'), unsignedChunked([data], `x-amz-checksum-crc32:${crc32Base64(data)}`));

    expect(response.status).toBe(200);
    expect((await bytesOf('unsigned.txt')).equals(data)).toBe(true);
  });

  it('refuses with 400 BadDigest a body whose trailing checksum does not match, and stores nothing', async () => {
    const data = Buffer.from('corrupted on the way');

    const response = await rawPut(`/${Bucket}/corrupt.txt`, sdkLikeHeaders(data.length, 'x-amz-checksum-crc32'), unsignedChunked([data], `x-amz-checksum-crc32:${crc32Base64(Buffer.from('something else'))}`));

    expect(response.status).toBe(400);
    expect(response.body).toMatch(/<Code>BadDigest<\/Code>/);
    expect(await headStatus('corrupt.txt')).toBe(404);
  });

  it('keeps the previous object when a replacement fails its checksum', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'kept.txt', Body: 'previous' }));
    const data = Buffer.from('replacement');

    await rawPut(`/${Bucket}/kept.txt`, sdkLikeHeaders(data.length, 'x-amz-checksum-crc32'), unsignedChunked([data], 'x-amz-checksum-crc32:AAAAAA=='));

    expect((await bytesOf('kept.txt')).toString()).toBe('previous');
  });

  it('refuses with 400 BadDigest a part whose trailing checksum does not match', async () => {
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key: 'bad-part.bin' }));
    const data = Buffer.from('part body');

    const response = await rawPut(`/${Bucket}/bad-part.bin?partNumber=1&uploadId=${UploadId}`, sdkLikeHeaders(data.length, 'x-amz-checksum-crc32'), unsignedChunked([data], 'x-amz-checksum-crc32:AAAAAA=='));

    expect(response.status).toBe(400);
    expect(response.body).toMatch(/<Code>BadDigest<\/Code>/);
  });

  it('refuses with 400 a body shorter than its x-amz-decoded-content-length, and stores nothing', async () => {
    const data = Buffer.from('short');

    const response = await rawPut(`/${Bucket}/short.txt`, sdkLikeHeaders(data.length + 10, 'x-amz-checksum-crc32'), unsignedChunked([data], `x-amz-checksum-crc32:${crc32Base64(data)}`));

    expect(response.status).toBe(400);
    expect(await headStatus('short.txt')).toBe(404);
  });
});
