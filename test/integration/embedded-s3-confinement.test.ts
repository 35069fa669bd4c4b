import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { useTempDir } from '../helpers/tmp';

/**
 * A request names a bucket and a key, never a file: whatever its path holds (`../`, `%2e%2e%2f`,
 * a bucket called `..`, an upload id or part number made of dots), the embedded S3 refuses with an
 * S3 error and reads, writes and deletes nothing outside the bucket. Raw HTTP, because the SDK
 * normalises such paths away.
 */

const tmp = useTempDir();
const Bucket = 'confined';
let s3: EmbeddedS3;

beforeAll(async () => {
  // <tmp>/s3/<bucket>/… holds the objects; <tmp>/secret.txt and <tmp>/victim… are outside it.
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: [Bucket] });
  await writeFile(tmp.file('secret.txt._S3rver_object'), 'outside the store');
  await writeFile(tmp.file('victim._S3rver_object'), 'outside the store');
  await mkdir(tmp.file('outside'));
});
afterAll(() => s3.close());

/** Sends the path exactly as given (a URL object would resolve the dots first). */
function raw(method: string, path: string, body = '', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(s3.endpoint);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}
const s3Error = /^<\?xml[^>]*\?>\s*<Error><Code>\w+<\/Code><Message>/;
const refused = (response: { status: number; body: string }) => {
  expect([400, 403, 404]).toContain(response.status);
  expect(response.body).toMatch(s3Error);
};

describe('paths that would leave the bucket', () => {
  it.each([
    ['a key with ../ segments', `/${Bucket}/../../escaped-dots.txt`],
    ['a key with encoded %2e%2e%2f segments', `/${Bucket}/%2e%2e%2f%2e%2e%2fescaped-encoded.txt`],
    ['a key with ../ after a folder', `/${Bucket}/folder/../../../escaped-nested.txt`],
    ['a bucket named ..', '/../escaped-bucket.txt'],
    ['a bucket named %2e%2e', '/%2e%2e/escaped-bucket-encoded.txt'],
    ['a bucket name holding an encoded slash', '/%2e%2e%2f%2e%2e/escaped-slash.txt'],
  ])('refuses a PUT of %s and writes no file', async (_, path) => {
    const response = await raw('PUT', path, 'should not be written');

    refused(response);
    expect((await filesUnder(tmp.path)).filter((f) => f.includes('escaped'))).toEqual([]);
  });

  it('refuses a GET of a key with ../ segments and returns nothing of the file there', async () => {
    const response = await raw('GET', `/${Bucket}/../../secret.txt`);

    refused(response);
    expect(response.body).not.toContain('outside the store');
  });

  it('refuses a copy whose source leaves the bucket', async () => {
    const response = await raw('PUT', `/${Bucket}/copied.txt`, '', { 'x-amz-copy-source': `/${Bucket}/../../secret.txt` });

    refused(response);
    expect(existsSync(tmp.file('s3', Bucket, 'copied.txt._S3rver_object'))).toBe(false);
  });

  it('refuses a DELETE of a key with ../ segments and keeps the file there', async () => {
    refused(await raw('DELETE', `/${Bucket}/../../victim`));

    expect(existsSync(tmp.file('victim._S3rver_object'))).toBe(true);
  });

  it('refuses a DeleteObjects naming a key with ../ segments and keeps the file there', async () => {
    const body = '<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>../../victim</Key></Object></Delete>';

    refused(await raw('POST', `/${Bucket}?delete`, body, { 'content-type': 'application/xml' }));

    expect(existsSync(tmp.file('victim._S3rver_object'))).toBe(true);
  });
});

describe('multipart uploads addressed by id', () => {
  it('refuses an UploadPart whose uploadId is a path, and writes no file', async () => {
    const response = await raw('PUT', `/${Bucket}/key?partNumber=1&uploadId=../../../escaped-upload`, 'part');

    refused(response);
    expect((await filesUnder(tmp.path)).filter((f) => f.includes('escaped'))).toEqual([]);
  });

  it('refuses an UploadPart whose partNumber is a path, and writes no file', async () => {
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key: 'key' }));

    const response = await raw('PUT', `/${Bucket}/key?partNumber=../../../../escaped-part&uploadId=${UploadId}`, 'part');

    refused(response);
    expect((await filesUnder(tmp.path)).filter((f) => f.includes('escaped'))).toEqual([]);
  });

  it('refuses to complete an upload whose uploadId is a path, and removes nothing', async () => {
    const body = '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>';

    refused(await raw('POST', `/${Bucket}/key?uploadId=../../../outside`, body));

    expect(existsSync(tmp.file('outside'))).toBe(true);
  });
});

describe('ordinary keys', () => {
  it('still stores keys whose names merely contain dots', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket, Key: 'v1..2/...hidden/file..txt', Body: 'dots' }));

    const response = await s3.client.send(new GetObjectCommand({ Bucket, Key: 'v1..2/...hidden/file..txt' }));
    expect(await response.Body!.transformToString()).toBe('dots');
  });
});
