import type { Manifest } from '../../core/model/manifest';
import { readManifest } from '../../core/model/model-package';
import type { ModelRepository } from '../../core/model/registry';

/**
 * Manifests of fixed package versions (the ones GPU endpoints serve), read once per container
 * and verified to name the model and version they lie under. A failed read is not kept: the
 * next call tries again.
 */
export class ManifestCache {
  private readonly manifests = new Map<string, Promise<Manifest>>();

  constructor(private readonly repository: ModelRepository) {}

  get(name: string, version: string): Promise<Manifest> {
    const key = `${name}@${version}`;
    let manifest = this.manifests.get(key);
    if (!manifest) {
      manifest = readManifest(this.repository.packageStore(name, version), { name, version });
      this.manifests.set(key, manifest);
      manifest.catch(() => this.manifests.delete(key));
    }
    return manifest;
  }
}
