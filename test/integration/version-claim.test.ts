import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlobStore, DirectoryStore, PrefixedStore } from '../../core/model/blob-store';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { claimVersion } from '../../model-pipeline/registry/registry-ops';
import { useTempDir } from '../helpers/tmp';

/**
 * Concurrent pipeline runs of one model must not get the same version number: each number is
 * claimed with a create-if-absent write, on a folder and on S3 (the embedded one honours
 * If-None-Match: *, as S3 does).
 */

const tmp = useTempDir();
let s3: EmbeddedS3;
let n = 0;
/** A store of its own for each test: a new folder, or a new prefix of the one bucket. */
const stores: Record<string, () => BlobStore> = {
  folder: () => new DirectoryStore(tmp.file(`folder-${n++}`)),
  s3: () => new PrefixedStore(new S3BlobStore(s3.client, 'models'), `round-${n++}/`),
};

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models'] });
});

afterAll(async () => {
  await s3?.close();
});

describe.each(['folder', 's3'])('on a %s store', (kind) => {
  const fresh = (): BlobStore => stores[kind]!();

  it('creates a key once: of ten concurrent creates exactly one succeeds, and its body stays', async () => {
    const store = fresh();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.create('lock.json', `writer ${i}`)));

    expect(results.filter(Boolean)).toHaveLength(1);
    expect(new TextDecoder().decode(await store.read('lock.json'))).toBe(`writer ${results.indexOf(true)}`);
  });

  it('gives two concurrent runs two distinct versions, and a run its own version again', async () => {
    const models = new ModelRepository(fresh());
    await models.store.write('models/demo/1.0.0/manifest.json', '{}');

    const [a, b] = await Promise.all([claimVersion(models, 'demo', 'run-a', '1.0.0'), claimVersion(models, 'demo', 'run-b', '1.0.0')]);

    expect([a, b].sort()).toEqual(['1.1.0', '1.2.0']);
    expect(await claimVersion(models, 'demo', 'run-a', '1.0.0')).toBe(a);
    expect(await claimVersion(models, 'demo', 'run-c', '1.0.0')).toBe('1.3.0');
  });
});
