import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { InferenceEngine } from '../../core/model/engine';
import { InvalidPackageError } from '../../core/model/manifest';
import { loadPackage, type ManifestDraft, writePackage } from '../../core/model/model-package';
import { ModelRepository, PackageChangedError } from '../../core/model/registry';
import { PipelineStateSchema } from '../../model-pipeline/pipeline/state';
import { type PipelineContext, register } from '../../model-pipeline/pipeline/steps';
import { promote, registerVersion, setStatus } from '../../model-pipeline/registry/registry-ops';
import { useTempDir } from '../helpers/tmp';

/**
 * Registering a version records its package digest; loading a registered version recomputes it
 * and refuses a package that changed since, even where no file hash would notice (the manifest).
 */

const tmp = useTempDir('mlops-registry-digest-');
let n = 0;

const draft: ManifestDraft = {
  name: 'demo',
  version: '1.0.0',
  task: 'binary',
  input: { tensor: 'features', features: [{ name: 'age', type: 'numeric' }] },
  output: { tensor: 'probabilities', kind: 'probabilities', classes: ['stays', 'churns'] },
  createdAt: '2026-11-23T10:00:00.000Z',
};

/** A repository folder of its own holding demo 1.0.0 (a stand-in model: loading verifies bytes, it does not run them). */
async function freshRepository(): Promise<{ models: ModelRepository; root: string }> {
  const root = tmp.file(`repo-${++n}`);
  const models = new ModelRepository(new DirectoryStore(root));
  await writePackage(models.packageStore('demo', '1.0.0'), draft, { 'model.onnx': new Uint8Array(64).fill(3), 'baseline.json': '{}\n' });
  return { models, root };
}

/** Swaps the two class labels in the stored manifest: every prediction's label would be inverted. */
async function swapClasses(root: string): Promise<void> {
  const path = `${root}/models/demo/1.0.0/manifest.json`;
  const manifest = JSON.parse(await readFile(path, 'utf8')) as { output: { classes: string[] } };
  manifest.output.classes.reverse();
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
}

describe('a registered version', () => {
  it('records the digest of its package as it is', async () => {
    const { models } = await freshRepository();

    const registry = await registerVersion(models, 'demo', '1.0.0', 'approved', 'passed its gate');

    const digest = (await loadPackage(models.packageStore('demo', '1.0.0'))).digest;
    expect(registry.versions).toEqual([expect.objectContaining({ version: '1.0.0', status: 'approved', digest })]);
  });

  it('loads while its package is unchanged', async () => {
    const { models } = await freshRepository();
    await registerVersion(models, 'demo', '1.0.0', 'approved', 'passed its gate');

    const pkg = await models.load('demo', '1.0.0');

    expect(pkg.manifest.output.classes).toEqual(['stays', 'churns']);
  });

  it('is refused when output.classes was swapped in its manifest, naming the version', async () => {
    // Prepare
    const { models, root } = await freshRepository();
    await registerVersion(models, 'demo', '1.0.0', 'approved', 'passed its gate');
    await swapClasses(root);

    // Act
    const error = (await models.load('demo', '1.0.0').catch((e: unknown) => e)) as Error;

    // Assess
    expect(error).toBeInstanceOf(PackageChangedError);
    expect(error).toBeInstanceOf(InvalidPackageError);
    expect(error.message).toMatch(/^model "demo" version 1\.0\.0: the package digest differs from the one recorded when the version was registered; its manifest or a file changed since registration/);
  });

  it('is refused by the inference engine when its manifest changed', async () => {
    const { models, root } = await freshRepository();
    await registerVersion(models, 'demo', '1.0.0', 'approved', 'passed its gate');
    await promote(models, 'demo', '1.0.0', 'serves');
    await swapClasses(root);
    const engine = new InferenceEngine(models, { batching: false });

    await expect(engine.model('demo')).rejects.toThrow(/^model "demo" version 1\.0\.0: .*changed since registration/);
  });

  it('keeps its digest through later status changes, so a promoted version is still checked', async () => {
    // Prepare
    const { models, root } = await freshRepository();
    await registerVersion(models, 'demo', '1.0.0', 'approved', 'passed its gate');
    const { digest } = (await models.registryOf('demo')).versions[0]!;

    // Act
    await setStatus(models, 'demo', '1.0.0', 'approved', 'looked at by a person');
    await promote(models, 'demo', '1.0.0', 'serves');
    await swapClasses(root);

    // Assess
    expect((await models.registryOf('demo')).versions[0]).toMatchObject({ status: 'serving', digest });
    await expect(models.load('demo', '1.0.0')).rejects.toThrow(PackageChangedError);
  });

  it('gets its digest from the pipeline\'s register step, over the package as the gate judged it', async () => {
    // Prepare: a run whose candidate 1.0.0 passed its gate
    const { models } = await freshRepository();
    const ctx: PipelineContext = { models, data: models.store, workDir: tmp.path, notify: async () => {} };
    const state = PipelineStateSchema.parse({
      runId: 'run-1',
      model: 'demo',
      trigger: { kind: 'manual', reason: 'test' },
      startedAt: '2026-11-23T10:00:00.000Z',
      servingVersion: '0.9.0',
      candidateVersion: '1.0.0',
      gate: { passed: true, reasons: [] },
    });

    // Act
    await register(ctx, state);

    // Assess
    const digest = (await loadPackage(models.packageStore('demo', '1.0.0'))).digest;
    expect((await models.registryOf('demo')).versions).toEqual([expect.objectContaining({ version: '1.0.0', status: 'approved', runId: 'run-1', digest })]);
  });

  it('cannot be registered while a file does not match its manifest', async () => {
    const { models, root } = await freshRepository();
    await writeFile(`${root}/models/demo/1.0.0/baseline.json`, '{"changed":true}\n');

    await expect(registerVersion(models, 'demo', '1.0.0', 'approved', 'passed its gate')).rejects.toThrow(/^baseline\.json: sha256 /);
    expect(await models.readRegistry('demo')).toBeNull();
  });
});

describe('a version registered before digests existed', () => {
  it('still loads: its registry entry has no digest', async () => {
    // Prepare: a registry file as earlier releases wrote it
    const { models, root } = await freshRepository();
    const legacy = { name: 'demo', serving: '1.0.0', versions: [{ version: '1.0.0', status: 'serving', createdAt: '2026-01-01T00:00:00.000Z', note: 'bootstrapped' }], history: [] };
    await writeFile(`${root}/models/demo/registry.json`, `${JSON.stringify(legacy, null, 2)}\n`);

    // Act
    const pkg = await models.load('demo', '1.0.0');

    // Assess
    expect(pkg.manifest.version).toBe('1.0.0');
    expect((await models.registryOf('demo')).versions[0]!.digest).toBeUndefined();
  });

  it('still loads when it is not in the registry at all', async () => {
    const { models } = await freshRepository();

    await expect(models.load('demo', '1.0.0')).resolves.toMatchObject({ manifest: { name: 'demo', version: '1.0.0' } });
  });
});

describe('a version first listed by promote', () => {
  it('gets the digest of its package, so an edit after promotion is refused', async () => {
    const { models, root } = await freshRepository();

    const registry = await promote(models, 'demo', '1.0.0', 'promoted by hand');
    await swapClasses(root);

    expect(registry.versions[0]!.digest).toMatch(/^[0-9a-f]{64}$/);
    await expect(models.load('demo', '1.0.0')).rejects.toBeInstanceOf(PackageChangedError);
  });
});
