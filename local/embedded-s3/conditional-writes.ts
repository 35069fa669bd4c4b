import { addressOf } from './key-encoding';
import { type KoaMiddleware, S3Error } from './s3rver-internals';

const PRECONDITION_FAILED = 'At least one of the pre-conditions you specified did not hold';

/**
 * S3's conditional writes: a PutObject or CompleteMultipartUpload with `If-None-Match: *` fails
 * with 412 PreconditionFailed when the key exists, and one with `If-Match: <ETag>` fails with 412
 * when the object has another ETag (404 NoSuchKey when there is none). s3rver 3.7 ignores both on
 * writes, and locks, version claims and the registry's read-modify-write rely on them, so they are
 * added here. Such writes to one key are serialized so that the check and the write are atomic, as
 * S3 guarantees.
 */
export function conditionalWrites(etagOf: (bucket: string, key: string) => Promise<string | null>): KoaMiddleware {
  const queues = new Map<string, Promise<void>>();
  return async (ctx, next) => {
    const write = (ctx.method === 'PUT' && !ctx.get('x-amz-copy-source')) || (ctx.method === 'POST' && 'uploadId' in ctx.query);
    const noneMatch = ctx.get('if-none-match');
    const match = ctx.get('if-match');
    if (!write || (noneMatch !== '*' && !match)) return next();
    const { bucket, key } = addressOf(ctx.path);
    const id = `${bucket}/${key}`;
    const previous = queues.get(id) ?? Promise.resolve();
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const queued = previous.then(() => turn);
    queues.set(id, queued);
    await previous;
    try {
      const etag = await etagOf(bucket, key);
      if (noneMatch === '*' && etag !== null) throw new S3Error('PreconditionFailed', PRECONDITION_FAILED, { Condition: 'If-None-Match' });
      if (match && etag === null) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
      if (match && etag !== match) throw new S3Error('PreconditionFailed', PRECONDITION_FAILED, { Condition: 'If-Match' });
      await next();
    } finally {
      release();
      if (queues.get(id) === queued) queues.delete(id);
    }
  };
}
