import { rm, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { S3rverStore } from './s3rver-internals';

/** The files s3rver keeps for an object beside its body (`<name>._S3rver_<resource>`). */
const OBJECT_RESOURCES = ['object', 'object.md5', 'metadata.json', 'tagging.xml'];

/**
 * s3rver's deleteObject removes the folders a delete empties by listing each one (readdirSync) and
 * then removing it, which throws when a delete beside it in the same folder got there first: of 20
 * concurrent deletes in one folder, most answered 500 (and a retry then found nothing to delete, so
 * its ObjectRemoved event was lost). Here the folders are removed with rmdir alone, which removes
 * only an empty folder, atomically, and otherwise fails harmlessly; a put that creates a folder
 * copes with a delete removing it meanwhile (see writeAtomically). The object's tags go with it, as
 * on S3 (s3rver kept them for the next object of that key).
 */
export function concurrentDeletes(store: S3rverStore): void {
  store.deleteObject = async (bucket, key) => {
    await Promise.all(OBJECT_RESOURCES.map((resource) => rm(store.getResourcePath(bucket, key, resource), { force: true })));
    const bucketPath = store.getBucketPath(bucket);
    for (let folder = dirname(store.getResourcePath(bucket, key, 'object')); folder.startsWith(`${bucketPath}/`); folder = dirname(folder)) {
      try {
        await rmdir(folder);
      } catch (error) {
        const { code } = error as NodeJS.ErrnoException;
        // Still holds something (so do the folders above it); or another delete removed it already.
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
        if (code !== 'ENOENT') throw error;
      }
    }
  };
}
