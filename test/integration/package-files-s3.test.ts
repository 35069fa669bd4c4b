import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrefixedStore } from '../../core/model/blob-store';
import { InvalidPackageError } from '../../core/model/manifest';
import { loadPackage, type ManifestDraft, writePackage } from '../../core/model/model-package';
import { ModelRepository, PackageChangedError } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { registerVersion } from '../../model-pipeline/registry/registry-ops';
import { useTempDir } from '../helpers/tmp';

/**
 * The same checks as test/unit/package-files.test.ts, on packages in the (embedded) S3 the
 * Lambdas read: an object's size comes from its Content-Length, before its body is read.
 */

const tmp = useTempDir('mlops-package-s3-');
const Bucket = 'models';
let s3: EmbeddedS3;
let n = 0;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: [Bucket] });
});
afterAll(async () => {
  await s3?.close();
});

const draft: ManifestDraft = {
  name: 'demo',
  version: '1.0.0',
  task: 'binary',
  input: { tensor: 'features', features: [{ name: 'age', type: 'numeric' }] },
  output: { tensor: 'probabilities', kind: 'probabilities', classes: ['stays', 'churns'] },
  createdAt: '2026-11-23T10:00:00.000Z',
};
const contents = { 'model.onnx': new Uint8Array(4096).fill(5), 'baseline.json': '{}\n' };

/** A repository under a prefix of its own, holding demo 1.0.0. */
async function freshRepository(): Promise<{ models: ModelRepository; prefix: string }> {
  const prefix = `round-${++n}/`;
  const models = new ModelRepository(new PrefixedStore(new S3BlobStore(s3.client, Bucket), prefix));
  await writePackage(models.packageStore('demo', '1.0.0'), draft, contents);
  return { models, prefix };
}

/** Reads, edits and puts back the package's manifest object. */
async function editManifest(prefix: string, edit: (manifest: Record<string, any>) => void): Promise<void> {
  const Key = `${prefix}models/demo/1.0.0/manifest.json`;
  const manifest = JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString()) as Record<string, any>;
  edit(manifest);
  await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: JSON.stringify(manifest, null, 2) }));
}

describe('a package on S3', () => {
  it('loads when untouched, with the digest it was written with', async () => {
    const { models } = await freshRepository();
    const written = await writePackage(models.packageStore('demo', '1.0.0'), draft, contents);

    const pkg = await loadPackage(models.packageStore('demo', '1.0.0'));

    expect(pkg.files.get('model.onnx')).toEqual(contents['model.onnx']);
    expect(pkg.digest).toBe(written.digest);
  });

  it('refuses an object over its size limit from its Content-Length, naming the file', async () => {
    const { models } = await freshRepository();

    const error = (await loadPackage(models.packageStore('demo', '1.0.0'), { limits: { modelBytes: 1024, otherBytes: 4096 } }).catch((e: unknown) => e)) as Error;

    expect(error).toBeInstanceOf(InvalidPackageError);
    expect(error.message).toBe('model.onnx: is 4096 bytes, over the limit of 1024 bytes for a model');
  });

  it('refuses a manifest entry that climbs out of the package prefix', async () => {
    // Prepare: an object elsewhere in the bucket that the entry points at
    const { models, prefix } = await freshRepository();
    await s3.client.send(new PutObjectCommand({ Bucket, Key: `${prefix}secret.txt`, Body: 'not part of any package' }));
    await editManifest(prefix, (m) => {
      m.files['../../../secret.txt'] = { sha256: 'a'.repeat(64), bytes: 23 };
    });

    // Act and assess
    await expect(loadPackage(models.packageStore('demo', '1.0.0'))).rejects.toThrow(
      'manifest.json: files: "../../../secret.txt" contains a path separator; a package holds plain file names',
    );
  });

  it('is refused, once registered, when output.classes was swapped in its manifest', async () => {
    const { models, prefix } = await freshRepository();
    await registerVersion(models, 'demo', '1.0.0', 'approved', 'passed its gate');
    await editManifest(prefix, (m) => {
      m.output.classes.reverse();
    });

    const error = (await models.load('demo', '1.0.0').catch((e: unknown) => e)) as Error;

    expect(error).toBeInstanceOf(PackageChangedError);
    expect(error.message).toMatch(/^model "demo" version 1\.0\.0: .*its manifest or a file changed since registration \(s3:\/\/models\/round-\d+\/models\/demo\/1\.0\.0\/\)$/);
  });
});
