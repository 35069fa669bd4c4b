import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BatchStore } from '../../functions/shared/s3-batch-store';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { useTempDir } from '../helpers/tmp';

const tmp = useTempDir();
const Bucket = 'writers';
let s3: EmbeddedS3;
let store: S3BatchStore;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: [Bucket] });
  store = new S3BatchStore(s3.client, Bucket);
});
afterAll(() => s3.close());

const keysUnder = async (Prefix: string) => ((await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix }))).Contents ?? []).map((o) => o.Key);
/** 20 MB in 1 MB pieces: above the writer's 8 MB part size, so it takes the multipart path. */
const large = async (write: (piece: Uint8Array) => Promise<void>) => {
  for (let i = 0; i < 20; i++) await write(new Uint8Array(1 << 20).fill(97 + i));
};

describe('the batch store writer: an object appears only when committed', () => {
  it('shows nothing under the key while a large output is being written, and all of it after commit', async () => {
    const writer = await store.openWriter('out/large.csv');
    await large((piece) => writer.write(piece));

    expect(await keysUnder('out/large')).toEqual([]);
    await writer.commit();
    expect(await store.head('out/large.csv')).toMatchObject({ size: 20 << 20 });
  });

  it('leaves no object when a large output is aborted mid-way', async () => {
    const writer = await store.openWriter('out/aborted.csv');
    await large((piece) => writer.write(piece));

    await writer.abort();

    expect(await keysUnder('out/aborted')).toEqual([]);
  });

  it('leaves no object when a small output is aborted before its single upload was sent', async () => {
    const writer = await store.openWriter('out/small.csv');
    await writer.write('line,prediction\n1,yes\n');

    await writer.abort();

    expect(await keysUnder('out/small')).toEqual([]);
  });

  it('replaces an earlier object only at commit', async () => {
    const first = await store.openWriter('out/replaced.csv');
    await first.write('first\n');
    await first.commit();

    const second = await store.openWriter('out/replaced.csv');
    await second.write('second\n');
    expect(await store.readText('out/replaced.csv')).toBe('first\n');
    await second.commit();

    expect(await store.readText('out/replaced.csv')).toBe('second\n');
  });
});
