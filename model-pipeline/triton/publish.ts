import { BlobNotFoundError, type BlobStore } from '../../core/model/blob-store';
import { PackageFiles } from '../../core/model/manifest';
import { type ModelPackage, readManifest, sha256Hex } from '../../core/model/model-package';
import type { ModelRepository } from '../../core/model/registry';
import { TRITON_ARTIFACT, tritonArtifactKey } from '../../core/layout';
import type { TritonServingOptions } from '../../core/triton-serving';
import { buildTritonArtifact, type TritonArtifact } from './artifact';

/** What {@link publishTritonArtifact} did. */
export interface PublishedArtifact {
  /** Key of the artifact in the repository: `models/<name>/<version>/triton/model.tar.gz`, where the GpuEndpoint construct points SageMaker. */
  readonly key: string;
  /** sha256 of model.tar.gz. */
  readonly sha256: string;
  readonly bytes: number;
  /** 'unchanged' when the same artifact (same sha256) was already there and nothing was written. */
  readonly artifact: 'uploaded' | 'unchanged';
  /** 'uploaded' when the package itself was not in the repository yet and was copied there first. */
  readonly package: 'uploaded' | 'present';
  readonly built: TritonArtifact;
}

/** Thrown when the repository holds another package under the same name and version. */
export class PackageConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackageConflictError';
  }
}

/**
 * Publishes a package version for the GPU endpoint: copies the package into the repository
 * (the model bucket) if it is not there yet, the manifest last, as writePackage does (the
 * endpoint proxy and the capture converter read that manifest), then builds its Triton
 * artifact and writes it next to the package, unless an artifact with the same sha256 is
 * already there. The archive is reproducible, so publishing the same package with the same
 * options again writes nothing. A different package under the same name and version is refused:
 * a version is immutable once an endpoint may serve it.
 */
export async function publishTritonArtifact(repository: ModelRepository, pkg: ModelPackage, options: TritonServingOptions = {}): Promise<PublishedArtifact> {
  const { name, version } = pkg.manifest;
  const store = repository.packageStore(name, version);
  const packageStatus = await ensurePackage(store, pkg);

  const built = buildTritonArtifact(pkg, options);
  const sha256 = sha256Hex(built.bytes);
  const existing = await readOptional(store, TRITON_ARTIFACT);
  const unchanged = existing !== undefined && sha256Hex(existing) === sha256;
  if (!unchanged) await store.write(TRITON_ARTIFACT, built.bytes);
  return { key: tritonArtifactKey(name, version), sha256, bytes: built.bytes.length, artifact: unchanged ? 'unchanged' : 'uploaded', package: packageStatus, built };
}

async function ensurePackage(store: BlobStore, pkg: ModelPackage): Promise<'uploaded' | 'present'> {
  const { name, version } = pkg.manifest;
  if ((await readOptional(store, PackageFiles.manifest)) !== undefined) {
    const present = await readManifest(store, { name, version });
    const differs = Object.entries(pkg.manifest.files).filter(([file, entry]) => present.files[file]?.sha256 !== entry.sha256);
    if (differs.length || Object.keys(present.files).length !== Object.keys(pkg.manifest.files).length) {
      throw new PackageConflictError(
        `${store.describe('')} already holds another ${name}@${version} (${differs.map(([file]) => file).join(', ') || 'other files'} differ); ` +
          'publish a new version instead of replacing one an endpoint may serve',
      );
    }
    return 'present';
  }
  for (const [file, bytes] of pkg.files) await store.write(file, bytes);
  await store.write(PackageFiles.manifest, `${JSON.stringify(pkg.manifest, null, 2)}\n`);
  return 'uploaded';
}

async function readOptional(store: BlobStore, key: string): Promise<Uint8Array | undefined> {
  try {
    return await store.read(key);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return undefined;
    throw error;
  }
}
