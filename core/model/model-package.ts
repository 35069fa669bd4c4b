import { createHash } from 'node:crypto';
import { type BlobInfo, BlobNotFoundError, type BlobStore } from './blob-store';
import {
  DEFAULT_PACKAGE_LIMITS,
  fileNameProblem,
  InvalidPackageError,
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  type ManifestInput,
  maxFileBytes,
  PackageFiles,
  type PackageLimits,
  parseManifest,
  quoteValue,
} from './manifest';

/** A verified model package: its manifest and the bytes of every file it lists. */
export interface ModelPackage {
  readonly manifest: Manifest;
  readonly location: string;
  readonly files: ReadonlyMap<string, Uint8Array>;
  /**
   * The package digest (see {@link packageDigest}) of what was read or written.
   * @default - none: a package assembled in memory (tests, benchmarks) was never in a store
   */
  readonly digest?: string;
}

/** How packages are read. */
export interface PackageReadOptions {
  /** Largest sizes of package files, checked before a file is read. @default DEFAULT_PACKAGE_LIMITS */
  readonly limits?: PackageLimits;
}

/** Lowercase hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** First line of the text the package digest hashes: names the definition, so a v2 can never collide with it. */
const DIGEST_HEADER = 'mlops-package-digest v1\n';

/**
 * The package digest: one sha256 that covers the manifest exactly as stored and every file
 * it lists, so that changing any byte of either (say, swapping `output.classes`, which no file
 * hash covers) changes it. Defined as
 *
 *   sha256( "mlops-package-digest v1\n"
 *         + "<sha256 of manifest.json's bytes>  manifest.json\n"
 *         + for each name in manifest.files, sorted by the bytes of its UTF-8 encoding:
 *             "<sha256 of the file's bytes>  <name>\n" )
 *
 * with every sha256 in lowercase hex and the text encoded as UTF-8; the lines are those
 * `sha256sum` prints. File names cannot hold a newline (see fileNameProblem), so the text has one
 * reading. Hashing the files' hashes rather than their concatenated bytes is as strong and lets a
 * reader reuse the hash it computes anyway to check each file against the manifest.
 *
 * `fileSha256` holds the hash of each file's bytes as read (not as the manifest claims).
 */
export function packageDigest(manifestBytes: Uint8Array, fileSha256: ReadonlyMap<string, string>): string {
  const utf8 = (name: string) => Buffer.from(name, 'utf8');
  const names = [...fileSha256.keys()].sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
  const lines = [`${sha256Hex(manifestBytes)}  ${PackageFiles.manifest}\n`, ...names.map((name) => `${fileSha256.get(name)}  ${name}\n`)];
  return sha256Hex(DIGEST_HEADER + lines.join(''));
}

/**
 * Reads a package and verifies every listed file against the manifest's sha256, so a
 * tampered or truncated file is refused before it can serve a prediction. Each file is
 * checked before it is read (see readPackageFile).
 */
export async function loadPackage(store: BlobStore, options: PackageReadOptions = {}): Promise<ModelPackage> {
  const { manifest, bytes: manifestBytes } = await readManifestFile(store, options.limits);
  const files = new Map<string, Uint8Array>();
  const hashes = new Map<string, string>();
  for (const [name, entry] of Object.entries(manifest.files)) {
    const bytes = await readPackageFile(store, name, options.limits);
    const actual = sha256Hex(bytes);
    if (actual !== entry.sha256) {
      throw new InvalidPackageError(name, `sha256 ${actual} does not match the manifest's ${entry.sha256}; the file was modified or corrupted`);
    }
    files.set(name, bytes);
    hashes.set(name, actual);
  }
  return { manifest, location: store.describe(''), files, digest: packageDigest(manifestBytes, hashes) };
}

/**
 * A package's manifest alone, validated, for readers that need no model file (the GPU path);
 * with `expected`, a manifest naming another model or version is refused.
 */
export async function readManifest(
  store: BlobStore,
  expected?: { readonly name: string; readonly version: string },
  options: PackageReadOptions = {},
): Promise<Manifest> {
  const { manifest } = await readManifestFile(store, options.limits);
  if (expected && (manifest.name !== expected.name || manifest.version !== expected.version)) {
    throw new InvalidPackageError(PackageFiles.manifest, `names ${manifest.name}@${manifest.version} but lies under ${expected.name}/${expected.version}`);
  }
  return manifest;
}

/** The manifest, validated, with the bytes it was parsed from (the package digest covers them as stored). */
async function readManifestFile(store: BlobStore, limits?: PackageLimits): Promise<{ manifest: Manifest; bytes: Uint8Array }> {
  const bytes = await readPackageFile(store, PackageFiles.manifest, limits);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new InvalidPackageError(PackageFiles.manifest, `not valid JSON (${(error as Error).message})`);
  }
  return { manifest: parseManifest(json), bytes };
}

/**
 * Reads one file of a package: the one way every package reader reads one. The name must be a
 * plain file name, and the store's object a regular file within its size limit, both checked
 * before a byte is read; otherwise a one-line InvalidPackageError names the file and why.
 */
export async function readPackageFile(store: BlobStore, name: string, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS): Promise<Uint8Array> {
  checkFileName(name);
  try {
    return await store.readChecked(name, (info) => checkPackageFile(name, info, limits));
  } catch (error) {
    if (error instanceof BlobNotFoundError) {
      throw new InvalidPackageError(name, `missing from the package at ${store.describe('')}`);
    }
    throw error;
  }
}

/** Refuses a name that is not a plain file name inside the package (the manifest schema's rule). */
function checkFileName(name: string): void {
  const problem = fileNameProblem(name);
  if (problem) throw new InvalidPackageError(quoteValue(name), problem);
}

const KIND_NAMES: Readonly<Record<Exclude<BlobInfo['kind'], 'file'>, string>> = {
  symlink: 'a symbolic link',
  directory: 'a folder',
  device: 'a device',
  other: 'a special file (FIFO or socket)',
};

/** Refuses what a package file must not be: anything but a regular file, or larger than its limit. */
export function checkPackageFile(name: string, info: BlobInfo, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS): void {
  if (info.kind !== 'file') throw new InvalidPackageError(name, `is ${KIND_NAMES[info.kind]}, not a regular file; a package holds only regular files`);
  const max = maxFileBytes(name, limits);
  if (info.bytes > max) {
    const size = Number.isFinite(info.bytes) ? `is ${info.bytes} bytes` : 'has an unknown size';
    throw new InvalidPackageError(name, `${size}, over the limit of ${max} bytes for ${name.endsWith('.onnx') ? 'a model' : 'a package file other than a model'}`);
  }
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
  // Checked before anything is written: a bad name must not place a file outside the package.
  for (const name of Object.keys(contents)) checkFileName(name);
  const fileEntries: Manifest['files'] = {};
  const files = new Map<string, Uint8Array>();
  const hashes = new Map<string, string>();
  for (const [name, body] of Object.entries(contents)) {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    await store.write(name, bytes);
    hashes.set(name, sha256Hex(bytes));
    fileEntries[name] = { sha256: hashes.get(name)!, bytes: bytes.byteLength };
    files.set(name, bytes);
  }
  const manifest = parseManifest({ ...draft, schemaVersion: MANIFEST_SCHEMA_VERSION, files: fileEntries });
  const manifestBytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  await store.write(PackageFiles.manifest, manifestBytes);
  return { manifest, location: store.describe(''), files, digest: packageDigest(manifestBytes, hashes) };
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
