import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addressOf } from './key-encoding';
import { type KoaMiddleware, S3Error, type S3rverStore, uploadsPath } from './s3rver-internals';

/**
 * s3rver's store makes a path of a bucket and a key by joining them onto its folder: a bucket
 * named `..` (or `%2e%2e`, or one holding an encoded `/`) and a key with `../` folders (`%2e%2e%2f`
 * alike, the router decodes them) read, write and delete files outside the store. Every path the
 * store makes of a name goes through these two functions, so they refuse such names before any
 * file is touched: a bucket must be one plain folder name, and a key's folders must not be `.` or
 * `..`. (S3 itself takes such keys, but a filesystem store cannot: `a/../b` would be the file of
 * `b`.) A last segment of `.` or `..` stays allowed; it names a file of its own (`.._S3rver_object`).
 */
export function confineStore(store: S3rverStore): void {
  const getBucketPath = store.getBucketPath.bind(store);
  const getResourcePath = store.getResourcePath.bind(store);
  store.getBucketPath = (bucket) => getBucketPath(confinedBucket(bucket));
  store.getResourcePath = (bucket, key, resource) => getResourcePath(confinedBucket(bucket), key === undefined ? key : confinedKey(key), resource);
}

function confinedBucket(bucket: string): string {
  if (bucket === '' || bucket === '.' || bucket === '..' || /[/\\\0]/.test(bucket)) {
    throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', { BucketName: bucket });
  }
  return bucket;
}

/** `key`, or a 400 InvalidArgument when the embedded S3 cannot keep it inside its bucket's folder. */
export function confinedKey(key: string): string {
  const folders = key.split('/').slice(0, -1);
  if (folders.some((folder) => folder === '.' || folder === '..') || key.includes('\0')) {
    throw new S3Error('InvalidArgument', "The embedded S3 stores keys as files and refuses a key with '.' or '..' folders, which would name a file outside its folder.", {
      ArgumentName: 'key',
      ArgumentValue: key,
    });
  }
  return key;
}

/** The upload ids s3rver issues (16 random bytes, hex), which name folders of the store. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

/**
 * UploadPart and CompleteMultipartUpload name a folder and a file with the uploadId and partNumber
 * of their query, which s3rver joins onto its uploads folder unchecked: an id of `../../x` wrote (or
 * on completion removed) a folder outside the store, and an unknown id made parts for an upload
 * nobody started. As on S3, an uploadId that is not an upload in progress of this bucket and key is
 * 404 NoSuchUpload, and a partNumber other than 1 to 10,000 is 400 InvalidArgument.
 */
export function confineUploads(store: S3rverStore): KoaMiddleware {
  return async (ctx, next) => {
    const { uploadId, partNumber } = ctx.query;
    if (uploadId === undefined) return next();
    const { bucket, key } = addressOf(ctx.path);
    if (!(await store.getBucket(bucket))) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    if (typeof uploadId !== 'string' || !UPLOAD_ID.test(uploadId) || (await keyOfUpload(store, bucket, uploadId)) !== key) {
      throw new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: String(uploadId) });
    }
    if (partNumber !== undefined && !(typeof partNumber === 'string' && /^\d{1,5}$/.test(partNumber) && Number(partNumber) >= 1 && Number(partNumber) <= 10_000)) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: String(partNumber) });
    }
    return next();
  };
}

/** The key an upload in progress was started for (s3rver writes it into the upload's folder), or null. */
async function keyOfUpload(store: S3rverStore, bucket: string, uploadId: string): Promise<string | null> {
  try {
    return await readFile(join(uploadsPath(store, bucket), uploadId, 'key'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
