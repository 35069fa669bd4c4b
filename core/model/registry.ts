import { z } from 'zod';
import { ModelLayout } from '../layout';
import { BlobNotFoundError, type BlobStore, PrefixedStore } from './blob-store';
import { InvalidPackageError } from './manifest';
import { loadPackage, type ModelPackage, type PackageReadOptions } from './model-package';

/** Lifecycle of a model version in the registry. */
export const VersionStatusSchema = z.enum(['candidate', 'approved', 'canary', 'serving', 'retired', 'rejected']);

/** A version serving a share of the requests that name no version, beside the serving one. */
export const CanarySchema = z.object({
  version: z.string(),
  /** Share of the requests that name no version routed to the canary, 0–1. */
  weight: z.number().min(0).max(1),
  startedAt: z.iso.datetime(),
  /** When the canary's observation window ends: the pipeline decides by then at the latest. */
  until: z.iso.datetime().optional(),
  /** The pipeline run that started it, if any. */
  runId: z.string().optional(),
});

export const RegistrySchema = z.object({
  name: z.string(),
  /** The version the API serves when a request names none. */
  serving: z.string().nullable(),
  versions: z.array(
    z.object({
      version: z.string(),
      status: VersionStatusSchema,
      createdAt: z.iso.datetime(),
      /** Why the status last changed (gate results, rollback reason, …). */
      note: z.string().optional(),
      /** The pipeline run that produced it, if any. */
      runId: z.string().optional(),
      /**
       * The package digest (see packageDigest in model-package.ts) recorded when the version was
       * registered; loading refuses a package whose digest differs. Versions registered before
       * digests existed have none and load as before, checked against their manifest's file hashes only.
       */
      digest: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256').optional(),
    }),
  ),
  /** Versions that served before the current one, most recent last: what rollback returns to. */
  history: z.array(z.string()).default([]),
  /** The running canary, if any; registries written before canaries existed have none. */
  canary: CanarySchema.nullable().default(null),
});

export type Registry = z.infer<typeof RegistrySchema>;
export type RegistryInput = z.input<typeof RegistrySchema>;
export type VersionStatus = z.infer<typeof VersionStatusSchema>;
export type Canary = z.infer<typeof CanarySchema>;

/** Where requests that name no version go: the serving version, and a share of them to a canary. */
export interface Routing {
  readonly serving: string;
  readonly canary: { readonly version: string; readonly weight: number } | null;
}

/**
 * Raised when a registered version's package no longer has the digest recorded at registration:
 * its manifest or a file was changed afterwards (by hand, by a tool, or by an attacker).
 */
export class PackageChangedError extends InvalidPackageError {
  constructor(
    readonly model: string,
    readonly version: string,
    location: string,
  ) {
    // No single file is to blame, so the version stands where InvalidPackageError names a file.
    super(
      `model "${model}" version ${version}`,
      `the package digest differs from the one recorded when the version was registered; its manifest or a file changed since registration (${location})`,
    );
    this.name = 'PackageChangedError';
  }
}

/** Raised when a model or version does not exist; the API maps it to 404. */
export class ModelNotFoundError extends Error {
  constructor(
    readonly model: string,
    readonly version?: string,
  ) {
    super(version ? `model "${model}" has no version "${version}"` : `model "${model}" is not deployed`);
    this.name = 'ModelNotFoundError';
  }
}

const SEMVER = /^(\d+)\.(\d+)\.(\d+)/;

/** Compares semantic versions numerically (1.10.0 > 1.9.0). */
export function compareVersions(a: string, b: string): number {
  const pa = SEMVER.exec(a)?.slice(1).map(Number) ?? [0, 0, 0];
  const pb = SEMVER.exec(b)?.slice(1).map(Number) ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return a.localeCompare(b);
}

/** Where the engine finds packages: the registry in a store, or a fixed set of packages. */
export interface ModelSource {
  listModels(): Promise<string[]>;
  listVersions(name: string): Promise<string[]>;
  servingVersion(name: string): Promise<string>;
  /** The serving version and the canary, if the source has canaries. @default - the serving version alone */
  routing?(name: string): Promise<Routing>;
  load(name: string, version: string): Promise<ModelPackage>;
}

/** Packages given up front (e.g. `mlops serve ./pkg`); the newest version of each name serves. */
export class StaticModelSource implements ModelSource {
  constructor(private readonly packages: readonly ModelPackage[]) {}

  async listModels(): Promise<string[]> {
    return [...new Set(this.packages.map((p) => p.manifest.name))].sort();
  }

  async listVersions(name: string): Promise<string[]> {
    return this.packages.filter((p) => p.manifest.name === name).map((p) => p.manifest.version).sort(compareVersions);
  }

  async servingVersion(name: string): Promise<string> {
    const versions = await this.listVersions(name);
    if (!versions.length) throw new ModelNotFoundError(name);
    return versions[versions.length - 1]!;
  }

  async load(name: string, version: string): Promise<ModelPackage> {
    const pkg = this.packages.find((p) => p.manifest.name === name && p.manifest.version === version);
    if (!pkg) throw new ModelNotFoundError(name, (await this.listVersions(name)).length ? version : undefined);
    return pkg;
  }
}

/** Attempts of {@link ModelRepository.updateRegistry} before it gives up on a registry that keeps changing. */
const REGISTRY_UPDATE_ATTEMPTS = 20;

function emptyRegistry(name: string): Registry {
  return { name, serving: null, versions: [], history: [], canary: null };
}

function serializeRegistry(registry: RegistryInput): string {
  return `${JSON.stringify(RegistrySchema.parse(registry), null, 2)}\n`;
}

/**
 * Model packages in a store laid out as `models/<name>/<version>/…` with a registry index
 * per model. The same code reads a local folder and the model bucket.
 */
export class ModelRepository implements ModelSource {
  constructor(
    readonly store: BlobStore,
    private readonly options: PackageReadOptions = {},
  ) {}

  /** Names of the models with at least one package. */
  async listModels(): Promise<string[]> {
    const keys = await this.store.list(ModelLayout.root);
    const names = keys.map((k) => k.slice(ModelLayout.root.length).split('/')[0]!).filter(Boolean);
    return [...new Set(names)].sort();
  }

  /** Versions of a model that have a manifest, oldest first. */
  async listVersions(name: string): Promise<string[]> {
    const prefix = ModelLayout.model(name);
    const keys = await this.store.list(prefix);
    const versions = keys.filter((k) => k.endsWith('/manifest.json')).map((k) => k.slice(prefix.length).split('/')[0]!);
    return [...new Set(versions)].sort(compareVersions);
  }

  /** The registry index, or null when the model has none yet. */
  async readRegistry(name: string): Promise<Registry | null> {
    let bytes: Uint8Array;
    try {
      bytes = await this.store.read(ModelLayout.registry(name));
    } catch (error) {
      if (error instanceof BlobNotFoundError) return null;
      throw error;
    }
    return this.parseRegistry(name, bytes);
  }

  /** The registry index, or an empty one for a model that has none yet. */
  async registryOf(name: string): Promise<Registry> {
    return (await this.readRegistry(name)) ?? emptyRegistry(name);
  }

  /**
   * Changes the registry index without losing a concurrent change: `change` gets the index as it
   * is and returns the new one (or the same object for no change); the write succeeds only if
   * nobody wrote in between, else `change` runs again on the fresh index. An error thrown by
   * `change` (a refused transition) ends it with nothing written.
   */
  async updateRegistry(name: string, change: (registry: Registry) => Registry | Promise<Registry>): Promise<Registry> {
    const key = ModelLayout.registry(name);
    for (let attempt = 1; attempt <= REGISTRY_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.store.readVersioned(key);
      const registry = current ? this.parseRegistry(name, current.body) : emptyRegistry(name);
      const updated = await change(registry);
      if (updated === registry) return registry;
      if (await this.store.replace(key, serializeRegistry(updated), current?.version ?? null)) return updated;
      // Someone else changed it: back off a little, with jitter so two writers do not collide again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
    throw new Error(`${this.store.describe(key)} kept changing during ${REGISTRY_UPDATE_ATTEMPTS} attempts to update it`);
  }

  async writeRegistry(registry: RegistryInput): Promise<void> {
    await this.store.write(ModelLayout.registry(registry.name), serializeRegistry(registry));
  }

  private parseRegistry(name: string, bytes: Uint8Array): Registry {
    try {
      return RegistrySchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
    } catch (error) {
      throw new Error(`${this.store.describe(ModelLayout.registry(name))}: ${(error as Error).message}`);
    }
  }

  /** The version requests without a version get: the registry's serving version, else the newest package. */
  async servingVersion(name: string): Promise<string> {
    const registry = await this.readRegistry(name);
    if (registry?.serving) return registry.serving;
    const versions = await this.listVersions(name);
    const newest = versions[versions.length - 1];
    if (!newest) throw new ModelNotFoundError(name);
    return newest;
  }

  /** The serving version and the running canary. */
  async routing(name: string): Promise<Routing> {
    const registry = await this.readRegistry(name);
    const serving = registry?.serving ?? (await this.servingVersion(name));
    const canary = registry?.canary && registry.canary.version !== serving ? { version: registry.canary.version, weight: registry.canary.weight } : null;
    return { serving, canary };
  }

  /** A package store for one version (to write a new package into). */
  packageStore(name: string, version: string): BlobStore {
    return new PrefixedStore(this.store, ModelLayout.package(name, version));
  }

  /**
   * Loads and verifies one version's package: every file against the manifest's hashes, and the
   * whole package against the digest the registry recorded when the version was registered
   * (a version registered before digests existed has none and is not refused for it).
   */
  async load(name: string, version: string): Promise<ModelPackage> {
    const [versions, registry] = await Promise.all([this.listVersions(name), this.readRegistry(name)]);
    if (!versions.includes(version)) {
      if (versions.length === 0) throw new ModelNotFoundError(name);
      throw new ModelNotFoundError(name, version);
    }
    const pkg = await loadPackage(this.packageStore(name, version), this.options);
    const recorded = registry?.versions.find((v) => v.version === version)?.digest;
    if (recorded !== undefined && pkg.digest !== recorded) throw new PackageChangedError(name, version, pkg.location);
    return pkg;
  }

  /**
   * The digest of a version's package as it is now, its files verified against its manifest:
   * what registering the version records. Not checked against a digest recorded before, since
   * registering again (after the pipeline quantized the version, say) replaces it.
   */
  async digestOf(name: string, version: string): Promise<string> {
    const pkg = await loadPackage(this.packageStore(name, version), this.options);
    return pkg.digest!;
  }
}
