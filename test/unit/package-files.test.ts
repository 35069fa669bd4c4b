import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { InvalidPackageError, type PackageLimits } from '../../core/model/manifest';
import { loadPackage, type ManifestDraft, packageDigest, readManifest, sha256Hex, writePackage } from '../../core/model/model-package';
import { useTempDir } from '../helpers/tmp';

/**
 * Package readers check each file before they read it: a plain name inside the package, a
 * regular file (no link, device or folder), no larger than its limit. These tests use a folder;
 * test/integration/package-files-s3.test.ts reads the same packages from S3.
 */

const tmp = useTempDir('mlops-package-files-');
let n = 0;

const draft: ManifestDraft = {
  name: 'demo',
  version: '1.0.0',
  task: 'binary',
  input: { tensor: 'features', features: [{ name: 'age', type: 'numeric' }] },
  output: { tensor: 'probabilities', kind: 'probabilities', classes: ['no', 'yes'] },
  createdAt: '2026-11-23T10:00:00.000Z',
};
/** The baseline is 1,500 bytes, the manifest under 1,024: limits between the two refuse the baseline alone. */
const contents = { 'model.onnx': new Uint8Array(256).fill(7), 'baseline.json': `{"rows":1,"pad":"${'x'.repeat(1500 - 20)}"}\n` };

/** A package folder of its own, written the way writers write it. */
async function freshPackage(): Promise<string> {
  const dir = tmp.file(`pkg-${++n}`);
  await writePackage(new DirectoryStore(dir), draft, contents);
  return dir;
}

/** Rewrites the manifest of a package folder. */
async function editManifest(dir: string, edit: (manifest: Record<string, any>) => void): Promise<void> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Record<string, any>;
  edit(manifest);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

describe('a folder package', () => {
  it('loads when untouched', async () => {
    const pkg = await loadPackage(new DirectoryStore(await freshPackage()));

    expect([...pkg.files.keys()].sort()).toEqual(['baseline.json', 'model.onnx']);
  });

  it('refuses a manifest entry that climbs out of the package, without reading or hashing the file it names', async () => {
    // Prepare: a real file outside the package, listed with a wrong hash
    const dir = await freshPackage();
    const outside = tmp.file(`outside-${n}.txt`);
    await writeFile(outside, 'a secret outside the package\n');
    await editManifest(dir, (m) => {
      m.files[`../outside-${n}.txt`] = { sha256: 'a'.repeat(64), bytes: 29 };
    });

    // Act
    const error = (await loadPackage(new DirectoryStore(dir)).catch((e: unknown) => e)) as Error;

    // Assess
    expect(error).toBeInstanceOf(InvalidPackageError);
    expect(error.message).toBe(`manifest.json: files: "../outside-${n}.txt" contains a path separator; a package holds plain file names`);
    expect(error.message).not.toContain(sha256Hex(await readFile(outside)));
  });

  it('refuses a file that is a symbolic link to /dev/zero at once, reading nothing of it', async () => {
    // Prepare
    const dir = await freshPackage();
    await rm(join(dir, 'baseline.json'));
    await symlink('/dev/zero', join(dir, 'baseline.json'));
    const before = process.memoryUsage().arrayBuffers;
    const started = performance.now();

    // Act
    const error = (await loadPackage(new DirectoryStore(dir)).catch((e: unknown) => e)) as Error;

    // Assess
    expect(performance.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 ** 2);
    expect(error).toBeInstanceOf(InvalidPackageError);
    expect(error.message).toBe('baseline.json: is a symbolic link, not a regular file; a package holds only regular files');
  });

  it('refuses a symbolic link to a regular file inside the package too', async () => {
    const dir = await freshPackage();
    await writeFile(join(dir, 'copy.json'), await readFile(join(dir, 'baseline.json')));
    await rm(join(dir, 'baseline.json'));
    await symlink(join(dir, 'copy.json'), join(dir, 'baseline.json'));

    await expect(loadPackage(new DirectoryStore(dir))).rejects.toThrow(/^baseline\.json: is a symbolic link, not a regular file/);
  });

  it('refuses a manifest.json that is a symbolic link', async () => {
    const dir = await freshPackage();
    await writeFile(join(dir, 'real-manifest.json'), await readFile(join(dir, 'manifest.json')));
    await rm(join(dir, 'manifest.json'));
    await symlink('real-manifest.json', join(dir, 'manifest.json'));

    await expect(readManifest(new DirectoryStore(dir))).rejects.toThrow(/^manifest\.json: is a symbolic link, not a regular file/);
  });

  it('refuses a file that is a folder', async () => {
    const dir = await freshPackage();
    await rm(join(dir, 'baseline.json'));
    await mkdir(join(dir, 'baseline.json'));

    await expect(loadPackage(new DirectoryStore(dir))).rejects.toThrow(/^baseline\.json: is a folder, not a regular file/);
  });

  it('refuses a file over its size limit, naming the file, its size and the limit', async () => {
    const limits: PackageLimits = { modelBytes: 1024, otherBytes: 1024 };

    const error = (await loadPackage(new DirectoryStore(await freshPackage()), { limits }).catch((e: unknown) => e)) as Error;

    expect(error).toBeInstanceOf(InvalidPackageError);
    expect(error.message).toBe('baseline.json: is 1500 bytes, over the limit of 1024 bytes for a package file other than a model');
  });

  it('refuses a model over the model limit, which is separate from the other files\' limit', async () => {
    const limits: PackageLimits = { modelBytes: 255, otherBytes: 2048 };

    await expect(loadPackage(new DirectoryStore(await freshPackage()), { limits })).rejects.toThrow('model.onnx: is 256 bytes, over the limit of 255 bytes for a model');
  });

  it('refuses a manifest over its limit before parsing it', async () => {
    const dir = await freshPackage();
    await writeFile(join(dir, 'manifest.json'), ' '.repeat(100));

    await expect(readManifest(new DirectoryStore(dir), undefined, { limits: { modelBytes: 1024, otherBytes: 64 } })).rejects.toThrow(/^manifest\.json: is 100 bytes, over the limit of 64 bytes/);
  });
});

describe('the package digest', () => {
  it('is the sha256 of sha256sum-style lines: a header, the manifest, then the files by name', async () => {
    // Prepare
    const dir = await freshPackage();
    const [manifest, model, baseline] = await Promise.all(['manifest.json', 'model.onnx', 'baseline.json'].map((f) => readFile(join(dir, f))));
    const text = `mlops-package-digest v1\n${sha256Hex(manifest!)}  manifest.json\n${sha256Hex(baseline!)}  baseline.json\n${sha256Hex(model!)}  model.onnx\n`;

    // Act
    const pkg = await loadPackage(new DirectoryStore(dir));

    // Assess
    expect(pkg.digest).toBe(sha256Hex(text));
  });

  it('is the same for the package as written and as read back', async () => {
    const written = await writePackage(new DirectoryStore(tmp.file(`pkg-${++n}`)), draft, contents);

    expect((await loadPackage(new DirectoryStore(tmp.file(`pkg-${n}`)))).digest).toBe(written.digest);
  });

  it('changes with any byte of the manifest, though no file hash covers it', () => {
    const files = new Map([['model.onnx', 'b'.repeat(64)]]);

    expect(packageDigest(new TextEncoder().encode('{"a":1}'), files)).not.toBe(packageDigest(new TextEncoder().encode('{"a":2}'), files));
  });

  it('does not depend on the order the files are listed in', () => {
    const manifest = new TextEncoder().encode('{}');
    const a = new Map([['model.onnx', '1'.repeat(64)], ['baseline.json', '2'.repeat(64)]]);
    const b = new Map([['baseline.json', '2'.repeat(64)], ['model.onnx', '1'.repeat(64)]]);

    expect(packageDigest(manifest, a)).toBe(packageDigest(manifest, b));
  });
});
