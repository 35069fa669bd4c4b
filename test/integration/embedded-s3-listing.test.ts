import { ListObjectsCommand, ListObjectsV2Command, type ListObjectsV2CommandOutput, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { useTempDir } from '../helpers/tmp';

/** ListObjectsV2 and ListObjects (v1) on the embedded S3 answer as S3 does, also beyond 1,000 keys. */

const tmp = useTempDir();
const Bucket = 'listing';
let s3: EmbeddedS3;

const manyKeys = Array.from({ length: 2500 }, (_, i) => `many/${String(i).padStart(4, '0')}.csv`);
const dayFolders = Array.from({ length: 1100 }, (_, i) => `tree/day-${String(i).padStart(4, '0')}/`);
const treeKeys = [...dayFolders.map((folder) => `${folder}part.csv`), 'tree/readme.txt', 'tree/z.txt'];
/** In UTF-8 byte order, which is S3's: '-' (0x2d) < '/' (0x2f), and U+FF21 (EF BC A1) < U+1F600 (F0 9F 98 80), unlike UTF-16 order. */
const orderedKeys = ['order/a', 'order/a-b', 'order/a/b', 'order/\uFF21', 'order/\u{1F600}'];
const encodedKeys = ['encoded/a b/1.csv', 'encoded/a+b.csv', 'encoded/100%.csv', 'encoded/é.csv'];

async function putAll(keys: readonly string[]): Promise<void> {
  const queue = [...keys];
  const worker = async () => {
    for (let Key = queue.shift(); Key !== undefined; Key = queue.shift()) await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: [Bucket] });
  await putAll([...manyKeys, ...treeKeys, ...orderedKeys, ...encodedKeys, 'models/churn/1.0.0/manifest.json', 'root.txt']);
});
afterAll(() => s3.close());

/** Every page of a ListObjectsV2 call, following NextContinuationToken. */
async function pagesV2(input: { Prefix?: string; Delimiter?: string; MaxKeys?: number }): Promise<ListObjectsV2CommandOutput[]> {
  const pages: ListObjectsV2CommandOutput[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, ...input, ContinuationToken }));
    pages.push(page);
    ContinuationToken = page.NextContinuationToken;
  } while (ContinuationToken);
  return pages;
}
const keysOf = (pages: { Contents?: { Key?: string }[] }[]) => pages.flatMap((p) => (p.Contents ?? []).map((o) => o.Key));
const prefixesOf = (pages: { CommonPrefixes?: { Prefix?: string }[] }[]) => pages.flatMap((p) => (p.CommonPrefixes ?? []).map((c) => c.Prefix));

describe('ListObjectsV2 beyond 1,000 keys', () => {
  it('pages through 2,500 keys 1,000 at a time with continuation tokens, each key once and in order', async () => {
    const pages = await pagesV2({ Prefix: 'many/' });

    expect(pages.map((p) => [p.KeyCount, p.IsTruncated])).toEqual([
      [1000, true],
      [1000, true],
      [500, false],
    ]);
    expect(keysOf(pages)).toEqual(manyKeys);
  });

  it('returns MaxKeys keys starting after StartAfter', async () => {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'many/', StartAfter: 'many/0100.csv', MaxKeys: 7 }));

    expect(keysOf([page])).toEqual(manyKeys.slice(101, 108));
    expect(page).toMatchObject({ KeyCount: 7, MaxKeys: 7, IsTruncated: true, StartAfter: 'many/0100.csv' });
  });

  it('gives continuation tokens that do not show the key they continue from', async () => {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'many/', MaxKeys: 1 }));

    expect(page.NextContinuationToken).toBeTruthy();
    expect(page.NextContinuationToken).not.toContain('many');
  });

  it('refuses with 400 a continuation token it did not issue', async () => {
    const error = await s3.client.send(new ListObjectsV2Command({ Bucket, ContinuationToken: 'not-a-token' })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(S3ServiceException);
    expect((error as S3ServiceException).$metadata.httpStatusCode).toBe(400);
  });
});

describe('ListObjectsV2 with a delimiter (a folder view)', () => {
  it('lists 1,100 subfolders as common prefixes across pages, and the files beside them', async () => {
    const pages = await pagesV2({ Prefix: 'tree/', Delimiter: '/' });

    expect(prefixesOf(pages)).toEqual(dayFolders);
    expect(keysOf(pages)).toEqual(['tree/readme.txt', 'tree/z.txt']);
    expect(pages.map((p) => p.KeyCount)).toEqual([1000, 102]);
  });

  it('counts common prefixes toward MaxKeys', async () => {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'tree/', Delimiter: '/', MaxKeys: 10 }));

    expect(prefixesOf([page])).toEqual(dayFolders.slice(0, 10));
    expect(page.Contents).toBeUndefined();
    expect(page).toMatchObject({ KeyCount: 10, IsTruncated: true });
  });

  it('shows a folder that holds only subfolders as a common prefix', async () => {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, Delimiter: '/' }));

    expect(prefixesOf([page])).toEqual(['encoded/', 'many/', 'models/', 'order/', 'tree/']);
    expect(keysOf([page])).toEqual(['root.txt']);
  });

  it('groups on the part after a prefix that ends inside a folder name', async () => {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'tree/day-000', Delimiter: '/' }));

    expect(prefixesOf([page])).toEqual(dayFolders.slice(0, 10));
  });

  it('answers a common prefix on one page and the keys after it on the next, never twice', async () => {
    const pages = await pagesV2({ Prefix: 'order/', Delimiter: '/', MaxKeys: 1 });

    expect(pages.map((p) => [...keysOf([p]), ...prefixesOf([p])])).toEqual([['order/a'], ['order/a-b'], ['order/a/'], ['order/\uFF21'], ['order/\u{1F600}']]);
  });
});

describe('ListObjectsV2 key order and encoding', () => {
  it('sorts keys by their UTF-8 bytes', async () => {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'order/' }));

    expect(keysOf([page])).toEqual(orderedKeys);
  });

  it('URL-encodes keys and common prefixes when asked with EncodingType=url, as S3 does', async () => {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'encoded/', Delimiter: '/', EncodingType: 'url' }));

    expect(page.EncodingType).toBe('url');
    expect(keysOf([page])).toEqual(['encoded/100%25.csv', 'encoded/a%2Bb.csv', 'encoded/%C3%A9.csv']);
    expect(prefixesOf([page])).toEqual(['encoded/a%20b/']);
  });

  it('returns the keys themselves without EncodingType', async () => {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'encoded/' }));

    expect(keysOf([page])).toEqual(['encoded/100%.csv', 'encoded/a b/1.csv', 'encoded/a+b.csv', 'encoded/é.csv']);
  });
});

describe('ListObjects (v1)', () => {
  it('pages with Marker and NextMarker through common prefixes and keys', async () => {
    const pages = [];
    let Marker: string | undefined;
    do {
      const page = await s3.client.send(new ListObjectsCommand({ Bucket, Prefix: 'tree/', Delimiter: '/', MaxKeys: 400, Marker }));
      pages.push(page);
      Marker = page.IsTruncated ? page.NextMarker : undefined;
    } while (Marker);

    expect(pages).toHaveLength(3);
    expect(prefixesOf(pages)).toEqual(dayFolders);
    expect(keysOf(pages)).toEqual(['tree/readme.txt', 'tree/z.txt']);
  });

  it('pages without a delimiter from the last key returned', async () => {
    const first = await s3.client.send(new ListObjectsCommand({ Bucket, Prefix: 'many/' }));
    const second = await s3.client.send(new ListObjectsCommand({ Bucket, Prefix: 'many/', Marker: first.Contents!.at(-1)!.Key }));

    expect(first.IsTruncated).toBe(true);
    expect(keysOf([first, second])).toEqual(manyKeys.slice(0, 2000));
  });
});
