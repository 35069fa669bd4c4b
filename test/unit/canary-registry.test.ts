import { beforeEach, describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { InferenceEngine, routingPoint } from '../../core/model/engine';
import { ModelRepository, RegistrySchema } from '../../core/model/registry';
import { Random } from '../../core/random';
import { abortCanary, promote, promoteCanary, rollback, startCanary } from '../../model-pipeline/registry/registry-ops';
import { makeTempDir } from '../helpers/tmp';

/** Registry transitions of a canary and the engine's routing, on a folder repository with versions 1.0.0–1.2.0 (manifests only: nothing is loaded). */

let models: ModelRepository;

beforeEach(async () => {
  models = new ModelRepository(new DirectoryStore(await makeTempDir()));
  for (const version of ['1.0.0', '1.1.0', '1.2.0']) await models.store.write(`models/demo/${version}/manifest.json`, '{}');
  await promote(models, 'demo', '1.0.0', 'first');
});

describe('the registry schema', () => {
  it('reads a registry written before canaries existed, with no canary', () => {
    const registry = RegistrySchema.parse({ name: 'demo', serving: '1.0.0', versions: [], history: [] });

    expect(registry.canary).toBeNull();
  });
});

describe('startCanary', () => {
  it('records the canary with its weight and window, and marks the version canary; the serving version stays', async () => {
    const until = new Date(Date.now() + 60_000);
    const registry = await startCanary(models, 'demo', '1.1.0', { weight: 0.1, until, runId: 'run-1' });

    expect(registry.serving).toBe('1.0.0');
    expect(registry.canary).toMatchObject({ version: '1.1.0', weight: 0.1, until: until.toISOString(), runId: 'run-1' });
    expect(registry.versions.find((v) => v.version === '1.1.0')).toMatchObject({ status: 'canary', note: expect.stringMatching(/^canary: 10% of requests until /) });
    expect((await models.registryOf('demo')).canary?.version).toBe('1.1.0');
  });

  it('changes nothing when the same canary is started again', async () => {
    const first = await startCanary(models, 'demo', '1.1.0', { weight: 0.1 });

    expect(await startCanary(models, 'demo', '1.1.0', { weight: 0.5 })).toEqual(first);
  });

  it('refuses a second canary while one runs', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 0.1 });

    await expect(startCanary(models, 'demo', '1.2.0', { weight: 0.1 })).rejects.toThrow(/a canary of "demo" \(1\.1\.0\) is already running/);
  });

  it('refuses a weight outside 0–1, showing it', async () => {
    await expect(startCanary(models, 'demo', '1.1.0', { weight: 1.5 })).rejects.toThrow(/between 0 and 1 \(received 1\.5\)/);
  });

  it('refuses a rejected version', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 0.1 });
    await abortCanary(models, 'demo', 'errors');

    await expect(startCanary(models, 'demo', '1.1.0', { weight: 0.1 })).rejects.toThrow(/was rejected \(canary rolled back: errors\)/);
  });
});

describe('promoteCanary', () => {
  it('makes the canary serve, retires the previous version, keeps it for rollback and ends the canary', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 0.1 });
    const registry = await promoteCanary(models, 'demo', 'healthy');

    expect(registry).toMatchObject({ serving: '1.1.0', canary: null, history: ['1.0.0'] });
    expect(registry.versions.map((v) => [v.version, v.status])).toEqual([['1.0.0', 'retired'], ['1.1.0', 'serving']]);
  });

  it('is what promote does when it names the canary; promote of another version is refused while it runs', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 0.1 });

    await expect(promote(models, 'demo', '1.2.0', 'by hand')).rejects.toThrow(/a canary of "demo" \(1\.1\.0\) is running/);
    expect((await promote(models, 'demo', '1.1.0', 'by hand')).canary).toBeNull();
  });
});

describe('abortCanary and rollback', () => {
  it('ends the canary, leaves the serving version and history untouched, and records why on the canary version', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 0.1 });
    const registry = await abortCanary(models, 'demo', 'error rate 5%');

    expect(registry).toMatchObject({ serving: '1.0.0', canary: null, history: [] });
    expect(registry.versions.find((v) => v.version === '1.1.0')).toMatchObject({ status: 'rejected', note: 'canary rolled back: error rate 5%' });
  });

  it('rollback aborts a running canary first, instead of leaving the serving version', async () => {
    await promote(models, 'demo', '1.1.0', 'second');
    await startCanary(models, 'demo', '1.2.0', { weight: 0.1 });
    const registry = await rollback(models, 'demo', 'by hand');

    expect(registry).toMatchObject({ serving: '1.1.0', canary: null });
    expect(registry.versions.find((v) => v.version === '1.2.0')?.status).toBe('rejected');
  });
});

describe('InferenceEngine routing', () => {
  const share = (versions: string[], version: string) => versions.filter((v) => v === version).length / versions.length;

  it('sends requests that name no version to the serving version when no canary runs', async () => {
    const engine = new InferenceEngine(models, { servingTtlMs: 0 });

    expect(await engine.resolve('demo', 'any-request')).toBe('1.0.0');
  });

  it('sends a share of requests close to the weight to the canary, by request id (within 5 standard deviations over 20,000 ids)', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 0.1 });
    const engine = new InferenceEngine(models);
    const versions = await Promise.all(Array.from({ length: 20_000 }, (_, i) => engine.resolve('demo', `request-${i}`)));

    expect(Math.abs(share(versions, '1.1.0') - 0.1)).toBeLessThan(5 * Math.sqrt((0.1 * 0.9) / 20_000));
    expect(new Set(versions)).toEqual(new Set(['1.0.0', '1.1.0']));
  });

  it('sends the same request id to the same version every time', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 0.5 });
    const engine = new InferenceEngine(models);
    const first = await Promise.all(Array.from({ length: 100 }, (_, i) => engine.resolve('demo', `id-${i}`)));
    const again = await Promise.all(Array.from({ length: 100 }, (_, i) => engine.resolve('demo', `id-${i}`)));

    expect(again).toEqual(first);
    expect(first.map((v) => v === '1.1.0')).toEqual(first.map((_, i) => routingPoint(`id-${i}`) < 0.5));
  });

  it('draws from the injected generator for requests without an id', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 0.25 });
    const random = new Random(7);
    const engine = new InferenceEngine(models, { random: () => random.next() });
    const versions = await Promise.all(Array.from({ length: 20_000 }, () => engine.resolve('demo')));

    expect(Math.abs(share(versions, '1.1.0') - 0.25)).toBeLessThan(5 * Math.sqrt((0.25 * 0.75) / 20_000));
  });

  it('leaves requests that name a version alone, and reports a failed load with the version that failed', async () => {
    await startCanary(models, 'demo', '1.1.0', { weight: 1 });
    const failed: string[] = [];
    const engine = new InferenceEngine(models, { onVersionError: ({ version }) => failed.push(version) });

    // These manifests are '{}': loading fails, and says which version was tried.
    await expect(engine.model('demo', '1.2.0', { requestId: 'x' })).rejects.toThrow();
    await expect(engine.model('demo', undefined, { requestId: 'x' })).rejects.toThrow();
    expect(failed).toEqual(['1.2.0', '1.1.0']);
  });
});
