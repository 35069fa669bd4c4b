import { createHash } from 'node:crypto';
import { BlobNotFoundError, type BlobStore } from './blob-store';
import {
  InvalidPackageError,
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  type ManifestInput,
  PackageFiles,
  parseManifest,
} from './manifest';

/** A verified model package: its manifest and the bytes of every file it lists. */
export interface ModelPackage {
  readonly manifest: Manifest;
  readonly location: string;
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** Lowercase hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Reads a package and verifies every listed file against the manifest's sha256, so a
 * tampered or truncated file is refused before it can serve a prediction.
 */
export async function loadPackage(store: BlobStore): Promise<ModelPackage> {
  const manifest = await readManifest(store);
  const files = new Map<string, Uint8Array>();
  for (const [name, entry] of Object.entries(manifest.files)) {
    const bytes = await readRequired(store, name);
    const actual = sha256Hex(bytes);
    if (actual !== entry.sha256) {
      throw new InvalidPackageError(name, `sha256 ${actual} does not match the manifest's ${entry.sha256}; the file was modified or corrupted`);
    }
    files.set(name, bytes);
  }
  return { manifest, location: store.describe(''), files };
}

/**
 * A package's manifest alone, validated, for readers that need no model file (the GPU path);
 * with `expected`, a manifest naming another model or version is refused.
 */
export async function readManifest(store: BlobStore, expected?: { readonly name: string; readonly version: string }): Promise<Manifest> {
  const manifestBytes = await readRequired(store, PackageFiles.manifest);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(manifestBytes));
  } catch (error) {
    throw new InvalidPackageError(PackageFiles.manifest, `not valid JSON (${(error as Error).message})`);
  }
  const manifest = parseManifest(json);
  if (expected && (manifest.name !== expected.name || manifest.version !== expected.version)) {
    throw new InvalidPackageError(PackageFiles.manifest, `names ${manifest.name}@${manifest.version} but lies under ${expected.name}/${expected.version}`);
  }
  return manifest;
}

/** Fields a writer supplies; the schema version and file hashes are filled in. */
export type ManifestDraft = Omit<ManifestInput, 'files' | 'schemaVersion'>;

/**
 * Writes the files, then the manifest that lists their hashes. The manifest goes last,
 * so a reader never sees a manifest whose files are not there yet.
 */
export async function writePackage(
  store: BlobStore,
  draft: ManifestDraft,
  contents: Record<string, Uint8Array | string>,
): Promise<ModelPackage> {
  const fileEntries: Manifest['files'] = {};
  const files = new Map<string, Uint8Array>();
  for (const [name, body] of Object.entries(contents)) {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    await store.write(name, bytes);
    fileEntries[name] = { sha256: sha256Hex(bytes), bytes: bytes.byteLength };
    files.set(name, bytes);
  }
  const manifest = parseManifest({ ...draft, schemaVersion: MANIFEST_SCHEMA_VERSION, files: fileEntries });
  await store.write(PackageFiles.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, location: store.describe(''), files };
}

/** Adds or replaces files in an existing package and rewrites its manifest. */
export async function updatePackage(
  store: BlobStore,
  pkg: ModelPackage,
  changes: { contents?: Record<string, Uint8Array | string>; manifest?: Partial<ManifestDraft> },
): Promise<ModelPackage> {
  const { files: _files, schemaVersion: _version, ...draft } = pkg.manifest;
  const contents: Record<string, Uint8Array | string> = Object.fromEntries(pkg.files);
  Object.assign(contents, changes.contents ?? {});
  return writePackage(store, { ...draft, ...changes.manifest }, contents);
}

/** Reads a file a package must have, as a JSON value. */
export function packageJson<T>(pkg: ModelPackage, name: string): T | undefined {
  const bytes = pkg.files.get(name);
  if (!bytes) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (error) {
    throw new InvalidPackageError(name, `not valid JSON (${(error as Error).message})`);
  }
}

async function readRequired(store: BlobStore, name: string): Promise<Uint8Array> {
  try {
    return await store.read(name);
  } catch (error) {
    if (error instanceof BlobNotFoundError) {
      throw new InvalidPackageError(name, `missing from the package at ${store.describe('')}`);
    }
    throw error;
  }
}
