import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { listingKey } from './key-encoding';
import {
  DUMMY_ACCOUNT,
  type KoaContext,
  OBJECT_FILE_SUFFIX,
  S3Error,
  type S3rverStore,
  bucketController,
  decodeKeyPath,
  replaceController,
  uploadsPath,
} from './s3rver-internals';

/** Keys (and common prefixes) S3 answers at most in one page, whatever max-keys asks. */
const PAGE_LIMIT = 1000;
/** Objects whose metadata is read at once for a page (each read opens files). */
const METADATA_READS = 32;

/**
 * ListObjectsV2 and ListObjects (v1), answered by the embedded S3 itself. s3rver's listing made
 * continuation tokens with the DES cipher, which Node's OpenSSL 3 refuses, so every listing past
 * 1,000 keys failed; it also pruned folders in a way that lost common prefixes, sorted in UTF-16
 * order and ignored encoding-type. This one reads the keys from the store's files, sorts them by
 * their UTF-8 bytes as S3 does, and pages through keys and common prefixes alike.
 */
export function listObjects(): void {
  replaceController(bucketController, 'getBucket', () => async (ctx) => {
    const request = listRequest(ctx);
    const keys = await keysOf(ctx.store, request.bucket, request.prefix);
    const page = pageOf(keys, request);
    const objects = await metadataOf(ctx.store, request.bucket, page.keys);
    ctx.body = { ListBucketResult: listBucketResult(request, page, objects) };
  });
}

interface ListRequest {
  readonly bucket: string;
  readonly v2: boolean;
  readonly prefix: string;
  readonly delimiter: string;
  /** Keys and common prefixes up to this one (in UTF-8 byte order) are not listed: StartAfter, a continuation token's, or Marker. */
  readonly after: string | undefined;
  readonly maxKeys: number;
  readonly encode: (text: string) => string;
  readonly echo: Record<string, unknown>;
  readonly owner: boolean;
}

/** The listing a request asks for, with S3's refusals of what it does not accept. */
function listRequest(ctx: KoaContext): ListRequest {
  const query = (name: string) => [ctx.query[name]].flat()[0];
  const bucket = ctx.params.bucket!;
  const v2 = query('list-type') === '2';
  const encodingType = query('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') {
    throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: encodingType });
  }
  const encode = encodingType === 'url' ? listingKey : (text: string) => text;
  const maxKeysAsked = query('max-keys');
  if (maxKeysAsked !== undefined && !/^\d{1,10}$/.test(maxKeysAsked)) {
    throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: maxKeysAsked });
  }
  const common = {
    bucket,
    v2,
    prefix: query('prefix') ?? '',
    delimiter: query('delimiter') ?? '',
    maxKeys: Math.min(PAGE_LIMIT, Number(maxKeysAsked ?? PAGE_LIMIT)),
    encode,
    echo: { MaxKeys: maxKeysAsked ?? PAGE_LIMIT, EncodingType: encodingType },
  };
  if (v2) {
    if ('marker' in ctx.query) throw new S3Error('InvalidArgument', 'Marker unsupported with REST.GET.BUCKET in list-type=2', { ArgumentName: 'marker' });
    const token = query('continuation-token');
    const startAfter = query('start-after');
    return {
      ...common,
      after: token !== undefined ? afterToken(bucket, token) : startAfter,
      echo: { ...common.echo, StartAfter: startAfter === undefined ? undefined : encode(startAfter), ContinuationToken: token },
      owner: query('fetch-owner') === 'true',
    };
  }
  if ('continuation-token' in ctx.query) throw new S3Error('InvalidArgument', 'continuation-token only supported in REST.GET.BUCKET with list-type=2', { ArgumentName: 'continuation-token' });
  if ('start-after' in ctx.query) throw new S3Error('InvalidArgument', 'startAfter only supported in REST.GET.BUCKET with list-type=2', { ArgumentName: 'start-after' });
  const marker = query('marker');
  return { ...common, after: marker, echo: { ...common.echo, Marker: encode(marker ?? '') }, owner: true };
}

/**
 * A continuation token: opaque to clients, as S3's are (base64url, so it is safe in a query), and
 * bound to its bucket. It holds the last key or common prefix its page returned, so a listing goes
 * on from there even when the store changed in between, as S3's does.
 */
const tokenAfter = (bucket: string, last: string) => Buffer.from(JSON.stringify([bucket, last])).toString('base64url');

/** The key or prefix a token continues after; 400 InvalidArgument for a token this S3 did not issue (for this bucket). */
function afterToken(bucket: string, token: string): string {
  const refused = () => new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
  const bytes = Buffer.from(token, 'base64url');
  // Node's base64url decoding skips what is not base64url; only a token that re-encodes to itself was issued.
  if (bytes.toString('base64url') !== token) throw refused();
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw refused();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || parsed[0] !== bucket || typeof parsed[1] !== 'string') throw refused();
  return parsed[1] as string;
}

/** A key with its UTF-8 bytes, the order S3 lists in (UTF-16 order puts U+FF21 after U+1F600). */
interface SortedKey {
  readonly key: string;
  readonly bytes: Buffer;
}
const byUtf8 = (a: SortedKey, b: SortedKey) => Buffer.compare(a.bytes, b.bytes);

/**
 * Every key of the bucket that starts with `prefix`, in UTF-8 byte order. The store keeps a key as
 * folders for its segments and a file for its last one (`<segment>._S3rver_object`); folders that
 * cannot hold a key with the prefix are not read, nor s3rver's folder of uploads in progress.
 */
async function keysOf(store: S3rverStore, bucket: string, prefix: string): Promise<SortedKey[]> {
  const bucketPath = store.getBucketPath(bucket);
  const uploads = basename(uploadsPath(store, bucket));
  const keys: SortedKey[] = [];
  const walk = async (folders: readonly string[]): Promise<void> => {
    const entries = await readdir(join(bucketPath, ...folders), { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      // A folder removed since its parent was read (s3rver removes emptied folders) holds no keys.
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
      throw error;
    });
    await Promise.all(
      entries.map(async (entry) => {
        if (entry.isDirectory()) {
          const folderKey = decodeKeyPath([...folders, entry.name, ''].join('/'));
          const mayHoldPrefix = folderKey.startsWith(prefix) || prefix.startsWith(folderKey);
          if (mayHoldPrefix && !(folders.length === 0 && entry.name === uploads)) await walk([...folders, entry.name]);
        } else if (entry.isFile() && entry.name.endsWith(OBJECT_FILE_SUFFIX)) {
          const key = decodeKeyPath([...folders, entry.name.slice(0, -OBJECT_FILE_SUFFIX.length)].join('/'));
          if (key.startsWith(prefix)) keys.push({ key, bytes: Buffer.from(key) });
        }
      }),
    );
  };
  await walk([]);
  return keys.sort(byUtf8);
}

interface Page {
  readonly keys: readonly string[];
  readonly commonPrefixes: readonly string[];
  readonly truncated: boolean;
  /** The last key or common prefix of the page, where the next one goes on from. */
  readonly last: string | undefined;
}

/**
 * One page of a listing, as S3 makes it: the keys after `after`, those with the delimiter after the
 * prefix rolled up into one common prefix each (up to and including the delimiter), keys and
 * common prefixes counting alike toward maxKeys. A common prefix equal to `after` was the last
 * entry of the previous page and is not listed again, nor any key under it.
 */
function pageOf(keys: readonly SortedKey[], request: ListRequest): Page {
  const { prefix, delimiter, maxKeys } = request;
  const after = request.after === undefined ? undefined : Buffer.from(request.after);
  const listedKeys: string[] = [];
  const commonPrefixes: string[] = [];
  let last: string | undefined;
  let count = 0;
  for (let i = after === undefined ? 0 : firstAfter(keys, after); i < keys.length; i++) {
    const { key } = keys[i]!;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    const commonPrefix = cut === -1 ? undefined : key.slice(0, cut + delimiter.length);
    if (commonPrefix !== undefined) {
      // Keys sharing a prefix are adjacent in byte order: skip the rest of this one's.
      while (i + 1 < keys.length && keys[i + 1]!.key.startsWith(commonPrefix)) i++;
      if (commonPrefix === request.after) continue;
    }
    if (count === maxKeys) return { keys: listedKeys, commonPrefixes, truncated: maxKeys > 0, last };
    if (commonPrefix === undefined) listedKeys.push(key);
    else commonPrefixes.push(commonPrefix);
    last = commonPrefix ?? key;
    count++;
  }
  return { keys: listedKeys, commonPrefixes, truncated: false, last };
}

/** The index of the first key after `after` in byte order (binary search). */
function firstAfter(keys: readonly SortedKey[], after: Buffer): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (Buffer.compare(keys[middle]!.bytes, after) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

interface ListedObject {
  readonly key: string;
  readonly metadata: Awaited<ReturnType<S3rverStore['getMetadata']>>;
}

/** The listed keys' ETag, size and date; a key deleted since the walk is left out, as it would be on S3 a moment later. */
async function metadataOf(store: S3rverStore, bucket: string, keys: readonly string[]): Promise<ListedObject[]> {
  const objects: (ListedObject | undefined)[] = new Array(keys.length);
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < keys.length; i = next++) {
      const key = keys[i]!;
      objects[i] = await store.getMetadata(bucket, key).then(
        (metadata) => ({ key, metadata }),
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        },
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(METADATA_READS, keys.length) }, reader));
  return objects.filter((object) => object !== undefined);
}

/** The ListBucketResult element, in the form s3rver's XML answer middleware writes out (undefined members are left out). */
function listBucketResult(request: ListRequest, page: Page, objects: readonly ListedObject[]): Record<string, unknown> {
  const { encode } = request;
  const next = page.truncated ? page.last : undefined;
  return {
    '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
    Name: request.bucket,
    Prefix: encode(request.prefix),
    ...request.echo,
    ...(request.v2
      ? { NextContinuationToken: next === undefined ? undefined : tokenAfter(request.bucket, next), KeyCount: objects.length + page.commonPrefixes.length }
      : // S3 gives NextMarker only to listings with a delimiter; without one the last key is the marker.
        { NextMarker: next === undefined || !request.delimiter ? undefined : encode(next) }),
    Delimiter: request.delimiter ? encode(request.delimiter) : undefined,
    IsTruncated: page.truncated,
    Contents: objects.map(({ key, metadata }) => ({
      Key: encode(key),
      LastModified: new Date(metadata['last-modified']).toISOString(),
      ETag: metadata.etag,
      Size: metadata['content-length'],
      Owner: request.owner ? { ID: DUMMY_ACCOUNT.id, DisplayName: DUMMY_ACCOUNT.displayName } : undefined,
      StorageClass: 'STANDARD',
    })),
    CommonPrefixes: page.commonPrefixes.map((prefix) => ({ Prefix: encode(prefix) })),
  };
}
