import type { S3Client } from '@aws-sdk/client-s3';
import type { BatchJobDependencies } from '../../core/batch/job';
import { InferenceEngine } from '../../core/model/engine';
import { ModelRepository } from '../../core/model/registry';
import { S3BatchStore } from '../shared/s3-batch-store';
import { S3BlobStore } from '../shared/s3-blob-store';

/** Object keys named by an S3 event notification (URL-encoded, spaces as '+'). */
export function keysOfS3Event(body: unknown): { bucket: string; key: string }[] {
  const records = (body as { Records?: { s3?: { bucket?: { name?: string }; object?: { key?: string } } }[] }).Records ?? [];
  return records
    .filter((r) => r.s3?.bucket?.name && r.s3.object?.key)
    .map((r) => ({ bucket: r.s3!.bucket!.name!, key: decodeURIComponent(r.s3!.object!.key!.replace(/\+/g, ' ')) }));
}

/** The job dependencies over S3: the same for the Lambda and the local batch watcher. */
export function createBatchApp(s3: S3Client, buckets: { models: string; data: string }, chunkRows?: number): BatchJobDependencies & { engine: InferenceEngine } {
  // Batch calls are already large: micro-batching would only add a hop. The session runs on a
  // worker thread so parsing the next chunk overlaps with scoring this one.
  const engine = new InferenceEngine(new ModelRepository(new S3BlobStore(s3, buckets.models)), { batching: false, worker: true });
  return {
    engine,
    store: new S3BatchStore(s3, buckets.data),
    scorerFor: (model) => engine.model(model),
    chunkRows,
  };
}
