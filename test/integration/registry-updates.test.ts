import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlobStore, DirectoryStore, PrefixedStore } from '../../core/model/blob-store';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { promote, setStatus, startCanary } from '../../model-pipeline/registry/registry-ops';
import { useTempDir } from '../helpers/tmp';

/**
 * The registry index is changed by pipeline steps and by people (mlops models …) at any time:
 * every change is a compare-and-swap (a lock file on a folder, If-Match on S3), so concurrent
 * changes all land and none overwrites another.
 */

const tmp = useTempDir();
let s3: EmbeddedS3;
let n = 0;
const stores: Record<string, () => BlobStore> = {
  folder: () => new DirectoryStore(tmp.file(`folder-${n++}`)),
  s3: () => new PrefixedStore(new S3BlobStore(s3.client, 'models'), `round-${n++}/`),
};
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models'] });
});

afterAll(async () => {
  await s3?.close();
});

describe.each(['folder', 's3'])('on a %s store', (kind) => {
  const fresh = (): BlobStore => stores[kind]!();

  it('replaces a key only while it holds the content that was read', async () => {
    const store = fresh();
    await store.write('index.json', 'first');
    const seen = (await store.readVersioned('index.json'))!;
    await store.write('index.json', 'by someone else');

    expect(await store.replace('index.json', 'mine', seen.version)).toBe(false);
    expect(text(await store.read('index.json'))).toBe('by someone else');
    const fresher = (await store.readVersioned('index.json'))!;
    expect(await store.replace('index.json', 'mine', fresher.version)).toBe(true);
    expect(text(await store.read('index.json'))).toBe('mine');
  });

  it('replaces an absent key only when told it is absent', async () => {
    const store = fresh();

    expect(await store.readVersioned('new.json')).toBeNull();
    expect(await store.replace('new.json', 'first', null)).toBe(true);
    expect(await store.replace('new.json', 'second', null)).toBe(false);
    expect(await store.list('')).toEqual(['new.json']);
  });

  it('keeps every one of many concurrent status changes of different versions', async () => {
    const models = new ModelRepository(fresh());
    const versions = Array.from({ length: 8 }, (_, i) => `1.${i}.0`);

    await Promise.all(versions.map((v) => setStatus(models, 'demo', v, 'candidate', `registered ${v}`)));

    expect((await models.registryOf('demo')).versions.map((v) => v.version)).toEqual(versions);
  });

  it('keeps a person\'s change made while a pipeline step changes the registry', async () => {
    const models = new ModelRepository(fresh());
    for (const v of ['1.0.0', '1.1.0', '1.2.0']) await models.store.write(`models/demo/${v}/manifest.json`, '{}');
    await promote(models, 'demo', '1.0.0', 'first');

    await Promise.all([
      setStatus(models, 'demo', '1.2.0', 'rejected', 'a person rejects 1.2.0'),
      startCanary(models, 'demo', '1.1.0', { weight: 0.1, runId: 'run-1' }),
    ]);

    const registry = await models.registryOf('demo');
    expect(registry.canary).toMatchObject({ version: '1.1.0', weight: 0.1 });
    expect(registry.versions.find((v) => v.version === '1.2.0')).toMatchObject({ status: 'rejected', note: 'a person rejects 1.2.0' });
    expect(registry.serving).toBe('1.0.0');
  });

  it('writes nothing when a transition is refused', async () => {
    const models = new ModelRepository(fresh());
    await models.store.write('models/demo/1.0.0/manifest.json', '{}');
    await setStatus(models, 'demo', '1.0.0', 'rejected', 'failed its gate');
    const before = await models.store.readVersioned('models/demo/registry.json');

    await expect(promote(models, 'demo', '1.0.0', 'try anyway')).rejects.toThrow('was rejected (failed its gate)');

    expect((await models.store.readVersioned('models/demo/registry.json'))?.version).toBe(before?.version);
  });
});
