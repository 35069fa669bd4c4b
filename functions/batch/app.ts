import type { S3Client } from '@aws-sdk/client-s3';
import type { BatchJobDependencies } from '../../core/batch/job';
import { InferenceEngine } from '../../core/model/engine';
import { ModelRepository } from '../../core/model/registry';
import { S3BatchStore } from '../shared/s3-batch-store';
import { S3BlobStore } from '../shared/s3-blob-store';

/** An object named in an S3 event: its bucket and its key, decoded. */
export interface S3ObjectRef {
  readonly bucket: string;
  readonly key: string;
}

interface S3NotificationBody {
  Records?: { s3?: { bucket?: { name?: string }; object?: { key?: string } } }[];
}

interface EventBridgeS3Body {
  source?: string;
  'detail-type'?: string;
  detail?: { bucket?: { name?: string }; object?: { key?: string } };
}

/**
 * Object keys named by a message body: an S3 event notification (`Records[].s3`) or an EventBridge
 * "Object Created" event from S3 (`detail.bucket.name`, `detail.object.key`), the shape the Batch
 * stack's rule delivers. Both URL-encode keys with spaces as '+'. Anything else names no object.
 */
export function keysOfS3Event(body: unknown): S3ObjectRef[] {
  if (typeof body !== 'object' || body === null) return [];
  const event = body as EventBridgeS3Body;
  if (event.source === 'aws.s3' && event['detail-type'] === 'Object Created') {
    const bucket = event.detail?.bucket?.name;
    const key = event.detail?.object?.key;
    return bucket && key ? [{ bucket, key: decodeS3EventKey(key) }] : [];
  }
  const records = (body as S3NotificationBody).Records ?? [];
  return records
    .filter((r) => r.s3?.bucket?.name && r.s3.object?.key)
    .map((r) => ({ bucket: r.s3!.bucket!.name!, key: decodeS3EventKey(r.s3!.object!.key!) }));
}

/** An object key as S3 events spell it (URL-encoded, spaces as '+') decoded to the real key. */
function decodeS3EventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** The job dependencies over S3: the same for the Lambda and the local batch watcher. */
export function createBatchApp(s3: S3Client, buckets: { models: string; data: string }, chunkRows?: number): BatchJobDependencies & { engine: InferenceEngine } {
  // Batch calls are already large: micro-batching would only add a hop. The session runs on a
  // worker thread so parsing the next chunk overlaps with scoring this one.
  const engine = new InferenceEngine(new ModelRepository(new S3BlobStore(s3, buckets.models)), { batching: false, worker: true });
  return {
    engine,
    store: new S3BatchStore(s3, buckets.data),
    scorerFor: (model, version) => engine.model(model, version),
    chunkRows,
  };
}
