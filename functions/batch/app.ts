import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { fanOutDecision, type FanOutThreshold } from '../../core/batch/fan-out-decision';
import type { BatchJobDependencies } from '../../core/batch/job';
import { batchKeys } from '../../core/batch/layout';
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

/** The job dependencies over S3, and the engine that loads the models. */
export type BatchApp = BatchJobDependencies & { readonly engine: InferenceEngine; readonly servingVersion: (model: string) => Promise<string> };

/** The job dependencies over S3: the same for the Lambdas and the local batch watcher. */
export function createBatchApp(s3: S3Client, buckets: { models: string; data: string }, chunkRows?: number, lease: Pick<BatchJobDependencies, 'leaseMs' | 'owner' | 'holder' | 'holderIsGone'> = {}): BatchApp {
  // Batch calls are already large: micro-batching would only add a hop. The session runs on a
  // worker thread so parsing the next chunk overlaps with scoring this one.
  const engine = new InferenceEngine(new ModelRepository(new S3BlobStore(s3, buckets.models)), { batching: false, worker: true });
  return {
    engine,
    store: new S3BatchStore(s3, buckets.data),
    scorerFor: (model, version) => engine.model(model, version),
    // The registry alone: routing needs the version, not the loaded model.
    servingVersion: (model) => engine.repository.servingVersion(model),
    chunkRows,
    ...lease,
  };
}

/** Starts a state machine execution; false when one of that name exists already (a redelivered event). */
export type StartExecution = (name: string, input: FanOutExecutionInput) => Promise<boolean>;

/** The input of a fan-out execution: the object and the model version it was routed for. */
export interface FanOutExecutionInput {
  readonly key: string;
  readonly etag: string;
  readonly version: string;
}

/** Where an input went: scored here, or handed to the fan-out state machine. */
export type Route = { readonly route: 'inline'; readonly reason: string } | { readonly route: 'fan-out'; readonly reason: string; readonly execution: string; readonly started: boolean };

/**
 * Sends an input that the fan-out decision (core/batch/fan-out-decision.ts) splits to the fan-out
 * state machine, under an execution name derived from key, ETag and the serving model version:
 * Step Functions refuses a second execution of the same name, so a redelivered event cannot start
 * a second job.
 */
export async function routeBatchInput(
  key: string,
  app: Pick<BatchApp, 'store' | 'servingVersion'>,
  fanOut: (FanOutThreshold & { readonly start: StartExecution }) | undefined,
): Promise<Route> {
  if (!fanOut) return { route: 'inline', reason: 'fan-out is off' };
  let keys;
  try {
    keys = batchKeys(key);
  } catch {
    return { route: 'inline', reason: 'not a batch input' };
  }
  const head = await app.store.head(key);
  if (!head) return { route: 'inline', reason: 'the object no longer exists' };
  const decision = fanOutDecision(keys, head.size, fanOut);
  if (!decision.fanOut) return { route: 'inline', reason: decision.reason };
  let version: string;
  try {
    version = await app.servingVersion(keys.model);
  } catch {
    // The inline job writes the failed manifest that names the missing model.
    return { route: 'inline', reason: `model "${keys.model}" has no serving version` };
  }
  const execution = fanOutExecutionName(key, head.etag, version);
  const started = await fanOut.start(execution, { key, etag: head.etag, version });
  return { route: 'fan-out', reason: decision.reason, execution, started };
}

/** A Step Functions execution name (at most 80 of [A-Za-z0-9-_]) that is the same for the same key, ETag and version. */
export function fanOutExecutionName(key: string, etag: string, version: string): string {
  return `batch-${createHash('sha256').update(`${key}\n${etag}\n${version}`).digest('hex').slice(0, 64)}`;
}
