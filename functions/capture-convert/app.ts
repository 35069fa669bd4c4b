import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { captureBody, convertedCaptureKey, convertSageMakerCapture, type MalformedCaptureLine, parseRawCaptureKey } from '../../core/capture/sagemaker-capture';
import type { ManifestCache } from '../shared/manifests';

/** What converting one raw capture object came to. */
export type ConversionOutcome =
  | { readonly status: 'converted'; readonly rawKey: string; readonly key: string; readonly rows: number; readonly lines: number; readonly malformed: readonly MalformedCaptureLine[] }
  /** Every line was malformed (or the object was empty): nothing written. */
  | { readonly status: 'empty'; readonly rawKey: string; readonly lines: number; readonly malformed: readonly MalformedCaptureLine[] }
  /** Not a capture object of a configured GPU model: nothing to do, and retrying would not change that. */
  | { readonly status: 'skipped'; readonly rawKey: string; readonly reason: string };

/** What the converter needs; the handler builds it from the environment, tests over the embedded S3. */
export interface CaptureConvertDependencies {
  readonly s3: S3Client;
  readonly dataBucket: string;
  readonly manifests: ManifestCache;
  /** The package version each model's endpoint serves. */
  readonly versions: Readonly<Record<string, string>>;
}

/**
 * Converts one object SageMaker wrote under capture-raw/ into a capture object the drift monitor
 * reads (core/capture/sagemaker-capture.ts). The output key derives from the input key, so a
 * redelivered event rewrites the same object. Lines that cannot be converted are returned with
 * their reasons; the rest are written.
 */
export async function convertCaptureObject(deps: CaptureConvertDependencies, rawKey: string): Promise<ConversionOutcome> {
  const source = parseRawCaptureKey(rawKey);
  if (!source) return { status: 'skipped', rawKey, reason: 'not a SageMaker capture key capture-raw/<model>/<endpoint>/<variant>/YYYY/MM/DD/HH/<name>.jsonl' };
  const version = Object.hasOwn(deps.versions, source.model) ? deps.versions[source.model] : undefined;
  if (version === undefined) return { status: 'skipped', rawKey, reason: `model "${source.model}" is not served by a GPU endpoint` };

  const manifest = deps.manifests.get(source.model, version);
  const object = await deps.s3.send(new GetObjectCommand({ Bucket: deps.dataBucket, Key: rawKey }));
  const text = await object.Body!.transformToString('utf8');
  const converted = convertSageMakerCapture(text, await manifest);
  if (converted.records.length === 0) return { status: 'empty', rawKey, lines: converted.lines, malformed: converted.malformed };
  const outputKey = convertedCaptureKey(rawKey, source.model, version, object.LastModified ?? new Date(converted.records.at(-1)!.ts));
  await deps.s3.send(new PutObjectCommand({ Bucket: deps.dataBucket, Key: outputKey, Body: captureBody(converted.records), ContentType: 'application/x-ndjson' }));
  return { status: 'converted', rawKey, key: outputKey, rows: converted.records.length, lines: converted.lines, malformed: converted.malformed };
}

interface EventBridgeS3Event {
  readonly source?: string;
  readonly 'detail-type'?: string;
  readonly detail?: { readonly bucket?: { readonly name?: string }; readonly object?: { readonly key?: string } };
}

/**
 * The bucket and key of an EventBridge "Object Created" event from S3, the key decoded (S3
 * URL-encodes it, spaces as '+'); undefined for any other event.
 */
export function objectOfEvent(event: unknown): { bucket: string; key: string } | undefined {
  const e = (event ?? {}) as EventBridgeS3Event;
  const bucket = e.detail?.bucket?.name;
  const key = e.detail?.object?.key;
  if (e.source !== 'aws.s3' || e['detail-type'] !== 'Object Created' || !bucket || !key) return undefined;
  return { bucket, key: decodeURIComponent(key.replace(/\+/g, ' ')) };
}
